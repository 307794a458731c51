//! Names and declarations of the RabbitMQ objects behind one wasmboost queue `q`:
//!
//! | object | name | arguments |
//! |---|---|---|
//! | work queue | `q` | durable, `x-max-priority: 10` (classic) or `x-queue-type: quorum`, `x-dead-letter-exchange: wasmboost.dlx` |
//! | dead-letter exchange | `wasmboost.dlx` | direct, durable, shared by all queues |
//! | dead-letter queue | `wasmboost.q.dlq` | durable, bound to `wasmboost.dlx` with key `q` |
//! | delay buckets | `wasmboost.q.delay.<ms>` | durable, `x-message-ttl: <ms>`, dead-letter to `q` |
//!
//! No wasmboost queue can be named like one of these: the queue-name rule
//! (`wasmboost_policy::names`) reserves names starting with `wasmboost.` (and RabbitMQ's
//! `amq.`), and the internal names are distinct for distinct queues (a bucket name ends in
//! digits, a DLQ name in `.dlq`). So the names of layout 1 stay, and existing RabbitMQ queues
//! need no upgrade step.
//!
//! With `queue_type = "quorum"` every one of these queues is a quorum queue (the dead-letter queue
//! and the delay buckets too, so no message of the queue lives on one node only). RabbitMQ
//! refuses `x-max-priority` on quorum queues, so the work queue has none: RabbitMQ 3.x delivers in
//! publish order whatever the priority, 4.x orders two levels (`priority > 4` first). Quorum
//! queues count redeliveries: 3.x sets no limit, 4.x dead-letters a message returned more than 20
//! times (raise it with a RabbitMQ `delivery-limit` policy if hosts often drain with tasks held).
//!
//! Delay buckets hold 100 ms × 2^k (k = 0..=20, up to ~29 h). A message due in `d` waits in the
//! largest bucket not longer than `d`, expires into the work queue, and is routed on through the
//! next bucket by the consumer until it is due (at most one hop per set bit of `d / 100 ms`).

use lapin::options::{ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{Channel, ExchangeKind};

use crate::codec::long_string;
use crate::config::QueueType;

/// The dead-letter exchange every wasmboost queue shares.
pub(crate) const DLX: &str = "wasmboost.dlx";
/// Highest AMQP priority of the work queues (wasmboost priorities are 0..=9).
pub(crate) const MAX_PRIORITY_ARG: u8 = 10;
const BUCKET_BASE_MS: u64 = 100;
const BUCKETS: u32 = 21;
// A message due within this is delivered rather than delayed once more (the broker-wide bound).
pub(crate) use wasmboost_broker::DUE_SLACK_MS;

pub(crate) fn dlq(queue: &str) -> String {
    format!("wasmboost.{queue}.dlq")
}

fn bucket_ms(k: u32) -> u64 {
    BUCKET_BASE_MS << k
}

pub(crate) fn bucket_name(queue: &str, ms: u64) -> String {
    format!("wasmboost.{queue}.delay.{ms}")
}

pub(crate) fn all_buckets(queue: &str) -> impl Iterator<Item = String> + '_ {
    (0..BUCKETS).map(move |k| bucket_name(queue, bucket_ms(k)))
}

/// The bucket a message still `remaining_ms` from due waits in next, or `None` if it is due.
pub(crate) fn bucket_for(queue: &str, remaining_ms: u64) -> Option<String> {
    if remaining_ms <= DUE_SLACK_MS {
        return None;
    }
    let k = (0..BUCKETS)
        .rev()
        .find(|k| bucket_ms(*k) <= remaining_ms)
        .unwrap_or(0);
    Some(bucket_name(queue, bucket_ms(k)))
}

/// Arguments every queue of type `kind` carries (empty for classic queues).
fn type_args(kind: QueueType) -> FieldTable {
    let mut args = FieldTable::default();
    if kind == QueueType::Quorum {
        args.insert("x-queue-type".into(), long_string(kind.name()));
    }
    args
}

pub(crate) fn work_queue_args(queue: &str, kind: QueueType) -> FieldTable {
    let mut args = type_args(kind);
    if kind == QueueType::Classic {
        args.insert(
            "x-max-priority".into(),
            AMQPValue::ShortShortUInt(MAX_PRIORITY_ARG),
        );
    }
    args.insert("x-dead-letter-exchange".into(), long_string(DLX));
    args.insert("x-dead-letter-routing-key".into(), long_string(queue));
    args
}

fn bucket_args(queue: &str, ms: u64, kind: QueueType) -> FieldTable {
    let mut args = type_args(kind);
    args.insert(
        "x-message-ttl".into(),
        AMQPValue::LongLongInt(crate::codec::clamp_i64(ms)),
    );
    // The default exchange routes by queue name: expired messages land in the work queue.
    args.insert("x-dead-letter-exchange".into(), long_string(""));
    args.insert("x-dead-letter-routing-key".into(), long_string(queue));
    args
}

/// Declare everything behind `queue` (idempotent: same names, same arguments).
pub(crate) async fn declare(channel: &Channel, queue: &str, kind: QueueType) -> lapin::Result<()> {
    let durable = QueueDeclareOptions::durable();
    channel
        .exchange_declare(
            DLX.into(),
            ExchangeKind::Direct,
            ExchangeDeclareOptions {
                durable: true,
                ..ExchangeDeclareOptions::default()
            },
            FieldTable::default(),
        )
        .await?;
    channel
        .queue_declare(queue.into(), durable, work_queue_args(queue, kind))
        .await?;
    let dead = dlq(queue);
    channel
        .queue_declare(dead.as_str().into(), durable, type_args(kind))
        .await?;
    channel
        .queue_bind(
            dead.as_str().into(),
            DLX.into(),
            queue.into(),
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await?;
    for k in 0..BUCKETS {
        let ms = bucket_ms(k);
        let name = bucket_name(queue, ms);
        channel
            .queue_declare(name.as_str().into(), durable, bucket_args(queue, ms, kind))
            .await?;
    }
    Ok(())
}

/// How many messages `name` holds ready (not counting those handed out), without creating it.
pub(crate) async fn message_count(channel: &Channel, name: &str) -> lapin::Result<u64> {
    let passive = QueueDeclareOptions {
        passive: true,
        ..QueueDeclareOptions::default()
    };
    let q = channel
        .queue_declare(name.into(), passive, FieldTable::default())
        .await?;
    Ok(u64::from(q.message_count()))
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use wasmboost_broker::validate_queue_name;

    use super::*;

    /// Every internal name is refused as a queue name, and no two queues share one.
    #[test]
    fn internal_names_cannot_be_queue_names_or_collide() {
        let queues = [
            "x",
            "x.dlq",
            "x.delay.100",
            "a.b",
            "dlq",
            "delay",
            "x.dlq.dlq",
            "100",
        ];
        let mut seen = HashSet::new();
        for q in queues {
            assert_eq!(validate_queue_name(q), Ok(()), "{q}");
            for name in std::iter::once(dlq(q)).chain(all_buckets(q)) {
                let err = validate_queue_name(&name).expect_err(&name);
                assert_eq!(err.code(), "bad_queue_name");
                assert!(seen.insert(name.clone()), "{name} is used by two queues");
                assert!(!queues.contains(&name.as_str()));
            }
        }
        assert!(
            validate_queue_name(DLX).is_err(),
            "the exchange name is reserved too"
        );
    }

    #[test]
    fn buckets_pick_the_largest_that_fits() {
        assert_eq!(bucket_for("q", 10), None, "due now");
        assert_eq!(
            bucket_for("q", 50).as_deref(),
            Some("wasmboost.q.delay.100")
        );
        assert_eq!(
            bucket_for("q", 700).as_deref(),
            Some("wasmboost.q.delay.400")
        );
        assert_eq!(
            bucket_for("q", 800).as_deref(),
            Some("wasmboost.q.delay.800")
        );
        let top = bucket_name("q", bucket_ms(BUCKETS - 1));
        assert_eq!(bucket_for("q", u64::MAX).as_deref(), Some(top.as_str()));
    }
}

//! How a wasmboost message maps onto an AMQP message: the id is the `message_id` property, the
//! priority the `priority` property, and the host-owned counters travel in `x-wasmboost-*`
//! headers. A message from a foreign producer has none of them and reads as a first attempt.

use bytes::Bytes;
use lapin::BasicProperties;
use lapin::types::{AMQPValue, FieldTable, ShortString};
use wasmboost_broker::{DeadLetter, MAX_PRIORITY, Message, NewMessage, now_ms};

pub(crate) const H_ATTEMPT: &str = "x-wasmboost-attempt";
pub(crate) const H_REQUEUES: &str = "x-wasmboost-requeues";
pub(crate) const H_REDELIVERIES: &str = "x-wasmboost-redeliveries";
pub(crate) const H_NOT_BEFORE: &str = "x-wasmboost-not-before-ms";
pub(crate) const H_PUBLISHED: &str = "x-wasmboost-published-ms";
pub(crate) const H_REASON: &str = "x-wasmboost-reason";
pub(crate) const H_DEAD: &str = "x-wasmboost-dead-ms";

/// AMQP `delivery_mode` of a persistent message.
const PERSISTENT: u8 = 2;

/// A message as it travels through RabbitMQ: the delivered fields plus its due time.
#[derive(Debug, Clone)]
pub(crate) struct Envelope {
    pub message: Message,
    pub not_before_ms: Option<u64>,
}

impl Envelope {
    /// A fresh message as published through wasmboost.
    pub fn fresh(queue: &str, new: NewMessage) -> Envelope {
        Envelope {
            message: Message {
                id: new.id,
                queue: queue.to_owned(),
                body: new.body,
                priority: new.priority.min(MAX_PRIORITY),
                attempt: 1,
                requeues: 0,
                redeliveries: 0,
                published_ms: now_ms(),
            },
            not_before_ms: new.not_before_ms,
        }
    }

    /// The persistent AMQP properties carrying this envelope, plus `extra` headers.
    pub fn properties(&self, extra: &[(&str, AMQPValue)]) -> BasicProperties {
        let m = &self.message;
        let mut headers = FieldTable::default();
        let mut put = |k: &str, v: u64| {
            headers.insert(k.into(), AMQPValue::LongLongInt(clamp_i64(v)));
        };
        put(H_ATTEMPT, u64::from(m.attempt));
        put(H_REQUEUES, u64::from(m.requeues));
        put(H_REDELIVERIES, u64::from(m.redeliveries));
        put(H_PUBLISHED, m.published_ms);
        if let Some(due) = self.not_before_ms {
            put(H_NOT_BEFORE, due);
        }
        for (k, v) in extra {
            headers.insert((*k).into(), v.clone());
        }
        BasicProperties::default()
            .with_delivery_mode(PERSISTENT)
            .with_priority(m.priority)
            .with_message_id(m.id.as_str().into())
            .with_timestamp(m.published_ms / 1000)
            .with_headers(headers)
    }

    /// Decode a delivery from `queue`. `redelivered` (RabbitMQ handed it out before on a
    /// connection that died) counts one more redelivery.
    pub fn decode(
        queue: &str,
        properties: &BasicProperties,
        body: Vec<u8>,
        redelivered: bool,
    ) -> Envelope {
        let headers = properties.headers().as_ref();
        let num = |k: &str| headers.and_then(|h| header_u64(h, k));
        let small = |k: &str| num(k).map_or(0, |v| u32::try_from(v).unwrap_or(u32::MAX));
        let id = properties.message_id().as_ref().map_or_else(
            || format!("amqp-{}", uuid::Uuid::now_v7().simple()),
            |id| id.as_str().to_owned(),
        );
        let published_ms = num(H_PUBLISHED)
            .or_else(|| properties.timestamp().map(|s| s.saturating_mul(1000)))
            .unwrap_or_else(now_ms);
        Envelope {
            message: Message {
                id,
                queue: queue.to_owned(),
                body: Bytes::from(body),
                priority: properties.priority().unwrap_or(0).min(MAX_PRIORITY),
                attempt: small(H_ATTEMPT).max(1),
                requeues: small(H_REQUEUES),
                redeliveries: small(H_REDELIVERIES).saturating_add(u32::from(redelivered)),
                published_ms,
            },
            not_before_ms: num(H_NOT_BEFORE),
        }
    }
}

/// Decode a message of a dead-letter queue (`redelivered` there means only that a listing looked
/// at it, so it is ignored).
pub(crate) fn decode_dead(queue: &str, properties: &BasicProperties, body: Vec<u8>) -> DeadLetter {
    let envelope = Envelope::decode(queue, properties, body, false);
    let headers = properties.headers().as_ref();
    let reason = headers
        .and_then(|h| header_str(h, H_REASON))
        .or_else(|| headers.and_then(x_death_reason))
        .unwrap_or_else(|| "dead-lettered by rabbitmq".to_owned());
    let dead_ms = headers
        .and_then(|h| header_u64(h, H_DEAD))
        .unwrap_or(envelope.message.published_ms);
    DeadLetter {
        message: envelope.message,
        reason,
        dead_ms,
    }
}

/// The reason RabbitMQ itself recorded when it dead-lettered a message (a consumer rejected it,
/// a length limit dropped it).
fn x_death_reason(headers: &FieldTable) -> Option<String> {
    let AMQPValue::FieldArray(deaths) = headers.inner().get(&ShortString::from("x-death"))? else {
        return None;
    };
    let AMQPValue::FieldTable(first) = deaths.as_slice().first()? else {
        return None;
    };
    let reason = header_str(first, "reason")?;
    let from = header_str(first, "queue").unwrap_or_default();
    Some(format!("rabbitmq dead-lettered it from {from:?}: {reason}"))
}

pub(crate) fn header_u64(headers: &FieldTable, key: &str) -> Option<u64> {
    match headers.inner().get(&ShortString::from(key))? {
        AMQPValue::ShortShortUInt(v) => Some(u64::from(*v)),
        AMQPValue::ShortUInt(v) => Some(u64::from(*v)),
        AMQPValue::LongUInt(v) => Some(u64::from(*v)),
        AMQPValue::Timestamp(v) => Some(*v),
        AMQPValue::ShortShortInt(v) => u64::try_from(*v).ok(),
        AMQPValue::ShortInt(v) => u64::try_from(*v).ok(),
        AMQPValue::LongInt(v) => u64::try_from(*v).ok(),
        AMQPValue::LongLongInt(v) => u64::try_from(*v).ok(),
        AMQPValue::LongString(s) => std::str::from_utf8(s.as_bytes()).ok()?.parse().ok(),
        AMQPValue::ShortString(s) => s.as_str().parse().ok(),
        _ => None,
    }
}

fn header_str(headers: &FieldTable, key: &str) -> Option<String> {
    match headers.inner().get(&ShortString::from(key))? {
        AMQPValue::LongString(s) => Some(String::from_utf8_lossy(s.as_bytes()).into_owned()),
        AMQPValue::ShortString(s) => Some(s.as_str().to_owned()),
        _ => None,
    }
}

pub(crate) fn long_string(s: &str) -> AMQPValue {
    AMQPValue::LongString(s.into())
}

pub(crate) fn clamp_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

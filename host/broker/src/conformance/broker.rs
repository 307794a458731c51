//! Broker conformance tests. Each takes a broker and uses queues no other test uses. They panic
//! (fail) with a message naming what went wrong.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use super::{DEADLINE, MAX_EARLY, eventually, unique};
use crate::broker::{Broker, Delivery};
use crate::error::BrokerError;
use crate::message::{NewMessage, Settlement, ms_after};

/// Leases in the suite are short so expiry tests are quick.
const LEASE: Duration = Duration::from_millis(600);
const LONG_LEASE: Duration = Duration::from_secs(60);

fn msg(id: &str) -> NewMessage {
    NewMessage::new(id, format!("{{\"id\":\"{id}\"}}"))
}

async fn publish(broker: &Arc<dyn Broker>, queue: &str, messages: Vec<NewMessage>) {
    if let Err(e) = broker.publish(queue, messages).await {
        panic!("publish to {queue} failed: {e}");
    }
}

async fn fetch(broker: &Arc<dyn Broker>, queue: &str, max: usize, wait: Duration) -> Vec<Delivery> {
    match broker.fetch(queue, max, LONG_LEASE, wait).await {
        Ok(d) => d,
        Err(e) => panic!("fetch from {queue} failed: {e}"),
    }
}

/// Exactly one delivery, waiting up to the deadline for it.
async fn fetch_one(broker: &Arc<dyn Broker>, queue: &str) -> Delivery {
    let mut got = fetch(broker, queue, 1, DEADLINE).await;
    assert_eq!(got.len(), 1, "expected one message from {queue}");
    got.remove(0)
}

async fn settle(delivery: Delivery, settlement: Settlement) {
    let id = delivery.message().id.clone();
    if let Err(e) = delivery.settle(settlement.clone()).await {
        panic!("settling {id} with {settlement:?} failed: {e}");
    }
}

async fn assert_empty(broker: &Arc<dyn Broker>, queue: &str, why: &str) {
    let got = fetch(broker, queue, 10, Duration::ZERO).await;
    let ids: Vec<_> = got.iter().map(|d| d.message().id.clone()).collect();
    assert!(ids.is_empty(), "{why}: fetch returned {ids:?}");
}

pub async fn publish_fetch_ack(broker: Arc<dyn Broker>) {
    let q = unique("pfa");
    publish(&broker, &q, vec![msg("a"), msg("b"), msg("c")]).await;
    let counts = broker.counts(&q).await.expect("counts after publish");
    assert_eq!(counts.ready, 3, "three published: {counts:?}");
    let mut got = Vec::new();
    while got.len() < 3 {
        let batch = fetch(&broker, &q, 3, DEADLINE).await;
        assert!(!batch.is_empty(), "published messages must be fetched");
        got.extend(batch);
    }
    for d in &got {
        let m = d.message();
        assert_eq!(
            (m.queue.as_str(), m.attempt, m.requeues),
            (q.as_str(), 1, 0)
        );
        assert_eq!(m.body, format!("{{\"id\":\"{}\"}}", m.id).as_bytes());
    }
    let mut ids: Vec<_> = got.iter().map(|d| d.message().id.clone()).collect();
    ids.sort();
    assert_eq!(ids, ["a", "b", "c"]);
    assert_eq!(broker.counts(&q).await.expect("counts").leased, 3);
    for d in got {
        settle(d, Settlement::Ack).await;
    }
    assert_empty(&broker, &q, "acked messages are gone").await;
    let counts = broker.counts(&q).await.expect("counts after ack");
    assert_eq!((counts.ready, counts.leased, counts.delayed), (0, 0, 0));
}

pub async fn invalid_queue_is_rejected(broker: Arc<dyn Broker>) {
    // The rule of `wasmboost_policy::names`: bad characters, dot-only names and the reserved
    // prefixes of the host's own objects are refused by every broker, for every operation.
    for name in [
        "no spaces/or slashes",
        "",
        ".",
        "..",
        "a:b",
        "wasmboost.x.dlq",
        "amq.x",
    ] {
        let err = broker.publish(name, vec![msg("a")]).await;
        assert!(
            matches!(err, Err(BrokerError::InvalidQueue(_))),
            "invalid name {name:?} must be refused, got {err:?}"
        );
        let err = broker.fetch(name, 1, LEASE, Duration::ZERO).await;
        assert!(
            matches!(err, Err(BrokerError::InvalidQueue(_))),
            "fetch from invalid name {name:?} must be refused, got {err:?}"
        );
    }
}

pub async fn retry_with_delay(broker: Arc<dyn Broker>) {
    let q = unique("retry");
    publish(&broker, &q, vec![msg("r")]).await;
    let d = fetch_one(&broker, &q).await;
    let after = Duration::from_millis(700);
    let retried_at = Instant::now();
    settle(d, Settlement::Retry { after }).await;
    let counts = broker.counts(&q).await.expect("counts after retry");
    assert_eq!(
        (counts.delayed, counts.ready),
        (1, 0),
        "retry is delayed: {counts:?}"
    );
    assert_empty(&broker, &q, "a retried message is invisible until due").await;
    let d = fetch_one(&broker, &q).await;
    let waited = retried_at.elapsed();
    assert!(
        waited + MAX_EARLY >= after,
        "redelivered after only {waited:?} (due after {after:?})"
    );
    assert_eq!(
        (d.message().attempt, d.message().requeues),
        (2, 0),
        "retry counts an attempt"
    );
    settle(d, Settlement::Ack).await;
}

pub async fn requeue_keeps_attempt(broker: Arc<dyn Broker>) {
    let q = unique("requeue");
    publish(&broker, &q, vec![msg("r")]).await;
    let d = fetch_one(&broker, &q).await;
    settle(d, Settlement::Requeue).await;
    let d = fetch_one(&broker, &q).await;
    assert_eq!((d.message().attempt, d.message().requeues), (1, 1));
    settle(d, Settlement::Requeue).await;
    let d = fetch_one(&broker, &q).await;
    assert_eq!((d.message().attempt, d.message().requeues), (1, 2));
    settle(d, Settlement::Ack).await;
}

async fn dead_letter(broker: &Arc<dyn Broker>, q: &str, reason: &str) {
    let d = fetch_one(broker, q).await;
    let reason = reason.to_owned();
    settle(d, Settlement::DeadLetter { reason }).await;
}

async fn replay(broker: &Arc<dyn Broker>, q: &str, ids: Option<&[String]>) -> u64 {
    match broker.replay_dead_letters(q, ids).await {
        Ok(n) => n,
        Err(e) => panic!("replaying dead letters of {q} failed: {e}"),
    }
}

pub async fn dead_letter_list_replay_purge(broker: Arc<dyn Broker>) {
    let q = unique("dlq");
    publish(&broker, &q, vec![msg("first"), msg("second")]).await;
    // Retry once so the replay can show that it resets the attempt.
    let d = fetch_one(&broker, &q).await;
    settle(
        d,
        Settlement::Retry {
            after: Duration::ZERO,
        },
    )
    .await;
    dead_letter(&broker, &q, "reason one").await;
    dead_letter(&broker, &q, "reason two").await;
    assert_empty(&broker, &q, "dead letters are not delivered").await;
    let dead = broker
        .dead_letters(&q, 10)
        .await
        .expect("list dead letters");
    let reasons: Vec<_> = dead.iter().map(|d| d.reason.as_str()).collect();
    assert_eq!(reasons, ["reason one", "reason two"], "oldest first");
    assert_eq!(broker.counts(&q).await.expect("counts").dead, 2);
    let one = [dead[0].message.id.clone()];
    assert_eq!(replay(&broker, &q, Some(&one)).await, 1, "replay by id");
    let d = fetch_one(&broker, &q).await;
    let m = d.message();
    assert_eq!(
        (m.id.as_str(), m.attempt),
        (one[0].as_str(), 1),
        "replay resets attempt"
    );
    dead_letter_delivery(d, "again").await;
    assert_eq!(replay(&broker, &q, None).await, 2, "replay all");
    dead_letter(&broker, &q, "x").await;
    dead_letter(&broker, &q, "y").await;
    assert_eq!(broker.purge_dead_letters(&q).await.expect("purge"), 2);
    let left = broker.dead_letters(&q, 10).await.expect("list");
    assert!(left.is_empty(), "purged, yet listed: {left:?}");
    assert_eq!(broker.counts(&q).await.expect("counts").dead, 0);
    assert_empty(&broker, &q, "purged messages are gone").await;
}

async fn dead_letter_delivery(d: Delivery, reason: &str) {
    let reason = reason.to_owned();
    settle(d, Settlement::DeadLetter { reason }).await;
}

pub async fn lease_expiry_redelivers(broker: Arc<dyn Broker>) {
    let q = unique("lease");
    publish(&broker, &q, vec![msg("l")]).await;
    let first = broker.fetch(&q, 1, LEASE, DEADLINE).await.expect("fetch");
    assert_eq!(first.len(), 1);
    let leased_at = Instant::now();
    // The holder "dies": nothing settles or renews the first delivery.
    let again = fetch_one(&broker, &q).await;
    assert!(
        leased_at.elapsed() >= LEASE - Duration::from_millis(100),
        "lease ended too early"
    );
    let m = again.message();
    assert_eq!((m.id.as_str(), m.attempt, m.redeliveries), ("l", 1, 1));
    settle(again, Settlement::Ack).await;
    drop(first);
    assert_empty(&broker, &q, "acked after redelivery").await;
}

pub async fn renew_keeps_leased(broker: Arc<dyn Broker>) {
    let q = unique("renew");
    publish(&broker, &q, vec![msg("n")]).await;
    let mut got = broker.fetch(&q, 1, LEASE, DEADLINE).await.expect("fetch");
    let d = got.pop().expect("one message was published");
    // Renew at a third of the lease for three lease lengths: it must never come back.
    let until = Instant::now() + LEASE * 3;
    while Instant::now() < until {
        tokio::time::sleep(LEASE / 3).await;
        d.renew(LEASE).await.expect("renew a held lease");
        assert_empty(&broker, &q, "a renewed lease keeps the message").await;
    }
    assert_eq!(d.message().redeliveries, 0);
    settle(d, Settlement::Ack).await;
}

pub async fn priority_order(broker: Arc<dyn Broker>) {
    let q = unique("prio");
    let with = |id: &str, priority| NewMessage {
        priority,
        ..msg(id)
    };
    let batch = vec![
        with("p0", 0),
        with("p5a", 5),
        with("p9", 9),
        with("p5b", 5),
        with("p1", 1),
    ];
    publish(&broker, &q, batch).await;
    publish(&broker, &q, vec![with("p5c", 5)]).await;
    let mut order = Vec::new();
    for _ in 0..6 {
        let d = fetch_one(&broker, &q).await;
        order.push(d.message().id.clone());
        settle(d, Settlement::Ack).await;
    }
    assert_eq!(order, ["p9", "p5a", "p5b", "p5c", "p1", "p0"]);
}

pub async fn delayed_visibility(broker: Arc<dyn Broker>) {
    let q = unique("delay");
    // Long enough that a loaded machine (publish and the first fetch taking most of a second on
    // a networked broker) still fetches `now` while `later` waits.
    let delay = Duration::from_secs(2);
    let published_at = Instant::now();
    let due = NewMessage {
        not_before_ms: Some(ms_after(delay)),
        ..msg("later")
    };
    publish(&broker, &q, vec![due, msg("now")]).await;
    let d = fetch_one(&broker, &q).await;
    assert_eq!(
        d.message().id,
        "now",
        "the delayed message is not visible yet"
    );
    settle(d, Settlement::Ack).await;
    assert_eq!(broker.counts(&q).await.expect("counts").delayed, 1);
    assert_empty(&broker, &q, "delayed until due").await;
    let d = fetch_one(&broker, &q).await;
    let waited = published_at.elapsed();
    assert!(
        waited + MAX_EARLY >= delay,
        "visible after only {waited:?} (due after {delay:?})"
    );
    assert_eq!(d.message().id, "later");
    settle(d, Settlement::Ack).await;
}

pub async fn batch_publish_1000(broker: Arc<dyn Broker>) {
    let q = unique("batch");
    let batch: Vec<_> = (0..1000).map(|i| msg(&format!("m{i}"))).collect();
    publish(&broker, &q, batch).await;
    let counts = broker.counts(&q).await.expect("counts");
    assert_eq!(counts.ready, 1000, "{counts:?}");
    let mut seen = HashSet::new();
    while seen.len() < 1000 {
        let got = fetch(&broker, &q, 100, DEADLINE).await;
        assert!(!got.is_empty(), "only {} of 1000 fetched", seen.len());
        for d in got {
            assert!(
                seen.insert(d.message().id.clone()),
                "{} twice",
                d.message().id
            );
            settle(d, Settlement::Ack).await;
        }
    }
    assert_empty(&broker, &q, "all 1000 acked").await;
}

pub async fn concurrent_consumers_disjoint(broker: Arc<dyn Broker>) {
    let q = unique("conc");
    let total = 400;
    publish(
        &broker,
        &q,
        (0..total).map(|i| msg(&format!("m{i}"))).collect(),
    )
    .await;
    let consumers: Vec<_> = (0..4)
        .map(|_| {
            let (broker, q) = (Arc::clone(&broker), q.clone());
            tokio::spawn(async move {
                let mut mine = Vec::new();
                loop {
                    let got = fetch(&broker, &q, 7, Duration::from_millis(300)).await;
                    if got.is_empty() {
                        return mine;
                    }
                    for d in got {
                        mine.push(d.message().id.clone());
                        settle(d, Settlement::Ack).await;
                    }
                }
            })
        })
        .collect();
    let mut seen = HashSet::new();
    for consumer in consumers {
        for id in consumer.await.expect("consumer task panicked") {
            assert!(seen.insert(id.clone()), "{id} delivered to two consumers");
        }
    }
    assert_eq!(seen.len(), total, "every message delivered once");
}

pub async fn fetch_wait_wakes_on_publish(broker: Arc<dyn Broker>) {
    let q = unique("wake");
    let waiter = {
        let (broker, q) = (Arc::clone(&broker), q.clone());
        tokio::spawn(async move { fetch(&broker, &q, 1, Duration::from_secs(30)).await })
    };
    // Let the fetch start waiting (it must return promptly whether or not it had started).
    tokio::time::sleep(Duration::from_millis(200)).await;
    let published_at = Instant::now();
    publish(&broker, &q, vec![msg("w")]).await;
    let got = waiter.await.expect("fetch task panicked");
    let took = published_at.elapsed();
    assert_eq!(got.len(), 1, "the waiting fetch gets the message");
    assert!(
        took < Duration::from_secs(3),
        "fetch(wait) returned {took:?} after the publish"
    );
    for d in got {
        settle(d, Settlement::Ack).await;
    }
    eventually("counts show nothing left", || async {
        broker
            .counts(&q)
            .await
            .is_ok_and(|c| c.ready + c.leased == 0)
    })
    .await;
}

/// Fetch with [`LEASE`], let the lease end, and wait for the redelivery (held with a long lease).
async fn lose_lease(broker: &Arc<dyn Broker>, q: &str, id: &str) -> (Delivery, Delivery) {
    publish(broker, q, vec![msg(id)]).await;
    let mut first = broker.fetch(q, 1, LEASE, DEADLINE).await.expect("fetch");
    let first = first.pop().expect("one message was published");
    let again = fetch_one(broker, q).await;
    assert_eq!(again.message().id, id, "the redelivery is the same message");
    (first, again)
}

fn assert_lease_lost(result: Result<(), BrokerError>, what: &str) {
    assert!(
        matches!(result, Err(BrokerError::LeaseLost { .. })),
        "{what} after the message was delivered again must fail with LeaseLost, got {result:?}"
    );
}

/// The late-settle rule of `Lease`: once the message was handed out again, the old holder's
/// settle fails with `LeaseLost` and changes nothing.
pub async fn late_settle_is_lease_lost(broker: Arc<dyn Broker>) {
    let q = unique("late");
    // A late ack must not remove the message the new holder runs.
    let (old, new) = lose_lease(&broker, &q, "a").await;
    assert_lease_lost(old.settle(Settlement::Ack).await, "a late ack");
    new.renew(LONG_LEASE)
        .await
        .expect("the new holder still holds the message after a late ack");
    assert_eq!(broker.counts(&q).await.expect("counts").leased, 1);
    // A late retry must not put a second copy back.
    let (old_b, new_b) = lose_lease(&broker, &q, "b").await;
    let zero = Duration::ZERO;
    assert_lease_lost(
        old_b.settle(Settlement::Retry { after: zero }).await,
        "a late retry",
    );
    // A late dead-letter must not move the message anywhere.
    let (old_c, new_c) = lose_lease(&broker, &q, "c").await;
    let reason = "late".to_owned();
    assert_lease_lost(
        old_c.settle(Settlement::DeadLetter { reason }).await,
        "a late dead-letter",
    );
    assert_empty(&broker, &q, "a late settle made no second copy").await;
    let dead = broker
        .dead_letters(&q, 10)
        .await
        .expect("list dead letters");
    assert!(dead.is_empty(), "a late dead-letter moved it: {dead:?}");
    for d in [new, new_b, new_c] {
        settle(d, Settlement::Ack).await;
    }
    let counts = broker.counts(&q).await.expect("counts");
    assert_eq!(
        (counts.ready, counts.delayed, counts.leased, counts.dead),
        (0, 0, 0, 0),
        "the new holders' acks removed everything: {counts:?}"
    );
}

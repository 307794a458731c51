//! Helpers: a raw lapin connection, fetching with retries across reconnects.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use lapin::{Channel, Connection, ConnectionProperties};
use tokio::time::Instant;
use wasmboost_broker::{Broker, BrokerError, Delivery, Message, Settlement};

/// Generous: the machine running the tests may be loaded.
pub const DEADLINE: Duration = Duration::from_secs(30);

pub fn unique(what: &str) -> String {
    format!("t-{what}-{}", uuid::Uuid::now_v7().simple())
}

/// A raw AMQP channel, as a foreign producer would use.
pub async fn raw_channel(url: &str) -> (Connection, Channel) {
    let conn = Connection::connect(url, ConnectionProperties::default())
        .await
        .expect("raw amqp connection to the test node");
    let channel = conn.create_channel().await.expect("raw channel");
    (conn, channel)
}

/// Fetch and ack until `want` distinct ids were seen or the deadline passes, tolerating transient
/// errors (reconnects). Returns every message seen, by id, with how often it came.
pub async fn drain(
    broker: &Arc<dyn Broker>,
    queue: &str,
    want: usize,
) -> HashMap<String, (Message, usize)> {
    drain_until(broker, queue, |seen| seen.len() >= want).await
}

/// Like [`drain`], until every id of `want` was seen.
pub async fn drain_ids(
    broker: &Arc<dyn Broker>,
    queue: &str,
    want: &HashSet<String>,
) -> HashMap<String, (Message, usize)> {
    drain_until(broker, queue, |seen| {
        want.iter().all(|id| seen.contains_key(id))
    })
    .await
}

type Seen = HashMap<String, (Message, usize)>;

async fn drain_until(broker: &Arc<dyn Broker>, queue: &str, done: impl Fn(&Seen) -> bool) -> Seen {
    let deadline = Instant::now() + DEADLINE;
    let mut seen = Seen::new();
    while !done(&seen) {
        assert!(
            Instant::now() < deadline,
            "timed out draining {queue}: fetched {} distinct ids",
            seen.len()
        );
        let got = match broker
            .fetch(
                queue,
                64,
                Duration::from_secs(60),
                Duration::from_millis(500),
            )
            .await
        {
            Ok(got) => got,
            Err(e) if e.is_transient() => {
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
            Err(e) => panic!("fetch from {queue}: {e}"),
        };
        for d in got {
            record(&mut seen, &d);
            // A failed ack (the channel died) means a redelivery, which `seen` absorbs.
            let settle = tokio::time::timeout(Duration::from_secs(10), d.settle(Settlement::Ack));
            let _ = settle.await.expect("settle hung");
        }
    }
    seen
}

fn record(seen: &mut HashMap<String, (Message, usize)>, d: &Delivery) {
    let m = d.message();
    seen.entry(m.id.clone())
        .and_modify(|e| e.1 += 1)
        .or_insert_with(|| (m.clone(), 1));
}

/// Publish with retries on transient errors (a reconnect in progress).
pub async fn publish_retrying(
    broker: &Arc<dyn Broker>,
    queue: &str,
    messages: Vec<wasmboost_broker::NewMessage>,
) -> Result<(), BrokerError> {
    let deadline = Instant::now() + DEADLINE;
    loop {
        match broker.publish(queue, messages.clone()).await {
            Err(e) if e.is_transient() && Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            other => return other,
        }
    }
}

//! Redis Sentinel (`redis+sentinel://`): a master, a replica and three sentinels; the master is
//! killed (`kill -9`) while a producer publishes with `wait_replicas = 1` and a consumer drains.
//! The sentinels promote the replica, the broker finds the new master by itself, and every
//! message whose publish was acknowledged is delivered. With one replica, the promoted master
//! has none left: publishes are refused (not acknowledged) until the old master is back and the
//! sentinels have made it a replica of the new one, as an operator's restart would.

#[path = "support/server.rs"]
#[allow(
    dead_code,
    reason = "shared by several test binaries, each using part of it"
)]
mod server;

#[path = "support/sentinel.rs"]
#[allow(
    dead_code,
    reason = "shared by several test binaries, each using part of it"
)]
mod sentinel;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sentinel::RedisSentinels;
use tokio::time::Instant;
use wasmboost_broker::{Broker, NewMessage, Settlement};
use wasmboost_broker_redis::{RedisBroker, RedisConfig};

const QUEUE: &str = "failover";
/// Acknowledged publishes before the kill, and again after it (on the new master).
const BEFORE: usize = 150;
const AFTER: usize = 150;
const DEADLINE: Duration = Duration::from_secs(30);

async fn broker(url: &str) -> RedisBroker {
    let config = RedisConfig {
        wait_replicas: 1,
        wait_timeout_ms: 500,
        response_timeout_ms: 1_000,
        connect_timeout_ms: 500,
        max_reconnect_delay_ms: 200,
        reclaim_interval_ms: 100,
        ..RedisConfig::with_url(url)
    };
    RedisBroker::connect(config)
        .await
        .expect("connect through the sentinels")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_master_loses_no_acknowledged_publish() {
    let mut deployment = RedisSentinels::start();
    let url = deployment.url();
    let old_port = deployment.master.port();
    let producer = broker(&url).await;
    let consumer = Arc::new(broker(&url).await);
    let seen = Arc::new(Mutex::new(HashSet::new()));
    let drain = tokio::spawn(consume(Arc::clone(&consumer), Arc::clone(&seen)));

    let mut acked = Vec::new();
    let mut next = 0u32;
    let deadline = Instant::now() + DEADLINE;
    let (mut killed, mut restarted, mut refused) = (false, false, 0);
    let mut last_error = String::new();
    while acked.len() < BEFORE + AFTER {
        assert!(
            Instant::now() < deadline,
            "only {} publishes acknowledged (killed: {killed}, restarted: {restarted}): {last_error}",
            acked.len()
        );
        if !killed && acked.len() >= BEFORE {
            deployment.master.kill();
            killed = true;
        }
        if killed && !restarted && deployment.master_port() == Some(deployment.replica.port()) {
            // The old master comes back; the sentinels turn it into the new master's replica.
            deployment.restart_old_master();
            restarted = true;
        }
        next += 1;
        let id = format!("t{next}");
        let message = NewMessage::new(id.clone(), format!("{{\"n\":{next}}}"));
        match producer.publish(QUEUE, vec![message]).await {
            Ok(()) => acked.push(id),
            // Refused while there is no master (or no replica confirmed it): not acknowledged.
            Err(e) => {
                assert!(e.is_transient(), "a failover error is transient: {e}");
                last_error = e.to_string();
                refused += 1;
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }
    assert!(
        refused > 0,
        "publishes were refused while there was no replica"
    );
    let new_port = deployment.master_port();
    assert_eq!(
        new_port,
        Some(deployment.replica.port()),
        "the replica was promoted (old master {old_port})"
    );
    loop {
        let missing: Vec<String> = {
            let seen = seen.lock().expect("seen ids");
            acked
                .iter()
                .filter(|id| !seen.contains(*id))
                .cloned()
                .collect()
        };
        if missing.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline + DEADLINE,
            "{} acknowledged publishes never delivered, e.g. {:?}",
            missing.len(),
            &missing[..missing.len().min(5)]
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    drain.abort();
}

/// Fetch and ack forever, recording every delivered id; errors (no master yet) are retried.
async fn consume(broker: Arc<RedisBroker>, seen: Arc<Mutex<HashSet<String>>>) {
    loop {
        match broker
            .fetch(
                QUEUE,
                50,
                Duration::from_secs(2),
                Duration::from_millis(200),
            )
            .await
        {
            Ok(batch) => {
                for delivery in batch {
                    if let Ok(mut seen) = seen.lock() {
                        seen.insert(delivery.message().id.clone());
                    }
                    let _ = delivery.settle(Settlement::Ack).await;
                }
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    }
}

//! redis-server restarted (AOF with `appendfsync always`) while two hosts run tasks and a client
//! keeps publishing: the hosts reconnect by themselves, publishing works again, and every task
//! whose publish was acknowledged completes.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use wasmboost_tests::guests;
use wasmboost_tests::host::HostProcess;
use wasmboost_tests::redis::{Persistence, RedisServer};

use super::support::{
    LONG, config, deploy, logs, poll, start_hosts, terminal_records, try_publish_batch,
    wait_drained, wait_version,
};

/// Messages per publish call of the client.
const BATCH: usize = 20;
/// Acknowledged messages before the restart, and again after it.
const PHASE: usize = 300;

/// What the publishing client saw.
#[derive(Default)]
struct Published {
    acked: Vec<String>,
    refused: usize,
}

#[test]
fn redis_restart_mid_run_loses_nothing_acknowledged() {
    let mut redis = RedisServer::start_with(Persistence::AofAlways);
    let hosts = start_hosts(
        2,
        &config(
            &redis,
            "[queues.sleepy]\nconcurrency = 20\nlease = \"3s\"\n",
        ),
    );
    let all: Vec<_> = hosts.iter().collect();
    deploy(&hosts[0], "sleepy", &guests::guest_bytes("sleep"));
    wait_version(&all, "sleepy", 1);

    let published = Arc::new(Mutex::new(Published::default()));
    let stop = Arc::new(AtomicBool::new(false));
    std::thread::scope(|s| {
        s.spawn(|| publish_until(&hosts[1], &published, &stop));
        let acked = || published.lock().map_or(0, |p| p.acked.len());
        poll(
            "acknowledged publishes",
            LONG,
            || logs(&all),
            || (acked() >= PHASE).then_some(()),
        );
        redis.restart();
        let before = acked();
        poll(
            "publishing to work again after the restart",
            LONG,
            || logs(&all),
            || (acked() >= before + PHASE).then_some(()),
        );
        stop.store(true, Ordering::Release);
    });

    let published = published.lock().expect("the client thread ended");
    let total = published.acked.len();
    let records = terminal_records(&redis, &all, &published.acked);
    for record in &records {
        assert_eq!(record["state"], "succeeded", "{record}\n{}", logs(&all));
    }
    wait_drained(&all, "sleepy", 0);
    eprintln!(
        "redis restart: {total} acknowledged, {} refused during the outage, all succeeded",
        published.refused
    );
}

/// Publish batches of short tasks through `host` until told to stop; remember what was
/// acknowledged (a refused batch, while Redis is down, is the client's to retry).
fn publish_until(host: &HostProcess, published: &Mutex<Published>, stop: &AtomicBool) {
    let bodies = vec![r#"{"ms":20}"#.to_owned(); BATCH];
    while !stop.load(Ordering::Acquire) {
        let result = try_publish_batch(host, "sleepy", &bodies);
        let mut p = published.lock().unwrap_or_else(|e| e.into_inner());
        match result {
            Ok(ids) => p.acked.extend(ids),
            Err(_) => p.refused += 1,
        }
        drop(p);
        std::thread::sleep(Duration::from_millis(20));
    }
}

//! A queue's `qps` is one rate over every host sharing a networked broker's state store (its
//! token bucket lives in the store, not in each host), checked the same way per broker: three
//! hosts drain one queue whose rate is the only limit, and the starts in a 10 s window are the
//! rate ±5 %, spread over more than one host. (Redis: `redis::shared`.)

use serde_json::json;
use wasmboost_tests::api::{deploy, publish_batch, ran_here, record_in, start_hosts};
use wasmboost_tests::nats::NatsServer;
use wasmboost_tests::postgres::PostgresServer;

/// The global limit under test and the window it is measured over.
const QPS: f64 = 30.0;
const WINDOW_MS: u64 = 10_000;

/// Three hosts on `broker` (a `[broker]` table) drain a rate-limited queue at one rate.
fn one_rate_over_three_hosts(broker: &str) {
    let queue = "rate";
    let config = format!("{broker}\n[queues.{queue}]\nqps = {QPS}\nconcurrency = 50\n");
    let hosts = start_hosts(3, &config);
    deploy(&hosts[0], queue, "sleep");
    // Enough for the whole window and then some, so the rate is the only limit.
    let tasks = (QPS * 12.0) as usize;
    let ids = publish_batch(&hosts[1], queue, &vec![json!({"ms": 10}); tasks]);
    let mut starts: Vec<u64> = ids
        .iter()
        .map(|id| {
            let record = record_in(&hosts[2], id, "succeeded");
            record["started_ms"].as_u64().expect("a start time")
        })
        .collect();
    starts.sort_unstable();
    let t0 = starts[0];
    let in_window = starts.iter().filter(|&&s| s < t0 + WINDOW_MS).count();
    let expected = QPS * WINDOW_MS as f64 / 1000.0;
    let (low, high) = ((expected * 0.95) as usize, (expected * 1.05) as usize);
    assert!(
        (low..=high).contains(&in_window),
        "{QPS}/s over {WINDOW_MS} ms on 3 hosts: {in_window} starts, want {low}..={high}"
    );
    let per_host: Vec<u64> = hosts.iter().map(|h| ran_here(h, queue)).collect();
    assert!(
        per_host.iter().filter(|&&n| n > 0).count() >= 2,
        "the rate is shared, not one host's: {per_host:?}"
    );
    eprintln!("global qps: {in_window} starts in {WINDOW_MS} ms, per host {per_host:?}");
}

#[test]
fn nats_qps_is_one_global_rate_over_three_hosts() {
    let server = NatsServer::start();
    one_rate_over_three_hosts(&format!(
        "[broker]\ntype = \"nats\"\nurl = {:?}\n",
        server.url()
    ));
}

#[test]
fn postgres_qps_is_one_global_rate_over_three_hosts() {
    let server = PostgresServer::start();
    one_rate_over_three_hosts(&format!(
        "[broker]\ntype = \"postgres\"\nurl = {:?}\n",
        server.url()
    ));
}

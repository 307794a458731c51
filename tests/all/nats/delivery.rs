//! Delivery policies on NATS through the host: poison → `max_retries + 1` attempts → the DLQ
//! stream with the reason → replay; a delayed task on time; priority order.

use serde_json::json;
use wasmboost_tests::api::{LONG, cli_json, deploy, poll, publish, record, record_in};
use wasmboost_tests::nats::NatsServer;

use super::start;

#[test]
fn poison_takes_max_retries_plus_one_attempts_is_dead_lettered_and_replays() {
    let server = NatsServer::start();
    let queue = "nats_poison";
    let extra = format!(
        "[queues.{queue}]\nmax_retries = 2\nbackoff = {{ base = \"100ms\", max = \"200ms\" }}\n"
    );
    let mut host = start(&server, &extra);
    deploy(&host, queue, "flaky");
    let id = publish(&host, queue, "", &json!({"mode": "retry"}));
    let first = record_in(&host, &id, "dead_lettered");
    assert_eq!(first["attempts"], 3, "max_retries + 1 attempts: {first}");
    let listed = cli_json(&host, &["dlq", "list", queue]);
    let listed = listed.as_array().expect("a list");
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert!(
        listed[0].to_string().contains("3 attempts"),
        "the dead letter has the reason: {listed:?}"
    );
    let replayed = cli_json(&host, &["dlq", "replay", queue]);
    assert_eq!(replayed["replayed"], 1, "{replayed}");
    let again = poll("the replayed task to end again", &host, LONG, || {
        record(&host, &id).filter(|r| {
            r["state"] == "dead_lettered"
                && r["finished_ms"].as_u64() > first["finished_ms"].as_u64()
        })
    });
    assert_eq!(
        again["attempts"], 3,
        "a replay starts the attempts again: {again}"
    );
    let status = host.stop();
    assert!(status.success(), "graceful stop exits 0: {status:?}");
}

#[test]
fn delayed_task_runs_on_time() {
    const COUNTDOWN_MS: i64 = 3000;
    let server = NatsServer::start();
    let queue = "nats_delay";
    let mut host = start(&server, "");
    deploy(&host, queue, "echo_v1");
    let id = publish(&host, queue, "?countdown=3s", &json!({"x": 1}));
    let r = record_in(&host, &id, "succeeded");
    let published = r["published_ms"].as_i64().expect("published_ms");
    let started = r["started_ms"].as_i64().expect("started_ms");
    let late = started - (published + COUNTDOWN_MS);
    assert!(
        (-1000..=1000).contains(&late),
        "ran {late} ms from its due time: {r}"
    );
    assert!(late >= -5, "never early: {late} ms");
    let status = host.stop();
    assert!(status.success(), "graceful stop exits 0: {status:?}");
}

#[test]
fn higher_priority_runs_first() {
    let server = NatsServer::start();
    let queue = "nats_prio";
    let mut host = start(&server, &format!("[queues.{queue}]\nconcurrency = 1\n"));
    // Paused while publishing, so all three wait and run in priority order.
    let out = host.cli(["pause", queue]);
    assert!(out.status.success(), "pause: {out:?}");
    deploy(&host, queue, "echo_v1");
    let low = publish(&host, queue, "?priority=0", &json!({"x": 0}));
    let high = publish(&host, queue, "?priority=9", &json!({"x": 9}));
    let mid = publish(&host, queue, "?priority=5", &json!({"x": 5}));
    let out = host.cli(["resume", queue]);
    assert!(out.status.success(), "resume: {out:?}");
    let started = |id: &str| record_in(&host, id, "succeeded")["started_ms"].as_u64();
    let (h, m, l) = (started(&high), started(&mid), started(&low));
    assert!(h <= m && m <= l, "9, 5, 0 in that order: {h:?} {m:?} {l:?}");
    let status = host.stop();
    assert!(status.success(), "graceful stop exits 0: {status:?}");
}

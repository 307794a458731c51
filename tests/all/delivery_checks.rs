//! The host-level delivery checks every networked broker passes the same way, each called by
//! the broker's own `delivery` tests on a host it started: poison → `max_retries + 1`
//! attempts → dead-lettered with the reason → replay; a delayed task on time (±1 s, never
//! early); priority order. A broker adds its own look at where it keeps dead letters.

use serde_json::json;
use wasmboost_tests::api::{LONG, cli_json, deploy, poll, publish, record, record_in};
use wasmboost_tests::host::HostProcess;

/// The queue settings of [`poison_dead_letters_and_replays`]: two retries, short backoff.
pub fn poison_config(queue: &str) -> String {
    format!(
        "[queues.{queue}]\nmax_retries = 2\nbackoff = {{ base = \"100ms\", max = \"200ms\" }}\n"
    )
}

/// The queue settings of [`higher_priority_runs_first`]: one task at a time.
pub fn priority_config(queue: &str) -> String {
    format!("[queues.{queue}]\nconcurrency = 1\n")
}

/// A task that always asks for a retry takes 3 attempts, is dead-lettered with the reason
/// (`stored` then checks the broker's own copy), listed, and a replay runs it 3 times again.
pub fn poison_dead_letters_and_replays(host: &mut HostProcess, queue: &str, stored: impl FnOnce()) {
    deploy(host, queue, "flaky");
    let id = publish(host, queue, "", &json!({"mode": "retry"}));
    let first = record_in(host, &id, "dead_lettered");
    assert_eq!(first["attempts"], 3, "max_retries + 1 attempts: {first}");
    stored();
    let listed = cli_json(host, &["dlq", "list", queue]);
    let listed = listed.as_array().expect("a list");
    assert_eq!(listed.len(), 1, "{listed:?}");
    let reason = listed[0]["reason"].as_str().unwrap_or_default();
    assert!(
        reason.contains("3 attempts"),
        "the dead letter has the reason: {listed:?}"
    );
    let replayed = cli_json(host, &["dlq", "replay", queue]);
    assert_eq!(replayed["replayed"], 1, "{replayed}");
    let again = poll("the replayed task to end again", host, LONG, || {
        record(host, &id).filter(|r| {
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

/// A task published with a 3 s countdown starts within ±1 s of its due time, never early.
pub fn delayed_task_runs_on_time(host: &mut HostProcess, queue: &str) {
    const COUNTDOWN_MS: i64 = 3000;
    deploy(host, queue, "echo_v1");
    let id = publish(host, queue, "?countdown=3s", &json!({"x": 1}));
    let r = record_in(host, &id, "succeeded");
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

/// Priorities 0, 9 and 5 published to a paused queue run 9, 5, 0 once it resumes.
pub fn higher_priority_runs_first(host: &mut HostProcess, queue: &str) {
    // Paused while publishing, so all three wait and run in priority order.
    let out = host.cli(["pause", queue]);
    assert!(out.status.success(), "pause: {out:?}");
    deploy(host, queue, "echo_v1");
    let low = publish(host, queue, "?priority=0", &json!({"x": 0}));
    let high = publish(host, queue, "?priority=9", &json!({"x": 9}));
    let mid = publish(host, queue, "?priority=5", &json!({"x": 5}));
    let out = host.cli(["resume", queue]);
    assert!(out.status.success(), "resume: {out:?}");
    let started = |id: &str| record_in(host, id, "succeeded")["started_ms"].as_u64();
    let (h, m, l) = (started(&high), started(&mid), started(&low));
    assert!(h <= m && m <= l, "9, 5, 0 in that order: {h:?} {m:?} {l:?}");
    let status = host.stop();
    assert!(status.success(), "graceful stop exits 0: {status:?}");
}

//! Driving a running host through its HTTP API and CLI as a user would, for the broker tests
//! that all do the same: deploy a guest, publish (one or a batch), read task records and queue
//! rows, poll with a deadline (never a fixed sleep), start several hosts on one config.

use std::time::Duration;

use serde_json::Value;

use crate::guests;
use crate::host::{HostOptions, HostProcess};

/// Generous: the machine running the tests may be loaded.
pub const LONG: Duration = Duration::from_secs(120);

/// `n` hosts on the same config, started in parallel.
pub fn start_hosts(n: usize, toml: &str) -> Vec<HostProcess> {
    std::thread::scope(|s| {
        let starting: Vec<_> = (0..n)
            .map(|_| s.spawn(|| HostOptions::default().config(toml).start()))
            .collect();
        starting
            .into_iter()
            .map(|h| h.join().expect("a host starts"))
            .collect()
    })
}

/// Deploy the test guest `guest` to `queue`.
pub fn deploy(host: &HostProcess, queue: &str, guest: &str) {
    let path = format!("/v1/queues/{queue}/module");
    let (status, body) = host.http("PUT", &path, &guests::guest_bytes(guest));
    assert!((200..300).contains(&status), "deploy: {status} {body}");
}

/// Publish one JSON body (`query` is e.g. `?countdown=5s&priority=9`); the task id.
pub fn publish(host: &HostProcess, queue: &str, query: &str, body: &Value) -> String {
    let path = format!("/v1/queues/{queue}/messages{query}");
    let (status, text) = host.http("POST", &path, body.to_string().as_bytes());
    assert!((200..300).contains(&status), "publish: {status} {text}");
    let answer: Value = serde_json::from_str(&text).expect("publish answers json");
    answer["task_id"].as_str().expect("a task id").to_owned()
}

/// Publish `bodies` in one batch; the task ids.
pub fn publish_batch(host: &HostProcess, queue: &str, bodies: &[Value]) -> Vec<String> {
    let lines: String = bodies.iter().map(|b| format!("{b}\n")).collect();
    let path = format!("/v1/queues/{queue}/messages:batch");
    let (status, text) = host.http("POST", &path, lines.as_bytes());
    assert!((200..300).contains(&status), "publish: {status} {text}");
    let answer: Value = serde_json::from_str(&text).expect("publish answers json");
    answer["task_ids"]
        .as_array()
        .expect("task ids")
        .iter()
        .filter_map(|v| v.as_str().map(str::to_owned))
        .collect()
}

/// Publish `body` and wait for its task to end (succeeded, failed or dead-lettered); its record.
pub fn run_to_end(host: &HostProcess, queue: &str, body: &Value) -> Value {
    let id = publish(host, queue, "", body);
    poll(&format!("task {id} to end"), host, LONG, || {
        record(host, &id).filter(|r| {
            matches!(
                r["state"].as_str(),
                Some("succeeded" | "failed" | "dead_lettered")
            )
        })
    })
}

pub fn record(host: &HostProcess, id: &str) -> Option<Value> {
    let (status, body) = host.http("GET", &format!("/v1/tasks/{id}"), b"");
    (status == 200).then(|| serde_json::from_str(&body).expect("record json"))
}

/// Wait for the record of `id` to reach `state`.
pub fn record_in(host: &HostProcess, id: &str, state: &str) -> Value {
    poll(&format!("task {id} to be {state}"), host, LONG, || {
        record(host, id).filter(|r| r["state"] == state)
    })
}

pub fn queue_row(host: &HostProcess, queue: &str) -> Option<Value> {
    let (status, body) = host.http("GET", "/v1/queues", b"");
    if status != 200 {
        return None;
    }
    let rows: Vec<Value> = serde_json::from_str(&body).ok()?;
    rows.into_iter().find(|r| r["queue"] == queue)
}

/// How many runs of `queue` ended on this host (its own per-minute history).
pub fn ran_here(host: &HostProcess, queue: &str) -> u64 {
    let (status, body) = host.http("GET", &format!("/v1/queues/{queue}/history"), b"");
    assert_eq!(status, 200, "history: {body}");
    let history: Value = serde_json::from_str(&body).expect("history is JSON");
    let field = |b: &Value, name: &str| b[name].as_u64().unwrap_or(0);
    history["per_minute"]
        .as_array()
        .expect("per-minute buckets")
        .iter()
        .map(|b| field(b, "succeeded") + field(b, "failed"))
        .sum()
}

/// [`crate::poll::poll`] showing `host`'s log on failure.
pub fn poll<T>(
    what: &str,
    host: &HostProcess,
    within: Duration,
    f: impl FnMut() -> Option<T>,
) -> T {
    crate::poll::poll(what, within, || format!("host log:\n{}", host.log()), f)
}

/// Run a CLI command against `host` with `--json`; its parsed output.
pub fn cli_json(host: &HostProcess, args: &[&str]) -> Value {
    let out = host.cli(args.iter().copied().chain(["--json"]));
    assert!(
        out.status.success(),
        "wasmboost {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("--json prints json")
}

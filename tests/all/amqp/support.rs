//! Helpers for the RabbitMQ host tests: a `wasmboost serve` on a node, deploy and publish through
//! the HTTP API, task records and queue rows, polling with a deadline (never a fixed sleep).

use std::time::Duration;

use serde_json::Value;
use wasmboost_tests::guests;
use wasmboost_tests::host::{HostOptions, HostProcess};

/// Generous: the machine running the tests may be loaded.
pub const LONG: Duration = Duration::from_secs(90);

/// The config of a host on RabbitMQ at `url` (state in the host's embedded store) plus `extra`.
pub fn config(url: &str, extra: &str) -> String {
    format!("[broker]\ntype = \"amqp\"\nurl = {url:?}\n{extra}\n")
}

/// `wasmboost serve` on RabbitMQ at `url` with `extra` config.
pub fn start(url: &str, extra: &str) -> HostProcess {
    HostOptions::default().config(config(url, extra)).start()
}

/// Deploy the test guest `guest` to `queue`.
pub fn deploy(host: &HostProcess, queue: &str, guest: &str) {
    let path = format!("/v1/queues/{queue}/module");
    let (status, body) = host.http("PUT", &path, &guests::guest_bytes(guest));
    assert!((200..300).contains(&status), "deploy: {status} {body}");
}

/// Publish one JSON body (`query` is e.g. `?countdown=5s`); returns the task id.
pub fn publish(host: &HostProcess, queue: &str, query: &str, body: &Value) -> String {
    let path = format!("/v1/queues/{queue}/messages{query}");
    let (status, text) = host.http("POST", &path, body.to_string().as_bytes());
    assert!((200..300).contains(&status), "publish: {status} {text}");
    let answer: Value = serde_json::from_str(&text).expect("publish answers json");
    answer["task_id"]
        .as_str()
        .expect("publish answers a task id")
        .to_owned()
}

/// Publish `bodies` in one confirmed batch; returns the task ids.
pub fn publish_batch(host: &HostProcess, queue: &str, bodies: &[Value]) -> Vec<String> {
    let lines: String = bodies.iter().map(|b| format!("{b}\n")).collect();
    let path = format!("/v1/queues/{queue}/messages:batch");
    let (status, text) = host.http("POST", &path, lines.as_bytes());
    assert!((200..300).contains(&status), "publish: {status} {text}");
    let answer: Value = serde_json::from_str(&text).expect("publish answers json");
    let ids: Vec<String> = answer["task_ids"]
        .as_array()
        .expect("task ids")
        .iter()
        .filter_map(|v| v.as_str().map(str::to_owned))
        .collect();
    assert_eq!(ids.len(), bodies.len(), "one id per message");
    ids
}

/// The task's record, if the host has one.
pub fn record(host: &HostProcess, id: &str) -> Option<Value> {
    let (status, body) = host.http("GET", &format!("/v1/tasks/{id}"), b"");
    (status == 200).then(|| serde_json::from_str(&body).expect("record json"))
}

/// The record of `id` once it is in `state`.
pub fn record_in(host: &HostProcess, id: &str, state: &str) -> Value {
    poll(&format!("task {id} to be {state}"), host, LONG, || {
        record(host, id).filter(|r| r["state"] == state)
    })
}

/// The queue's row of `GET /v1/queues`.
pub fn queue_row(host: &HostProcess, queue: &str) -> Option<Value> {
    let (status, body) = host.http("GET", "/v1/queues", b"");
    if status != 200 {
        return None;
    }
    let rows: Vec<Value> = serde_json::from_str(&body).ok()?;
    rows.into_iter().find(|r| r["queue"] == queue)
}

/// Poll `f` until it gives `Some`; fail with the host's log after `within`.
pub fn poll<T>(
    what: &str,
    host: &HostProcess,
    within: Duration,
    f: impl FnMut() -> Option<T>,
) -> T {
    wasmboost_tests::poll::poll(what, within, || format!("host log:\n{}", host.log()), f)
}

/// `wasmboost <args> --json` against `host`; the parsed output (fails on a non-zero exit).
pub fn cli_json(host: &HostProcess, args: &[&str]) -> Value {
    let out = host.cli(args.iter().copied().chain(["--json"]));
    assert!(
        out.status.success(),
        "wasmboost {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("--json prints json")
}

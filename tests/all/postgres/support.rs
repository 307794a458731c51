//! Helpers for the PostgreSQL host tests: a private PostgreSQL per test, a `wasmboost serve` on
//! it, deploy and publish through the HTTP API, polling with a deadline (never a fixed sleep).

use std::time::Duration;

use serde_json::Value;
use wasmboost_tests::guests;
use wasmboost_tests::host::{HostOptions, HostProcess};
use wasmboost_tests::postgres::PostgresServer;

/// Generous: the machine running the tests may be loaded.
pub const LONG: Duration = Duration::from_secs(120);

/// `wasmboost serve` on `server` (state in the host's embedded store) with `extra` config.
pub fn start(server: &PostgresServer, extra: &str) -> HostProcess {
    let config = format!(
        "[broker]\ntype = \"postgres\"\nurl = {:?}\n{extra}\n",
        server.url()
    );
    HostOptions::default().config(config).start()
}

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

pub fn record(host: &HostProcess, id: &str) -> Option<Value> {
    let (status, body) = host.http("GET", &format!("/v1/tasks/{id}"), b"");
    (status == 200).then(|| serde_json::from_str(&body).expect("record json"))
}

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

pub fn poll<T>(
    what: &str,
    host: &HostProcess,
    within: Duration,
    f: impl FnMut() -> Option<T>,
) -> T {
    wasmboost_tests::poll::poll(what, within, || format!("host log:\n{}", host.log()), f)
}

pub fn cli_json(host: &HostProcess, args: &[&str]) -> Value {
    let out = host.cli(args.iter().copied().chain(["--json"]));
    assert!(
        out.status.success(),
        "wasmboost {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("--json prints json")
}

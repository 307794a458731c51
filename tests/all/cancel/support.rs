//! Helpers for the cancel tests: queues with budgets long enough that only a cancel ends their
//! tasks, deploys and records over the API, and the cancel request with its send time.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::Value;
use wasmboost_tests::guests;
use wasmboost_tests::host::HostProcess;
pub use wasmboost_tests::poll::poll;

/// Generous bound for anything that should take seconds on an idle machine.
pub const LONG: Duration = Duration::from_secs(120);
/// The bound: a running guest stops within this of the cancel.
pub const STOP_WITHIN_MS: u64 = 50;

/// `spin` loops, `sleep` sleeps in a host call; both would run for a minute (and be retried on
/// a timeout or a trap) if the cancel did not end them. `echo` runs at once.
pub const QUEUES: &str = "[queues.spin]\ntimeout = \"60s\"\nfuel = 1000000000000000\nmax_retries = 3\n\
retry_on = [\"timeout\", \"out-of-fuel\", \"trap\"]\n\
[queues.sleep]\ntimeout = \"60s\"\nmax_retries = 3\nretry_on = [\"timeout\", \"trap\"]\n\
[queues.echo]\n";

pub fn now_ms() -> u64 {
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    u64::try_from(since.as_millis()).unwrap_or(u64::MAX)
}

/// Deploy test guest `guest` to `queue` through `host`.
pub fn deploy(host: &HostProcess, queue: &str, guest: &str) {
    let wasm = guests::guest_bytes(guest);
    let (status, body) = host.http("PUT", &format!("/v1/queues/{queue}/module"), &wasm);
    assert!(
        (200..300).contains(&status),
        "deploy {guest}: {status} {body}"
    );
}

/// Publish one message; its task id.
pub fn publish(host: &HostProcess, queue: &str, body: &str) -> String {
    let (status, answer) = host.http(
        "POST",
        &format!("/v1/queues/{queue}/messages"),
        body.as_bytes(),
    );
    assert!((200..300).contains(&status), "publish: {status} {answer}");
    let answer: Value = serde_json::from_str(&answer).expect("publish answers JSON");
    answer["task_id"].as_str().expect("a task id").to_owned()
}

/// The task's record (None while there is none).
pub fn record(host: &HostProcess, id: &str) -> Option<Value> {
    let (status, body) = host.http("GET", &format!("/v1/tasks/{id}"), b"");
    (status == 200).then(|| serde_json::from_str(&body).expect("a record is JSON"))
}

/// Wait until the task's record is in `state`.
pub fn wait_state(hosts: &[&HostProcess], id: &str, state: &str) -> Value {
    poll(
        &format!("task {id} to be {state}"),
        LONG,
        || logs(hosts),
        || record(hosts[0], id).filter(|r| r["state"] == state),
    )
}

/// `DELETE /v1/tasks/<id>` through `host`; the answer and the time the request was sent.
pub fn cancel(host: &HostProcess, id: &str) -> (Value, u64) {
    let sent = now_ms();
    let (status, body) = host.http("DELETE", &format!("/v1/tasks/{id}"), b"");
    assert_eq!(status, 200, "cancel: {body}");
    (
        serde_json::from_str(&body).expect("cancel answers JSON"),
        sent,
    )
}

/// The last log lines of every host, for failure messages.
pub fn logs(hosts: &[&HostProcess]) -> String {
    hosts
        .iter()
        .enumerate()
        .map(|(i, h)| format!("--- host {i} log:\n{}", h.log()))
        .collect()
}

/// Cancel a running task through `via` and check it ends `cancelled` within the bound, after
/// one attempt; returns how long after the request it stopped (ms).
pub fn cancel_running(via: &HostProcess, hosts: &[&HostProcess], id: &str) -> u64 {
    let (answer, sent) = cancel(via, id);
    assert_eq!(answer["requested"], true, "{answer}");
    assert_eq!(answer["state"], "running", "{answer}");
    let done = wait_state(hosts, id, "cancelled");
    assert_eq!(done["attempts"], 1, "one attempt: {done}");
    assert_eq!(done["error"], "cancelled by request", "{done}");
    let finished = done["finished_ms"].as_u64().expect("a finish time");
    let took = finished.saturating_sub(sent);
    assert!(
        took <= STOP_WITHIN_MS,
        "stopped {took} ms after the cancel was sent (bound {STOP_WITHIN_MS} ms): {done}\n{}",
        logs(hosts)
    );
    took
}

/// A cancelled task stays cancelled: no retry comes back for it within `watch` (its queue
/// would retry a timeout or a trap after about a second).
pub fn stays_cancelled(hosts: &[&HostProcess], id: &str, watch: Duration) {
    std::thread::sleep(watch);
    let now = record(hosts[0], id).expect("the record is kept");
    assert_eq!(
        now["state"],
        "cancelled",
        "not retried: {now}\n{}",
        logs(hosts)
    );
    assert_eq!(now["attempts"], 1, "not retried: {now}");
}

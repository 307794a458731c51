//! The per-queue `results` policy through the real binary: which task records are stored, while
//! counters count every task and a caller waiting with `?wait=` is always answered.

use std::time::{Duration, Instant};

use serde_json::Value;
use wasmboost_tests::guests;
use wasmboost_tests::host::{HostOptions, HostProcess};

const DEADLINE: Duration = Duration::from_secs(60);

fn host_with(results: &str) -> HostProcess {
    let host = HostOptions::default()
        .config(format!("[queues.add]\nresults = \"{results}\"\n"))
        .start();
    let add = guests::example("add");
    let wasm = std::fs::read(add).expect("the add example is built");
    deploy(&host, &wasm);
    host
}

fn deploy(host: &HostProcess, wasm: &[u8]) {
    let (status, body) = host.http("PUT", "/v1/queues/add/module", wasm);
    assert!((200..300).contains(&status), "deploy: {status} {body}");
}

fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

/// Publish without waiting; the task id.
fn publish(host: &HostProcess, body: &str) -> String {
    let (status, text) = host.http("POST", "/v1/queues/add/messages", body.as_bytes());
    assert_eq!(status, 202, "publish: {text}");
    json(&text)["task_id"]
        .as_str()
        .expect("a task id")
        .to_owned()
}

/// The `add` row of `GET /v1/queues`.
fn add_counts(host: &HostProcess) -> Value {
    let (status, text) = host.http("GET", "/v1/queues", b"");
    assert_eq!(status, 200, "{text}");
    let rows = json(&text);
    let rows = rows.as_array().cloned().unwrap_or_default();
    rows.into_iter()
        .find(|row| row["queue"] == "add")
        .expect("queue add is listed")
}

/// Polls until `add` counted `succeeded` and `failed` tasks (counters are flushed periodically).
fn wait_counted(host: &HostProcess, succeeded: u64, failed: u64) {
    let start = Instant::now();
    loop {
        let row = add_counts(host);
        if row["succeeded"].as_u64() >= Some(succeeded) && row["failed"].as_u64() >= Some(failed) {
            return;
        }
        assert!(
            start.elapsed() < DEADLINE,
            "not {succeeded} succeeded / {failed} failed: {row}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn task_status(host: &HostProcess, id: &str) -> u16 {
    host.http("GET", &format!("/v1/tasks/{id}"), b"").0
}

#[test]
fn never_stores_no_record_yet_counts_every_task_and_answers_a_waiting_caller() {
    let host = host_with("never");
    let fire = publish(&host, r#"{"x": 1, "y": 2}"#);
    let bad = publish(&host, r#"{"x": "one"}"#);
    // An RPC is answered with its record whatever the policy.
    let (status, text) = host.http(
        "POST",
        "/v1/queues/add/messages?wait=30000",
        br#"{"x": 20, "y": 22}"#,
    );
    assert_eq!(status, 200, "rpc: {text}");
    let rpc = json(&text);
    assert_eq!(rpc["result"], 42, "{rpc}");
    let rpc_id = rpc["task_id"].as_str().expect("task id").to_owned();
    wait_counted(&host, 2, 1);
    assert_eq!(
        task_status(&host, &fire),
        404,
        "a succeeded task keeps no record"
    );
    assert_eq!(
        task_status(&host, &bad),
        404,
        "a failed task keeps no record"
    );
    assert_eq!(
        task_status(&host, &rpc_id),
        200,
        "the waited-for task keeps its record"
    );
}

#[test]
fn errors_stores_only_the_records_of_tasks_that_did_not_succeed() {
    let host = host_with("errors");
    let fine = publish(&host, r#"{"x": 1, "y": 2}"#);
    let bad = publish(&host, r#"{"x": "one"}"#);
    wait_counted(&host, 1, 1);
    assert_eq!(
        task_status(&host, &fine),
        404,
        "a succeeded task keeps no record"
    );
    let start = Instant::now();
    while task_status(&host, &bad) != 200 {
        assert!(
            start.elapsed() < DEADLINE,
            "the failed task's record never came"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let (_, text) = host.http("GET", &format!("/v1/tasks/{bad}"), b"");
    assert_eq!(json(&text)["state"], "failed", "{text}");
}

#[test]
fn always_is_the_default_and_keeps_every_record() {
    let host = HostProcess::start();
    let add = std::fs::read(guests::example("add")).expect("the add example is built");
    deploy(&host, &add);
    let id = publish(&host, r#"{"x": 1, "y": 2}"#);
    wait_counted(&host, 1, 0);
    let start = Instant::now();
    while task_status(&host, &id) != 200 {
        assert!(start.elapsed() < DEADLINE, "the record never came");
        std::thread::sleep(Duration::from_millis(50));
    }
}

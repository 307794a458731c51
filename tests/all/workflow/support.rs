//! What the workflow tests share: deploying `calc`, submitting, polling a workflow's state.

use std::time::Duration;

use serde_json::Value;
use wasmboost_tests::guests;
use wasmboost_tests::host::HostProcess;
use wasmboost_tests::poll::poll;

pub const LONG: Duration = Duration::from_secs(120);

/// Deploy the `calc` guest to each queue.
pub fn deploy_calc(host: &HostProcess, queues: &[&str]) {
    let wasm = guests::guest_bytes("calc");
    for queue in queues {
        let (status, body) = host.http("PUT", &format!("/v1/queues/{queue}/module"), &wasm);
        assert!(
            (200..300).contains(&status),
            "deploy {queue}: {status} {body}"
        );
    }
}

/// Submit through the API; the new workflow's id.
pub fn submit(host: &HostProcess, doc: &Value) -> String {
    let (status, body) = host.http("POST", "/v1/workflows", doc.to_string().as_bytes());
    assert_eq!(status, 201, "submit: {body}");
    let info: Value = serde_json::from_str(&body).expect("json");
    info["id"].as_str().expect("an id").to_owned()
}

pub fn show(host: &HostProcess, id: &str) -> Option<Value> {
    let (status, body) = host.http("GET", &format!("/v1/workflows/{id}"), b"");
    (status == 200).then(|| serde_json::from_str(&body).expect("json"))
}

/// Poll until the workflow has ended; its info.
pub fn ended(host: &HostProcess, id: &str) -> Value {
    poll(
        "the workflow to end",
        LONG,
        || format!("{:?}\n{}", show(host, id), host.log()),
        || show(host, id).filter(|w| w["state"] != "running"),
    )
}

/// A task's record, if it has one yet.
pub fn record(host: &HostProcess, id: &str) -> Option<Value> {
    let (status, body) = host.http("GET", &format!("/v1/tasks/{id}"), b"");
    (status == 200).then(|| serde_json::from_str(&body).expect("a record is JSON"))
}

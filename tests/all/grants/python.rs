//! The Python SDK's grant modules in a real component on the real binary
//! (`examples/python/kvcount`): `kv.incr` counts across tasks, `config.get` reads a granted
//! value, `publish` starts a follow-up task on an allowed queue, and on a queue without grants
//! the `GrantError` reaches the task (which turns it into a plain failure), counted as denied.

use std::time::Duration;

use serde_json::{Value, json};
use wasmboost_tests::host::{HostOptions, HostProcess};
use wasmboost_tests::python;

fn run_task(host: &HostProcess, queue: &str, payload: &Value) -> Value {
    let (status, body) = host.http(
        "POST",
        &format!("/v1/queues/{queue}/messages"),
        payload.to_string().as_bytes(),
    );
    assert!((200..300).contains(&status), "publish: {status} {body}");
    let answer: Value = serde_json::from_str(&body).expect("json");
    let id = answer["task_id"].as_str().expect("a task id").to_owned();
    wasmboost_tests::poll::poll(
        "the task to end",
        Duration::from_secs(60),
        || host.log(),
        || {
            let (_, body) = host.http("GET", &format!("/v1/tasks/{id}"), b"");
            let record: Value = serde_json::from_str(&body).ok()?;
            matches!(record["state"].as_str(), Some("succeeded" | "failed")).then_some(record)
        },
    )
}

fn result_of(record: &Value) -> Value {
    assert_eq!(record["state"], "succeeded", "{record}");
    match record["result"].as_str() {
        Some(text) => serde_json::from_str(text).expect("json result"),
        None => record["result"].clone(),
    }
}

#[test]
fn the_python_kvcount_example_counts_configures_and_publishes() {
    let wasm = std::fs::read(python::example("kvcount")).expect("the built example");
    let host = HostOptions::default()
        .config(
            r#"
# A Python component is large: room to compile it on a loaded debug build.
[runtime]
compile_timeout = "300s"
[queues.events.grants]
kv = true
publish_to = ["summaries"]
config = { SOURCE = "checkout" }
[queues.summaries]
[queues.plain]
"#,
        )
        .start();
    for queue in ["events", "plain"] {
        let (status, body) = host.http("PUT", &format!("/v1/queues/{queue}/module"), &wasm);
        assert!(
            (200..300).contains(&status),
            "deploy {queue}: {status} {body}"
        );
    }
    let payload = json!({ "kind": "order", "every": 2 });
    let first = result_of(&run_task(&host, "events", &payload));
    assert_eq!(
        (first["count"].clone(), first["summary"].clone()),
        (json!(1), Value::Null)
    );
    let second = result_of(&run_task(&host, "events", &payload));
    assert_eq!(second["count"], 2, "{second}");
    let follow_up = second["summary"].as_str().expect("a follow-up task id");
    let (status, body) = host.http("GET", &format!("/v1/tasks/{follow_up}"), b"");
    assert_eq!(status, 200, "the follow-up exists: {body}");
    assert!(body.contains("summaries"), "{body}");

    let plain = run_task(&host, "plain", &payload);
    assert_eq!(plain["state"], "failed", "{plain}");
    let reason = plain.to_string();
    assert!(reason.contains("cannot count 'order': denied"), "{reason}");
}

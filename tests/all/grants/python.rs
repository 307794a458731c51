//! The Python SDK's grant modules in a real component on the real binary
//! (`examples/python/kvcount`): `kv.incr` counts across tasks, `config.get` reads a granted
//! value, `publish` starts a follow-up task on an allowed queue, and on a queue without grants
//! the `GrantError` reaches the task (which turns it into a plain failure), counted as denied.

use serde_json::{Value, json};
use wasmboost_tests::api::run_to_end;
use wasmboost_tests::host::HostOptions;
use wasmboost_tests::python;

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
    let first = result_of(&run_to_end(&host, "events", &payload));
    assert_eq!(
        (first["count"].clone(), first["summary"].clone()),
        (json!(1), Value::Null)
    );
    let second = result_of(&run_to_end(&host, "events", &payload));
    assert_eq!(second["count"], 2, "{second}");
    let follow_up = second["summary"].as_str().expect("a follow-up task id");
    let (status, body) = host.http("GET", &format!("/v1/tasks/{follow_up}"), b"");
    assert_eq!(status, 200, "the follow-up exists: {body}");
    assert!(body.contains("summaries"), "{body}");

    let plain = run_to_end(&host, "plain", &payload);
    assert_eq!(plain["state"], "failed", "{plain}");
    let reason = plain.to_string();
    assert!(reason.contains("cannot count 'order': denied"), "{reason}");
}

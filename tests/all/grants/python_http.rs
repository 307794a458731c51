//! The Python SDK's `http` (over `wasi:http`) in a real component on the real binary
//! (`examples/python/apisummary`): with the queue's grant it calls a local JSON API with a
//! granted secret as its bearer key and publishes a summary; on a queue without the grant the
//! request is refused before it leaves the host (`HTTP-request-denied`, the API sees nothing)
//! and the task fails with that code; the key never appears in a record or the host's log.

use serde_json::json;
use wasmboost_tests::api::run_to_end;
use wasmboost_tests::host::HostOptions;
use wasmboost_tests::python;
use wasmboost_tests::web::{API_KEY, API_PRICES, WebServer};

#[test]
fn the_python_apisummary_example_calls_an_api_with_a_secret_only_where_granted() {
    let site = WebServer::start(1);
    let wasm = std::fs::read(python::example("apisummary")).expect("the built example");
    let config = format!(
        "[runtime]\n# A Python component is large: room to compile it on a loaded debug build.\n\
         compile_timeout = \"300s\"\n\
         [queues.prices.grants]\nhttp = [\"{}\"]\n\
         secrets = {{ API_KEY = {{ env = \"TEST_PRICES_KEY\" }} }}\npublish_to = [\"summaries\"]\n\
         [queues.summaries]\n\
         [queues.plain.grants]\nsecrets = {{ API_KEY = {{ env = \"TEST_PRICES_KEY\" }} }}\n\
         publish_to = [\"summaries\"]\n",
        site.base()
    );
    let host = HostOptions::default()
        .config(config)
        .env("TEST_PRICES_KEY", API_KEY)
        .start();
    for queue in ["prices", "plain"] {
        let (status, body) = host.http("PUT", &format!("/v1/queues/{queue}/module"), &wasm);
        assert!(
            (200..300).contains(&status),
            "deploy {queue}: {status} {body}"
        );
    }
    let payload = json!({ "url": format!("{}/api/items", site.base()) });

    let done = run_to_end(&host, "prices", &payload);
    assert_eq!(done["state"], "succeeded", "{done}");
    let result = &done["result"];
    assert_eq!(result["items"], API_PRICES.len(), "{done}");
    assert_eq!(result["total"], API_PRICES.iter().sum::<u64>(), "{done}");
    let follow_up = result["summary"].as_str().expect("a follow-up task id");
    let (status, body) = host.http("GET", &format!("/v1/tasks/{follow_up}"), b"");
    assert_eq!(status, 200, "the follow-up exists: {body}");
    assert!(body.contains("summaries"), "{body}");
    assert_eq!(site.hits("/api/items"), 1, "the API was called once");

    let refused = run_to_end(&host, "plain", &payload);
    assert_eq!(refused["state"], "failed", "{refused}");
    let error = refused["error"].as_str().unwrap_or_default();
    assert!(
        error.contains("cannot reach the API: HTTP-request-denied"),
        "{refused}"
    );
    assert_eq!(site.hits("/api/items"), 1, "the refused request never left");

    for text in [done.to_string(), refused.to_string(), host.log()] {
        assert!(!text.contains(API_KEY), "the key leaked: {text}");
    }
}

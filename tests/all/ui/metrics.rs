//! `/metrics` against the real binary: Prometheus names and types, and counters that move with
//! what the host does (a success, a retry, a dead letter).

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::Value;
use wasmboost_tests::guests;
use wasmboost_tests::host::{HostOptions, HostProcess};
use wasmboost_tests::poll::poll;

const LONG: Duration = Duration::from_secs(60);

/// Every sample as `name{labels}` -> value, after checking each family has HELP and TYPE and
/// follows the naming conventions.
fn scrape(host: &HostProcess) -> BTreeMap<String, f64> {
    let (status, text) = host.http("GET", "/metrics", b"");
    assert_eq!(status, 200, "{text}");
    let mut types = BTreeMap::new();
    let mut helps = 0;
    let mut samples = BTreeMap::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').expect("# TYPE name kind");
            types.insert(name.to_owned(), kind.to_owned());
        } else if line.starts_with("# HELP ") {
            helps += 1;
        } else if !line.is_empty() {
            let (series, value) = line.rsplit_once(' ').expect("name value");
            let name = series.split('{').next().unwrap_or_default();
            let kind = types
                .get(name)
                .unwrap_or_else(|| panic!("{name} has no # TYPE before it"));
            assert_eq!(
                name.ends_with("_total"),
                kind == "counter",
                "{name}: counters and only counters end in _total"
            );
            assert!(
                name.starts_with("wasmboost_")
                    && name.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'),
                "{name}"
            );
            samples.insert(series.to_owned(), value.parse().expect("a number"));
        }
    }
    assert_eq!(helps, types.len(), "a # HELP per family");
    samples
}

fn deploy(host: &HostProcess, queue: &str, wasm: &[u8]) {
    let (status, body) = host.http("PUT", &format!("/v1/queues/{queue}/module"), wasm);
    assert!(
        (200..300).contains(&status),
        "deploy {queue}: {status} {body}"
    );
}

fn publish(host: &HostProcess, queue: &str, body: &str) -> String {
    let (status, answer) = host.http(
        "POST",
        &format!("/v1/queues/{queue}/messages"),
        body.as_bytes(),
    );
    assert_eq!(status, 202, "{answer}");
    let answer: Value = serde_json::from_str(&answer).expect("JSON");
    answer["task_id"].as_str().expect("task id").to_owned()
}

#[test]
fn metrics_follow_prometheus_conventions_and_move() {
    let host = HostOptions::default()
        .config(
            "[queues.add]\n[queues.flaky]\nmax_retries = 1\n\
             backoff = { base = \"10ms\", max = \"20ms\" }\n",
        )
        .start();
    deploy(&host, "add", &guests::example_bytes("add"));
    deploy(&host, "flaky", &guests::guest_bytes("flaky"));
    let before = scrape(&host);
    for series in [
        "wasmboost_tasks_succeeded_total{queue=\"add\"}",
        "wasmboost_tasks_retried_total{queue=\"flaky\"}",
        "wasmboost_tasks_dead_lettered_total{queue=\"flaky\"}",
        "wasmboost_tasks_expired_total{queue=\"add\"}",
        "wasmboost_tasks_skipped_duplicate_total{queue=\"add\"}",
        "wasmboost_queue_dead_lettered{queue=\"flaky\"}",
    ] {
        assert_eq!(before.get(series), Some(&0.0), "{series} starts at 0");
    }

    publish(&host, "add", r#"{"x":1,"y":2}"#);
    let id = publish(&host, "flaky", r#"{"mode":"retry"}"#);
    poll(
        "the flaky task to be dead-lettered after its retry",
        LONG,
        || host.log(),
        || {
            let (_, body) = host.http("GET", &format!("/v1/tasks/{id}"), b"");
            body.contains("\"dead_lettered\"").then_some(())
        },
    );
    let after = poll(
        "the counters to move",
        LONG,
        || host.log(),
        || {
            let m = scrape(&host);
            (m.get("wasmboost_tasks_dead_lettered_total{queue=\"flaky\"}") == Some(&1.0)
                && m.get("wasmboost_tasks_succeeded_total{queue=\"add\"}") == Some(&1.0))
            .then_some(m)
        },
    );
    assert_eq!(
        after.get("wasmboost_tasks_retried_total{queue=\"flaky\"}"),
        Some(&1.0),
        "max_retries = 1: one retry"
    );
    assert_eq!(
        after.get("wasmboost_tasks_failed_total{queue=\"flaky\"}"),
        Some(&2.0),
        "both attempts failed"
    );
    assert_eq!(
        after.get("wasmboost_queue_dead_lettered{queue=\"flaky\"}"),
        Some(&1.0)
    );
}

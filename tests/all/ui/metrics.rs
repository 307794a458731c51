//! `/metrics` against the real binary: Prometheus names and types, histograms that are
//! cumulative, and values that move with what the host does (a success, a retry, a dead letter,
//! a trap, a rate wait, deploys and compiles).

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
            let name = family_of(series.split('{').next().unwrap_or_default(), &types);
            let kind = types
                .get(name)
                .unwrap_or_else(|| panic!("{name} has no # TYPE before it"));
            if kind == "histogram" {
                check_histogram_sample(series, name);
            }
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

/// The family a sample belongs to: a histogram's `_bucket`, `_sum` and `_count` series belong
/// to the histogram.
fn family_of<'a>(name: &'a str, types: &BTreeMap<String, String>) -> &'a str {
    for suffix in ["_bucket", "_sum", "_count"] {
        if let Some(base) = name.strip_suffix(suffix)
            && types.get(base).is_some_and(|k| k == "histogram")
        {
            return base;
        }
    }
    name
}

fn check_histogram_sample(series: &str, family: &str) {
    let suffix = &series[family.len()..];
    assert!(
        ["_bucket{", "_sum", "_count"]
            .iter()
            .any(|s| suffix.starts_with(s)),
        "{series}: a histogram has only _bucket, _sum and _count series"
    );
    if suffix.starts_with("_bucket") {
        assert!(series.contains("le=\""), "{series}: a bucket names its le");
    }
}

/// A histogram's buckets of one label set, in order: they must be cumulative and end in
/// `+Inf` equal to `_count`.
fn check_cumulative(m: &BTreeMap<String, f64>, family: &str, labels: &str) {
    let prefix = format!("{family}_bucket{{{labels},le=");
    let count = m
        .get(&format!("{family}_count{{{labels}}}"))
        .copied()
        .unwrap_or_else(|| panic!("{family}_count{{{labels}}} is missing"));
    let mut buckets: Vec<(f64, f64)> = m
        .iter()
        .filter_map(|(k, v)| {
            let le = k
                .strip_prefix(&prefix)?
                .trim_end_matches('}')
                .trim_matches('"');
            let le = if le == "+Inf" {
                f64::INFINITY
            } else {
                le.parse().ok()?
            };
            Some((le, *v))
        })
        .collect();
    buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
    assert!(buckets.len() > 2, "{family}{{{labels}}} has buckets");
    assert!(
        buckets.windows(2).all(|w| w[0].1 <= w[1].1),
        "{family}{{{labels}}} buckets are cumulative: {buckets:?}"
    );
    assert_eq!(
        buckets.last().map(|b| (b.0, b.1)),
        Some((f64::INFINITY, count))
    );
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
            "[queues.add]\nqps = 20\n[queues.flaky]\nmax_retries = 1\n\
             backoff = { base = \"10ms\", max = \"20ms\" }\n\
             [queues.panic]\nmax_retries = 0\n",
        )
        .start();
    deploy(&host, "add", &guests::example_bytes("add"));
    deploy(&host, "flaky", &guests::guest_bytes("flaky"));
    deploy(&host, "panic", &guests::guest_bytes("panic"));
    let (status, _) = host.http("PUT", "/v1/queues/add/module", b"not a component");
    assert_eq!(status, 422, "a refused deploy");
    let before = scrape(&host);
    for family in [
        "wasmboost_task_duration_seconds",
        "wasmboost_task_fuel",
        "wasmboost_task_peak_memory_bytes",
    ] {
        assert_eq!(
            before.get(&format!("{family}_count{{queue=\"add\"}}")),
            Some(&0.0),
            "{family} starts at 0"
        );
    }
    assert_eq!(
        before.get("wasmboost_deploys_total{result=\"accepted\"}"),
        Some(&3.0)
    );
    assert_eq!(
        before.get("wasmboost_deploys_total{result=\"refused\"}"),
        Some(&1.0)
    );
    let compiled = before["wasmboost_module_cache_misses_total"];
    assert!(
        compiled >= 3.0,
        "three fresh modules were compiled: {compiled}"
    );
    assert_eq!(
        before.get("wasmboost_module_compile_duration_seconds_count"),
        Some(&compiled),
        "one compile time per compile"
    );
    assert!(before["wasmboost_module_compile_duration_seconds_sum"] > 0.0);
    for series in [
        "wasmboost_broker_errors_total{op=\"fetch\"}",
        "wasmboost_broker_errors_total{op=\"settle\"}",
        "wasmboost_broker_reconnects_total",
        "wasmboost_module_cache_hits_total",
        "wasmboost_queue_rate_waits_total{queue=\"add\"}",
        "wasmboost_task_traps_total{queue=\"panic\",kind=\"panic\"}",
    ] {
        assert!(before.contains_key(series), "{series} is exported");
    }
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

    for _ in 0..3 {
        publish(&host, "add", r#"{"x":1,"y":2}"#);
    }
    publish(&host, "panic", r#"{"message":"boom"}"#);
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
                && m.get("wasmboost_tasks_succeeded_total{queue=\"add\"}") == Some(&3.0)
                && m.get("wasmboost_tasks_failed_total{queue=\"panic\"}") == Some(&1.0))
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
    // This host's own measurements: every run observed once, in base units.
    for (queue, runs) in [("add", 3.0), ("flaky", 2.0), ("panic", 1.0)] {
        let labels = format!("queue=\"{queue}\"");
        for family in [
            "wasmboost_task_duration_seconds",
            "wasmboost_task_fuel",
            "wasmboost_task_peak_memory_bytes",
        ] {
            assert_eq!(
                after.get(&format!("{family}_count{{{labels}}}")),
                Some(&runs),
                "{family} of {queue}"
            );
            check_cumulative(&after, family, &labels);
        }
        let seconds = after[&format!("wasmboost_task_duration_seconds_sum{{{labels}}}")];
        assert!(
            seconds > 0.0 && seconds < 60.0 * runs,
            "{queue} durations are in seconds: {seconds}"
        );
        let memory = after[&format!("wasmboost_task_peak_memory_bytes_sum{{{labels}}}")];
        assert!(
            memory >= 65536.0 * runs,
            "{queue} memory is in bytes: {memory}"
        );
    }
    assert_eq!(
        after.get("wasmboost_task_traps_total{queue=\"panic\",kind=\"panic\"}"),
        Some(&1.0),
        "the panic is counted by its kind"
    );
    let traps: f64 = after
        .iter()
        .filter(|(k, _)| k.starts_with("wasmboost_task_traps_total{queue=\"flaky\""))
        .map(|(_, v)| v)
        .sum();
    assert_eq!(traps, 0.0, "a task error is not a trap");
    let waits = after["wasmboost_queue_rate_waits_total{queue=\"add\"}"];
    assert!(
        waits >= 1.0,
        "3 tasks at qps 20 wait for their slots: {waits}"
    );
    assert!(after["wasmboost_queue_rate_wait_seconds_total{queue=\"add\"}"] > 0.0);
}

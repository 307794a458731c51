//! `wasmboost:task/kv` through the real binary: a counter incremented by many tasks at once
//! reaches exactly N after N tasks (each task sees a different value), on the embedded store of
//! one host and on Redis shared by two hosts; one compare-and-swap from "absent" wins across
//! hosts; each queue has its own namespace; a quota refuses with a typed `quota` error and a
//! queue without the grant is denied, both counted.

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::{Value, json};
use wasmboost_tests::guests;
use wasmboost_tests::host::{HostOptions, HostProcess};
use wasmboost_tests::redis::RedisServer;

use crate::redis::support::{config as redis_config, start_hosts};

/// Tasks per counting run: enough for real overlap at concurrency 4, few enough for seconds.
const N: usize = 40;

fn logs(hosts: &[&HostProcess]) -> String {
    hosts
        .iter()
        .map(|h| h.log())
        .collect::<Vec<_>>()
        .join("\n---\n")
}

fn deploy(host: &HostProcess, queue: &str) {
    let wasm = guests::guest_bytes("granted");
    let (status, body) = host.http("PUT", &format!("/v1/queues/{queue}/module"), &wasm);
    assert!(
        (200..300).contains(&status),
        "deploy {queue}: {status} {body}"
    );
}

/// Publishes `payload` `n` times in one batch; the task ids.
fn publish(host: &HostProcess, queue: &str, payload: &Value, n: usize) -> Vec<String> {
    let lines: String = (0..n).map(|_| format!("{payload}\n")).collect();
    let path = format!("/v1/queues/{queue}/messages:batch");
    let (status, body) = host.http("POST", &path, lines.as_bytes());
    assert!((200..300).contains(&status), "publish: {status} {body}");
    let answer: Value = serde_json::from_str(&body).expect("json");
    answer["task_ids"]
        .as_array()
        .expect("task ids")
        .iter()
        .filter_map(|v| v.as_str().map(str::to_owned))
        .collect()
}

/// The results of `ids` once each succeeded (asked of `host`, which shares their records).
fn results(host: &HostProcess, all: &[&HostProcess], ids: &[String]) -> Vec<Value> {
    ids.iter()
        .map(|id| {
            wasmboost_tests::poll::poll(
                "the task to succeed",
                Duration::from_secs(60),
                || logs(all),
                || {
                    let (_, body) = host.http("GET", &format!("/v1/tasks/{id}"), b"");
                    let record: Value = serde_json::from_str(&body).ok()?;
                    if record["state"] == "failed" || record["state"] == "dead_lettered" {
                        panic!("task {id} did not succeed: {record}");
                    }
                    if record["state"] != "succeeded" {
                        return None;
                    }
                    match record["result"].as_str() {
                        Some(text) => serde_json::from_str(text).ok(),
                        None => Some(record["result"].clone()),
                    }
                },
            )
        })
        .collect()
}

fn run_one(host: &HostProcess, queue: &str, payload: &Value) -> Value {
    let ids = publish(host, queue, payload, 1);
    results(host, &[host], &ids).remove(0)
}

/// Every task's increment of "pages" answered a different value, 1 to `n`: none was lost or
/// counted twice.
fn assert_counted_once_each(results: &[Value], n: usize) {
    let seen: BTreeSet<i64> = results
        .iter()
        .map(|r| r["incr"][0]["ok"].as_i64().unwrap_or_else(|| panic!("{r}")))
        .collect();
    let want: BTreeSet<i64> = (1..=n as i64).collect();
    assert_eq!(seen, want, "each of {n} increments saw its own value");
}

fn denied(host: &HostProcess, queue: &str) -> Value {
    let out = host.cli(["queues", "--json"]);
    let rows: Vec<Value> = serde_json::from_slice(&out.stdout).expect("queues --json");
    rows.iter()
        .find(|r| r["queue"] == queue)
        .map(|r| r["denied"].clone())
        .unwrap_or_default()
}

#[test]
fn kv_counts_exactly_on_the_embedded_store_within_quota_and_grant() {
    let host = HostOptions::default()
        .config(
            r#"
[queues.count]
concurrency = 4
[queues.count.grants]
kv = true
[queues.other.grants]
kv = true
[queues.small.grants]
kv = true
kv_max_keys = 2
[queues.plain]
"#,
        )
        .start();
    for queue in ["count", "other", "small", "plain"] {
        deploy(&host, queue);
    }
    let ids = publish(&host, "count", &json!({ "incr": ["pages"] }), N);
    assert_counted_once_each(&results(&host, &[&host], &ids), N);

    // Another queue's "pages" is another key.
    let other = run_one(&host, "other", &json!({ "incr": ["pages"] }));
    assert_eq!(other["incr"][0]["ok"], 1, "{other}");

    let small = run_one(
        &host,
        "small",
        &json!({ "incr": ["a", "b", "c"], "cas": ["a"] }),
    );
    assert_eq!(small["incr"][1]["ok"], 1, "{small}");
    let refused = &small["incr"][2];
    assert_eq!(refused["denied"], false, "{small}");
    assert!(
        refused["error"]
            .as_str()
            .is_some_and(|e| e.contains("quota of 2 keys")),
        "a typed quota error: {small}"
    );
    assert_eq!(small["cas"][0]["ok"], false, "a exists: {small}");

    let plain = run_one(&host, "plain", &json!({ "incr": ["pages"], "cas": ["x"] }));
    for entry in [&plain["incr"][0], &plain["cas"][0]] {
        assert_eq!(entry["denied"], true, "{plain}");
    }
    assert_eq!(denied(&host, "small"), 1, "the quota refusal is counted");
    assert_eq!(denied(&host, "plain"), 2, "both denials are counted");
    assert_eq!(denied(&host, "count"), 0);
}

#[test]
fn kv_counts_exactly_across_two_hosts_on_redis() {
    let redis = RedisServer::start();
    let toml = redis_config(
        &redis,
        "[queues.count]\nconcurrency = 4\n[queues.count.grants]\nkv = true\n",
    );
    let hosts = start_hosts(2, &toml);
    let all: Vec<&HostProcess> = hosts.iter().collect();
    deploy(&hosts[0], "count");
    crate::redis::support::wait_version(&all, "count", 1);
    let payload = json!({ "incr": ["pages"], "cas": ["first"] });
    let ids = publish(&hosts[1], "count", &payload, N);
    let results = results(&hosts[0], &all, &ids);
    assert_counted_once_each(&results, N);
    let won = results.iter().filter(|r| r["cas"][0]["ok"] == true).count();
    assert_eq!(
        won, 1,
        "one compare-and-swap from absent wins over both hosts"
    );
    let ran: Vec<u64> = hosts
        .iter()
        .map(|h| crate::redis::support::ran_here(h, "count"))
        .collect();
    assert!(
        ran.iter().all(|&n| n > 0),
        "both hosts ran tasks (so both counted): {ran:?}"
    );
}

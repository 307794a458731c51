//! Helpers for the Redis tests: several real `wasmboost serve` processes on one harness
//! `redis-server`, their HTTP API, and task records read straight from Redis (one `MGET` per
//! thousand tasks instead of one HTTP request each). Every wait polls with a deadline.

use std::time::Duration;

use serde_json::Value;
use wasmboost_tests::host::{HostOptions, HostProcess};
use wasmboost_tests::redis::RedisServer;

/// Generous bound for anything that should take seconds on an idle machine.
pub const LONG: Duration = Duration::from_secs(120);

/// Config of a host on `redis`: `[broker] type = "redis"`, a short shutdown, then `extra`.
pub fn config(redis: &RedisServer, extra: &str) -> String {
    format!(
        "[host]\nshutdown_grace = \"5s\"\n[broker]\ntype = \"redis\"\nurl = \"{}\"\n{extra}",
        redis.url()
    )
}

/// Start `n` hosts with the same `toml` at once (starting is mostly waiting on a busy machine).
pub fn start_hosts(n: usize, toml: &str) -> Vec<HostProcess> {
    std::thread::scope(|s| {
        let starting: Vec<_> = (0..n)
            .map(|_| s.spawn(|| HostOptions::default().config(toml).start()))
            .collect();
        starting
            .into_iter()
            .map(|h| h.join().expect("a host starts"))
            .collect()
    })
}

pub use wasmboost_tests::poll::poll;

/// The last log lines of every host, for failure messages.
pub fn logs(hosts: &[&HostProcess]) -> String {
    hosts
        .iter()
        .enumerate()
        .map(|(i, h)| format!("--- host {i} log:\n{}", h.log()))
        .collect()
}

/// `PUT /v1/queues/<queue>/module` through `host`.
pub fn deploy(host: &HostProcess, queue: &str, wasm: &[u8]) {
    let (status, body) = host.http("PUT", &format!("/v1/queues/{queue}/module"), wasm);
    assert!((200..300).contains(&status), "deploy: {status} {body}");
}

/// Publish one JSON body per line through `host`; returns the task ids in order.
pub fn publish_batch(host: &HostProcess, queue: &str, bodies: &[String]) -> Vec<String> {
    try_publish_batch(host, queue, bodies)
        .unwrap_or_else(|err| panic!("publish to {queue}: {err}\n{}", host.log()))
}

/// [`publish_batch`], `Err` with the answer when the host did not accept it.
pub fn try_publish_batch(
    host: &HostProcess,
    queue: &str,
    bodies: &[String],
) -> Result<Vec<String>, String> {
    let lines: String = bodies.iter().map(|b| format!("{b}\n")).collect();
    let path = format!("/v1/queues/{queue}/messages:batch");
    let (status, body) = host.http("POST", &path, lines.as_bytes());
    if !(200..300).contains(&status) {
        return Err(format!("{status} {body}"));
    }
    let answer: Value = serde_json::from_str(&body).map_err(|e| format!("{e}: {body}"))?;
    let ids: Vec<String> = answer["task_ids"]
        .as_array()
        .ok_or_else(|| format!("no task_ids: {body}"))?
        .iter()
        .filter_map(|v| v.as_str().map(str::to_owned))
        .collect();
    assert_eq!(ids.len(), bodies.len(), "one id per message: {body}");
    Ok(ids)
}

/// `host`'s row of `queue` in `GET /v1/queues` (None while the host cannot answer).
pub fn queue_row(host: &HostProcess, queue: &str) -> Option<Value> {
    let (status, body) = host.http("GET", "/v1/queues", b"");
    if status != 200 {
        return None;
    }
    let rows: Vec<Value> = serde_json::from_str(&body).ok()?;
    rows.into_iter().find(|r| r["queue"] == queue)
}

/// A number field of a queue row (0 when absent).
pub fn field(row: &Value, name: &str) -> u64 {
    row[name].as_u64().unwrap_or(0)
}

/// Wait until every host has loaded `version` of `queue`'s module (from the shared registry).
pub fn wait_version(hosts: &[&HostProcess], queue: &str, version: u64) {
    for host in hosts {
        poll(
            &format!("{queue} v{version} on {}", host.addr()),
            LONG,
            || logs(hosts),
            || queue_row(host, queue).filter(|r| r["version"].as_u64() == Some(version)),
        );
    }
}

/// Wait until nothing of `queue` is queued, running or delayed and `succeeded` (a counter over
/// all hosts, flushed by each about once a second) reached `succeeded`; returns that row.
pub fn wait_drained(hosts: &[&HostProcess], queue: &str, succeeded: u64) -> Value {
    poll(
        &format!("{queue} to drain with {succeeded} succeeded"),
        LONG,
        || logs(hosts),
        || {
            queue_row(hosts[0], queue).filter(|r| {
                ["queued", "running", "delayed"]
                    .iter()
                    .all(|k| r[*k].as_u64() == Some(0))
                    && field(r, "succeeded") >= succeeded
            })
        },
    )
}

/// Attempts of `queue` that finished on this host (its own meter, not shared).
pub fn ran_here(host: &HostProcess, queue: &str) -> u64 {
    let (status, body) = host.http("GET", &format!("/v1/queues/{queue}/history"), b"");
    assert_eq!(status, 200, "history: {body}");
    let history: Value = serde_json::from_str(&body).expect("history is JSON");
    history["per_minute"]
        .as_array()
        .expect("per-minute buckets")
        .iter()
        .map(|b| field(b, "succeeded") + field(b, "failed"))
        .sum()
}

/// The stored records of `ids` (key `wasmboost:t:<id>`: one flag byte, then the record's
/// JSON), `None` where there is none.
pub fn records(redis: &RedisServer, ids: &[String]) -> Vec<Option<Value>> {
    let mut out = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(1000) {
        let keys: Vec<String> = chunk.iter().map(|id| format!("wasmboost:t:{id}")).collect();
        let mut args = vec!["MGET"];
        args.extend(keys.iter().map(String::as_str));
        let text = redis.cli(&args);
        let values: Vec<&str> = text.lines().collect();
        assert_eq!(values.len(), chunk.len(), "one MGET line per key:\n{text}");
        out.extend(
            values
                .iter()
                .map(|v| v.get(1..).and_then(|json| serde_json::from_str(json).ok())),
        );
    }
    out
}

/// Wait until every task of `ids` has a terminal record; returns them in order.
pub fn terminal_records(redis: &RedisServer, hosts: &[&HostProcess], ids: &[String]) -> Vec<Value> {
    poll(
        &format!("{} terminal records", ids.len()),
        LONG,
        || {
            let missing = records(redis, ids)
                .iter()
                .zip(ids)
                .filter(|(r, _)| !r.as_ref().is_some_and(is_terminal))
                .map(|(r, id)| format!("{id}: {r:?}"))
                .take(5)
                .collect::<Vec<_>>();
            format!("first not terminal: {missing:#?}\n{}", logs(hosts))
        },
        || {
            let all = records(redis, ids);
            all.iter()
                .all(|r| r.as_ref().is_some_and(is_terminal))
                .then(|| all.into_iter().flatten().collect())
        },
    )
}

fn is_terminal(record: &Value) -> bool {
    [
        "succeeded",
        "failed",
        "dead_lettered",
        "expired",
        "skipped_duplicate",
    ]
    .iter()
    .any(|s| record["state"] == *s)
}

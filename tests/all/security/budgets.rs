//! Budgets belong to the operator: a message's `extra` may lower a queue's `timeout`, `fuel`,
//! `memory`, `max_retries` and the priority it publishes at, never raise them past the queue's
//! `message_ceiling` (which defaults to the queue's own value).
//!
//! - Through the API every field over its ceiling is a 400 naming the field and the ceiling.
//! - A message written straight into Redis (a foreign producer, no publish check) is capped at
//!   the worker: a spinning guest on a `timeout = "1s"` queue stops at about 1 s whatever its
//!   `timeout_ms`, burns no more fuel than the queue's, and two such messages cannot hold a
//!   concurrency-2 queue.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use wasmboost_tests::guests;
use wasmboost_tests::host::{HostOptions, HostProcess};
use wasmboost_tests::poll::poll;
use wasmboost_tests::redis::RedisServer;

/// Generous bound for anything that should take seconds on an idle machine.
const LONG: Duration = Duration::from_secs(120);

/// A queue whose every budget is small, and whose priority ceiling is 5.
const TIGHT: &str = r#"
[queues.tight]
timeout = "1s"
fuel = 1000000
memory = "2MiB"
max_retries = 1
[queues.tight.message_ceiling]
priority = 5

[queues.wide]
timeout = "1s"
[queues.wide.message_ceiling]
timeout = "1m"
"#;

fn publish(host: &HostProcess, path: &str, body: &Value) -> (u16, String) {
    host.http("POST", path, body.to_string().as_bytes())
}

#[test]
fn each_override_over_its_ceiling_is_refused_naming_field_and_ceiling() {
    let host = HostOptions::default().config(TIGHT).start();
    let over = [
        (json!({"timeout_ms": 1001}), "extra.timeout_ms", "1000"),
        (json!({"timeout_ms": u64::MAX}), "extra.timeout_ms", "1000"),
        (json!({"fuel": 1_000_001}), "extra.fuel", "1000000"),
        (json!({"memory_mb": 3}), "extra.memory_mb", "2"),
        (json!({"max_retries": 2}), "extra.max_retries", "1"),
        (json!({"priority": 6}), "priority", "5"),
    ];
    for (extra, field, ceiling) in &over {
        let body = json!({"x": 1, "extra": extra});
        let (status, answer) = publish(&host, "/v1/queues/tight/messages", &body);
        assert_eq!(status, 400, "{extra}: {answer}");
        let answer: Value = serde_json::from_str(&answer).expect("a JSON error body");
        let message = answer["error"]["message"].as_str().unwrap_or_default();
        assert_eq!(answer["error"]["code"], "over_budget", "{answer}");
        assert!(
            message.contains(field) && message.contains(&format!("ceiling of {ceiling}")),
            "{extra}: the error names {field} and its ceiling {ceiling}: {message}"
        );
        // The same message inside a batch fails the whole batch.
        let lines = format!("{{\"x\":0}}\n{body}\n");
        let (status, answer) =
            host.http("POST", "/v1/queues/tight/messages:batch", lines.as_bytes());
        assert_eq!(status, 400, "batch with {extra}: {answer}");
        assert!(answer.contains(field), "{answer}");
    }
    let (status, answer) = publish(&host, "/v1/queues/tight/messages?priority=6", &json!({}));
    assert_eq!(status, 400, "?priority=6: {answer}");
    assert!(
        answer.contains("priority") && answer.contains("5"),
        "{answer}"
    );

    // At the ceiling, below it, and within an explicit ceiling: accepted.
    let at = json!({"extra": {"timeout_ms": 1000, "fuel": 1_000_000, "memory_mb": 2,
                              "max_retries": 1, "priority": 5}});
    let (status, answer) = publish(&host, "/v1/queues/tight/messages", &at);
    assert_eq!(status / 100, 2, "at the ceiling: {answer}");
    let below = json!({"extra": {"timeout_ms": 10, "fuel": 5, "max_retries": 0}});
    let (status, answer) = publish(&host, "/v1/queues/tight/messages", &below);
    assert_eq!(status / 100, 2, "below: {answer}");
    let raised = json!({"extra": {"timeout_ms": 60_000}});
    let (status, answer) = publish(&host, "/v1/queues/wide/messages", &raised);
    assert_eq!(status / 100, 2, "within message_ceiling.timeout: {answer}");
    let (status, answer) = publish(
        &host,
        "/v1/queues/wide/messages",
        &json!({"extra": {"timeout_ms": 60_001}}),
    );
    assert_eq!(status, 400, "over message_ceiling.timeout: {answer}");
    assert!(answer.contains("60000"), "{answer}");
}

/// Add one entry to `queue`'s stream with the real `redis-cli XADD`, as a foreign producer
/// would. The only place these tests name a Redis key: follow the broker's key layout here.
fn xadd_raw(redis: &RedisServer, queue: &str, id: &str, body: &Value) {
    let stream = format!("wasmboost:q:{{{queue}}}:stream");
    let body = body.to_string();
    redis.cli(&[
        "XADD",
        stream.as_str(),
        "*",
        "id",
        id,
        "body",
        body.as_str(),
    ]);
}

fn redis_host(redis: &RedisServer, queues: &str) -> HostProcess {
    let toml = format!(
        "[host]\nshutdown_grace = \"5s\"\n[broker]\ntype = \"redis\"\nurl = \"{}\"\n{queues}",
        redis.url()
    );
    HostOptions::default().config(toml).start()
}

fn deploy(host: &HostProcess, queue: &str, guest: &str) {
    let path = format!("/v1/queues/{queue}/module");
    let (status, body) = host.http("PUT", &path, &guests::guest_bytes(guest));
    assert!(
        (200..300).contains(&status),
        "deploy {guest}: {status} {body}"
    );
}

/// The record of `id` once it is terminal.
fn terminal(host: &HostProcess, id: &str) -> Value {
    poll(
        &format!("task {id} to finish"),
        LONG,
        || host.log(),
        || {
            let (status, body) = host.http("GET", &format!("/v1/tasks/{id}"), b"");
            let record: Value = serde_json::from_str(&body).ok()?;
            let done = ["succeeded", "failed", "dead_lettered"]
                .iter()
                .any(|s| record["state"] == *s);
            (status == 200 && done).then_some(record)
        },
    )
}

#[test]
fn budgets_asked_straight_through_redis_are_capped_at_the_worker() {
    let redis = RedisServer::start();
    let host = redis_host(
        &redis,
        r#"
[queues.spin]
timeout = "1s"
max_retries = 0
[queues.burn]
timeout = "60s"
fuel = 5000000
max_retries = 0
"#,
    );
    deploy(&host, "spin", "spin");
    deploy(&host, "burn", "spin");

    // 24 h asked on a 1 s queue: stops at about 1 s.
    let huge = json!({"extra": {"timeout_ms": 86_400_000u64, "fuel": u64::MAX}});
    xadd_raw(&redis, "spin", "huge-timeout", &huge);
    let record = terminal(&host, "huge-timeout");
    assert_eq!(record["state"], "dead_lettered", "{record}");
    let ran = Duration::from_micros(record["duration_us"].as_u64().unwrap_or(u64::MAX));
    assert!(
        ran < Duration::from_secs(5),
        "the queue's 1 s timeout held, not the message's 24 h: ran {ran:?}\n{record}"
    );
    assert!(
        record["error"]
            .as_str()
            .unwrap_or_default()
            .contains("timeout"),
        "{record}"
    );

    // Endless fuel asked on a queue of 5 000 000: out of fuel at the queue's budget.
    xadd_raw(&redis, "burn", "huge-fuel", &huge);
    let record = terminal(&host, "huge-fuel");
    let fuel = record["fuel_used"].as_u64().unwrap_or(u64::MAX);
    assert!(
        fuel <= 5_000_000,
        "fuel used {fuel} is over the queue's\n{record}"
    );
    assert!(
        record["error"]
            .as_str()
            .unwrap_or_default()
            .contains("fuel"),
        "{record}"
    );
    let log = host.log();
    assert!(
        log.contains("capped at the ceiling"),
        "the cap is logged:\n{log}"
    );
}

#[test]
fn two_day_long_messages_cannot_hold_a_concurrency_2_queue() {
    let redis = RedisServer::start();
    let host = redis_host(
        &redis,
        "[queues.pair]\nconcurrency = 2\ntimeout = \"1s\"\nmax_retries = 0\n",
    );
    deploy(&host, "pair", "sleep");
    let day = json!({"ms": 86_400_000u64, "extra": {"timeout_ms": 86_400_000u64}});
    xadd_raw(&redis, "pair", "hog-1", &day);
    xadd_raw(&redis, "pair", "hog-2", &day);
    let started = Instant::now();
    for i in 0..4 {
        xadd_raw(&redis, "pair", &format!("quick-{i}"), &json!({"ms": 1}));
    }
    for i in 0..4 {
        let record = terminal(&host, &format!("quick-{i}"));
        assert_eq!(record["state"], "succeeded", "{record}");
    }
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "normal tasks ran once the hogs hit the queue's 1 s timeout: {:?}",
        started.elapsed()
    );
    for hog in ["hog-1", "hog-2"] {
        let record = terminal(&host, hog);
        assert_eq!(record["state"], "dead_lettered", "{record}");
    }
}

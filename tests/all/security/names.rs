//! Namespaces that cannot collide (issue 11), through the real binary on real servers:
//!
//! - Redis: every word of the key layout used as a task id (publishing to another queue) and as
//!   a queue name loses nothing of queue `task` (messages, binding, pause flag); `/v1/queues`
//!   keeps answering 200.
//! - Bad queue names anywhere in the HTTP API answer 400 `bad_queue_name`, never 500.
//! - `?task_id=` follows the same rule as `extra.task_id`: control characters, whitespace,
//!   non-ASCII and 129 characters are a 400 and publish nothing.
//! - A raw `redis-cli XADD` whose task id breaks the rule is dead-lettered with the reason and
//!   the next message runs.
//! - RabbitMQ: a queue cannot be named like another queue's DLQ; queues `x` and `x.dlq` are kept
//!   apart.

use serde_json::{Value, json};
use wasmboost_tests::guests;
use wasmboost_tests::host::{HostOptions, HostProcess};
use wasmboost_tests::rabbit::shared_node;
use wasmboost_tests::redis::RedisServer;

use crate::redis::support::{
    LONG, config, deploy, field, poll, queue_row, terminal_records, wait_version,
};

/// Every word of the Redis key layouts (1 and 2) and of the RabbitMQ names.
const WORDS: [&str; 27] = [
    "stream",
    "stream:1",
    "stream:9",
    "delayed",
    "parked",
    "dead",
    "reclaim",
    "dedup",
    "dedup:k",
    "binding",
    "counters",
    "rate",
    "task",
    "done",
    "module",
    "host",
    "hosts",
    "paused",
    "bound",
    "layout",
    "migrating",
    "q",
    "t",
    "d",
    "m",
    "h",
    "g",
];

/// Percent-encode everything but unreserved characters, for a query value.
fn enc(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

fn publish_as(
    host: &HostProcess,
    queue: &str,
    task_id: Option<&str>,
    body: &Value,
) -> (u16, String) {
    let query = task_id
        .map(|id| format!("?task_id={}", enc(id)))
        .unwrap_or_default();
    host.http(
        "POST",
        &format!("/v1/queues/{queue}/messages{query}"),
        body.to_string().as_bytes(),
    )
}

fn error_code(body: &str) -> String {
    serde_json::from_str::<Value>(body)
        .ok()
        .and_then(|v| v["error"]["code"].as_str().map(str::to_owned))
        .unwrap_or_default()
}

#[test]
fn key_layout_words_as_task_ids_and_queue_names_lose_nothing_on_redis() {
    let redis = RedisServer::start();
    // `task` is a key-layout word too, but it is the victim queue here: it gets its five
    // messages below and no extra one as an attacker.
    let word_queues: Vec<&str> = WORDS
        .iter()
        .copied()
        .filter(|w| !w.contains(':') && *w != "task")
        .collect();
    // A set, so no table is declared twice (TOML refuses that).
    let declared: String = ["task", "other"]
        .iter()
        .chain(&word_queues)
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .map(|q| format!("[queues.{q}]\n"))
        .collect();
    let host = HostOptions::default()
        .config(config(&redis, &declared))
        .start();
    let add = guests::example_bytes("add");
    deploy(&host, "task", &add);
    deploy(&host, "other", &add);
    wait_version(&[&host], "task", 1);
    wait_version(&[&host], "other", 1);

    // Queue `task` holds five waiting messages (paused) and its binding.
    let (status, body) = host.http("POST", "/v1/queues/task/pause", b"");
    assert_eq!(status, 200, "pause: {body}");
    let kept: Vec<String> = (0..5).map(|i| format!("kept-{i}")).collect();
    for (i, id) in kept.iter().enumerate() {
        let (status, body) = publish_as(&host, "task", Some(id), &json!({"x": i, "y": 1}));
        assert_eq!(status, 202, "publish {id}: {body}");
    }

    // The attack: every word as a task id of another queue, in the query and in `extra`, and
    // as a queue name of its own.
    for word in WORDS {
        let (status, body) = publish_as(&host, "other", Some(word), &json!({"x": 1, "y": 2}));
        assert_eq!(status, 202, "task id {word:?}: {body}");
        let in_extra = json!({"x": 1, "y": 2, "extra": {"task_id": format!("{word}:x")}});
        let (status, body) = publish_as(&host, "other", None, &in_extra);
        assert_eq!(status, 202, "extra.task_id {word:?}:x: {body}");
    }
    for queue in &word_queues {
        let (status, body) = publish_as(
            &host,
            queue,
            Some(&format!("in-{queue}")),
            &json!({"x": 0, "y": 0}),
        );
        assert_eq!(status, 202, "queue {queue:?}: {body}");
    }

    let (status, body) = host.http("GET", "/v1/queues", b"");
    assert_eq!(status, 200, "/v1/queues after the attack: {body}");
    // A fetch under way when the pause came hands its batch back: poll until it is queued.
    let row = poll(
        "queue task's five messages",
        LONG,
        || format!("row: {:?}\n{}", queue_row(&host, "task"), host.log()),
        || queue_row(&host, "task").filter(|r| field(r, "queued") == 5),
    );
    assert_eq!(row["paused"], true, "the pause flag survived: {row}");
    for queue in &word_queues {
        poll(
            &format!("queue {queue}'s message"),
            LONG,
            || host.log(),
            || queue_row(&host, queue).filter(|r| field(r, "queued") == 1),
        );
    }
    let (status, body) = host.http("GET", "/v1/queues/task/versions", b"");
    assert_eq!(status, 200, "versions: {body}");
    assert!(
        body.contains("\"number\":1"),
        "the binding survived: {body}"
    );

    // Every attacking task ran and has its own record; then queue `task` runs all of its own.
    let attack: Vec<String> = WORDS
        .iter()
        .flat_map(|w| [(*w).to_owned(), format!("{w}:x")])
        .collect();
    for record in terminal_records(&redis, &[&host], &attack) {
        assert_eq!(
            (record["state"].as_str(), record["queue"].as_str()),
            (Some("succeeded"), Some("other")),
            "{record}"
        );
    }
    let (status, body) = host.http("POST", "/v1/queues/task/resume", b"");
    assert_eq!(status, 200, "resume: {body}");
    let records = terminal_records(&redis, &[&host], &kept);
    for (i, record) in records.iter().enumerate() {
        assert_eq!(record["state"], "succeeded", "{record}");
        assert_eq!(record["result"], json!(i + 1), "{record}");
    }
}

/// Every route that takes a queue, with `name` (already percent-encoded where needed).
fn queue_routes(name: &str) -> Vec<(&'static str, String)> {
    vec![
        ("POST", format!("/v1/queues/{name}/messages")),
        ("POST", format!("/v1/queues/{name}/messages:batch")),
        ("PUT", format!("/v1/queues/{name}/module")),
        ("GET", format!("/v1/queues/{name}/versions")),
        ("POST", format!("/v1/queues/{name}/rollback")),
        ("POST", format!("/v1/queues/{name}/pause")),
        ("POST", format!("/v1/queues/{name}/resume")),
        ("GET", format!("/v1/queues/{name}/history")),
        ("GET", format!("/v1/queues/{name}/dlq")),
        ("DELETE", format!("/v1/queues/{name}/dlq")),
        ("POST", format!("/v1/queues/{name}/dlq/replay")),
    ]
}

fn assert_bad_queue_names_are_400(host: &HostProcess) {
    let long = "q".repeat(10_000);
    let names = [
        "a%2Fb",
        long.as_str(),
        "%00",
        "a%00b",
        ".",
        "..",
        "...",
        "%2E%2E",
        "a%20b",
        "a:b",
        "%7Bq%7D",
        "",
        "wasmboost.x.dlq",
        "amq.gen",
        "%C3%A9",
    ];
    for name in names {
        for (method, path) in queue_routes(name) {
            let body: &[u8] = if method == "PUT" { b"\0asm" } else { b"{}" };
            let (status, text) = host.http(method, &path, body);
            let shown = &path[..path.len().min(80)];
            assert_eq!(
                (status, error_code(&text).as_str()),
                (400, "bad_queue_name"),
                "{method} {shown}: {}",
                &text[..text.len().min(300)]
            );
        }
    }
    let (status, body) = host.http("GET", "/v1/queues", b"");
    assert_eq!(status, 200, "{body}");
}

#[test]
fn bad_queue_names_answer_400_bad_queue_name_on_every_route() {
    let host = HostProcess::start();
    assert_bad_queue_names_are_400(&host);
    let redis = RedisServer::start();
    let on_redis = HostOptions::default().config(config(&redis, "")).start();
    assert_bad_queue_names_are_400(&on_redis);
}

#[test]
fn task_ids_from_the_query_follow_the_task_id_rule() {
    let host = HostOptions::default().config("[queues.idq]\n").start();
    let bad = [
        "a\nb".to_owned(),
        "a\rb".to_owned(),
        "a b".to_owned(),
        "tab\t".to_owned(),
        "nul\0".to_owned(),
        "del\x7f".to_owned(),
        "é".to_owned(),
        "rtl\u{202e}".to_owned(),
        "x".repeat(129),
    ];
    for id in &bad {
        let (status, body) = publish_as(&host, "idq", Some(id), &json!({"x": 1}));
        assert_eq!(
            (status, error_code(&body).as_str()),
            (400, "bad_task_id"),
            "?task_id={id:?}: {body}"
        );
        assert!(!body.contains('\n'), "the answer escapes the id: {body}");
        let in_extra = json!({"x": 1, "extra": {"task_id": id}});
        let (status, body) = publish_as(&host, "idq", None, &in_extra);
        assert_eq!(status, 400, "extra.task_id {id:?}: {body}");
        assert!(body.contains("extra.task_id"), "{body}");
    }
    // `+` is a space in a query string.
    let (status, body) = host.http("POST", "/v1/queues/idq/messages?task_id=a+b", b"{}");
    assert_eq!(
        (status, error_code(&body).as_str()),
        (400, "bad_task_id"),
        "{body}"
    );
    for path in [
        "/v1/tasks/a%20b",
        "/v1/tasks/a%0Ab/result",
        &format!("/v1/tasks/{}", "x".repeat(129)),
    ] {
        let (status, body) = host.http("GET", path, b"");
        assert_eq!(
            (status, error_code(&body).as_str()),
            (400, "bad_task_id"),
            "{path}: {body}"
        );
    }
    let row = queue_row(&host, "idq").expect("queue idq listed");
    assert_eq!(field(&row, "queued"), 0, "nothing was published: {row}");
    let longest = "x".repeat(128);
    let (status, body) = publish_as(&host, "idq", Some(&longest), &json!({"x": 1}));
    assert_eq!(status, 202, "128 characters is fine: {body}");
}

#[test]
fn a_raw_xadd_with_a_bad_task_id_is_dead_lettered_and_the_next_runs() {
    let redis = RedisServer::start();
    let host = HostOptions::default()
        .config(config(&redis, "[queues.add]\n"))
        .start();
    deploy(&host, "add", &guests::example_bytes("add"));
    wait_version(&[&host], "add", 1);
    let xadd = |fields: &[&str]| {
        let mut args = vec!["XADD", "wasmboost:q:{add}:stream", "*"];
        args.extend_from_slice(fields);
        redis.cli(&args)
    };
    xadd(&["id", "bad id\n", "body", r#"{"x":1,"y":1}"#]);
    xadd(&[
        "id",
        "raw-2",
        "body",
        r#"{"x":2,"y":2,"extra":{"task_id":"bad\u0000id"}}"#,
    ]);
    xadd(&["id", "raw-ok", "body", r#"{"x":40,"y":2}"#]);

    let ok = terminal_records(&redis, &[&host], &["raw-ok".to_owned()]);
    assert_eq!(
        (ok[0]["state"].as_str(), &ok[0]["result"]),
        (Some("succeeded"), &json!(42)),
        "{}",
        ok[0]
    );
    let letters = poll(
        "two dead letters",
        LONG,
        || host.log(),
        || {
            let (status, body) = host.http("GET", "/v1/queues/add/dlq", b"");
            let list: Vec<Value> = serde_json::from_str(&body).ok()?;
            (status == 200 && list.len() == 2).then_some(list)
        },
    );
    for letter in &letters {
        let reason = letter["reason"].as_str().unwrap_or_default();
        assert!(
            reason.contains("invalid task id"),
            "the reason names the rule: {letters:#?}"
        );
    }
    let stored = redis.cli(&["EXISTS", "wasmboost:t:bad id\n"]);
    assert_eq!(stored.trim(), "0", "no record under a bad id");
    assert!(
        !host.log().contains("bad id\n"),
        "the id never reaches the log raw"
    );
}

#[test]
fn rabbitmq_queue_names_cannot_collide() {
    let q = "names_x";
    let dlq_like = format!("{q}.dlq");
    let extra = format!("[queues.{q}]\n[queues.\"{dlq_like}\"]\n");
    let host = HostOptions::default()
        .config(format!(
            "[broker]\ntype = \"amqp\"\nurl = {:?}\n{extra}",
            shared_node().amqp_url()
        ))
        .start();
    // The names of `names_x`'s own RabbitMQ objects are not queue names.
    for taken in [
        format!("wasmboost.{q}.dlq"),
        format!("wasmboost.{q}.delay.100"),
        "amq.x".to_owned(),
    ] {
        let (status, body) = host.http(
            "PUT",
            &format!("/v1/queues/{taken}/module"),
            &guests::guest_bytes("flaky"),
        );
        assert_eq!(
            (status, error_code(&body).as_str()),
            (400, "bad_queue_name"),
            "{taken}: {body}"
        );
    }
    // `x` and `x.dlq` are two queues with two DLQs.
    for queue in [q, dlq_like.as_str()] {
        let (status, body) = host.http(
            "PUT",
            &format!("/v1/queues/{queue}/module"),
            &guests::guest_bytes("flaky"),
        );
        assert!(
            (200..300).contains(&status),
            "deploy {queue}: {status} {body}"
        );
    }
    let (status, body) = publish_as(
        &host,
        q,
        Some("names-dead"),
        &json!({"mode": "dead_letter"}),
    );
    assert_eq!(status, 202, "{body}");
    let (status, body) = publish_as(&host, &dlq_like, Some("names-ok"), &json!({"mode": "ok"}));
    assert_eq!(status, 202, "{body}");
    for (id, state) in [("names-dead", "dead_lettered"), ("names-ok", "succeeded")] {
        poll(
            &format!("{id} {state}"),
            LONG,
            || host.log(),
            || {
                let (status, body) = host.http("GET", &format!("/v1/tasks/{id}"), b"");
                let record: Value = serde_json::from_str(&body).ok()?;
                (status == 200 && record["state"] == state).then_some(())
            },
        );
    }
    let dlq_len = |queue: &str| {
        let (status, body) = host.http("GET", &format!("/v1/queues/{queue}/dlq"), b"");
        assert_eq!(status, 200, "{body}");
        serde_json::from_str::<Vec<Value>>(&body)
            .map(|l| l.len())
            .unwrap_or(usize::MAX)
    };
    poll(
        "the dead letter in names_x's DLQ",
        LONG,
        || host.log(),
        || (dlq_len(q) == 1).then_some(()),
    );
    assert_eq!(dlq_len(&dlq_like), 0, "queue {dlq_like} is not {q}'s DLQ");
}

//! Grants through `wasmboost.toml` on the real binary: a queue's grants reach its tasks and no
//! other queue's, refusals are counted in `wasmboost queues --json`, the grants are shown there
//! with secrets by source only, and a secret's value appears in no record, error or log line.

use std::time::Duration;

use serde_json::{Value, json};
use wasmboost_tests::guests;
use wasmboost_tests::host::{HostOptions, HostProcess};
use wasmboost_tests::web::WebServer;

/// The secret's value: must never leave the guest's hands.
const SECRET: &str = "tok-5e6b1c0a9d";
const SECRET_VAR: &str = "WASMBOOST_TEST_GRANTS_SECRET";

fn poll<T>(what: &str, host: &HostProcess, f: impl FnMut() -> Option<T>) -> T {
    wasmboost_tests::poll::poll(
        what,
        Duration::from_secs(60),
        || format!("host log:\n{}", host.log()),
        f,
    )
}

fn run_task(host: &HostProcess, queue: &str, payload: &Value) -> Value {
    let (status, body) = host.http(
        "POST",
        &format!("/v1/queues/{queue}/messages"),
        payload.to_string().as_bytes(),
    );
    assert!((200..300).contains(&status), "publish: {status} {body}");
    let id = serde_json::from_str::<Value>(&body).expect("json")["task_id"]
        .as_str()
        .expect("a task id")
        .to_owned();
    poll("the task to finish", host, || {
        let (_, body) = host.http("GET", &format!("/v1/tasks/{id}"), b"");
        let record: Value = serde_json::from_str(&body).ok()?;
        matches!(
            record["state"].as_str(),
            Some("succeeded" | "failed" | "dead_lettered")
        )
        .then_some(record)
    })
}

fn result_of(record: &Value) -> Value {
    let text = record["result"].as_str().map(str::to_owned);
    match text {
        Some(text) => serde_json::from_str(&text).unwrap_or(Value::String(text)),
        None => record["result"].clone(),
    }
}

#[test]
fn grants_from_the_config_reach_only_their_queue_and_secrets_stay_hidden() {
    let site = WebServer::start(1);
    let config = format!(
        r#"
[queues.crawl.grants]
http = ["{base}"]
http_max_requests = 5
config = {{ USER_AGENT = "wasmboost-crawler" }}
secrets = {{ API_KEY = {{ env = "{SECRET_VAR}" }} }}
publish_to = ["plain"]

[queues.plain]
concurrency = 2
"#,
        base = site.base()
    );
    let host = HostOptions::default()
        .config(config)
        .env(SECRET_VAR, SECRET)
        .env("RUST_LOG", "debug")
        .start();
    for queue in ["crawl", "plain"] {
        let (status, body) = host.http(
            "PUT",
            &format!("/v1/queues/{queue}/module"),
            &guests::guest_bytes("granted"),
        );
        assert!(
            (200..300).contains(&status),
            "deploy {queue}: {status} {body}"
        );
    }
    let payload = json!({
        "fetch": [format!("{}/small", site.base())],
        "config": ["USER_AGENT"],
        "secrets": ["API_KEY"],
    });
    let mut crawl_payload = payload.clone();
    crawl_payload["publish"] = json!([["plain", {"from": "crawl"}], ["crawl", {"again": true}]]);
    let crawl = run_task(&host, "crawl", &crawl_payload);
    let result = result_of(&crawl);
    assert_eq!(result["fetch"][0]["ok"]["status"], 200, "{crawl}");
    assert_eq!(result["config"][0]["ok"], "wasmboost-crawler", "{crawl}");
    assert_eq!(result["secrets"][0]["ok"], SECRET.len(), "{crawl}");
    // The follow-up to an allowed queue is a task with its own id; one to any other queue
    // (here the task's own) is refused.
    let follow_up = result["publish"][0]["ok"]
        .as_str()
        .expect("a task id")
        .to_owned();
    assert_eq!(result["publish"][1]["denied"], true, "{crawl}");
    let (status, body) = host.http("GET", &format!("/v1/tasks/{follow_up}"), b"");
    assert_eq!(status, 200, "the follow-up exists: {body}");
    assert!(body.contains("plain"), "{body}");
    // The same task on a queue without grants: everything refused, and counted there.
    let plain = run_task(&host, "plain", &payload);
    let result = result_of(&plain);
    for key in ["fetch", "config", "secrets"] {
        assert_eq!(result[key][0]["denied"], true, "{key}: {plain}");
    }
    assert_eq!(
        site.hits("/small"),
        1,
        "only the granted queue reached the site"
    );

    let out = host.cli(["queues", "--json"]);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "queues --json: {text} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rows: Vec<Value> = serde_json::from_str(&text).expect("queues --json is JSON");
    let row = |name: &str| {
        rows.iter()
            .find(|r| r["queue"] == name)
            .cloned()
            .unwrap_or_default()
    };
    assert_eq!(
        row("crawl")["grants"]["http"][0],
        site.base().as_str(),
        "{text}"
    );
    assert_eq!(
        row("crawl")["grants"]["secrets"]["API_KEY"]["env"],
        SECRET_VAR,
        "{text}"
    );
    assert_eq!(
        (
            row("crawl")["denied"].clone(),
            row("plain")["denied"].clone()
        ),
        (json!(1), json!(3)),
        "{text}"
    );
    assert!(row("plain").get("grants").is_none(), "{text}");

    for (what, text) in [
        ("queues --json", text),
        ("crawl record", crawl.to_string()),
        ("plain record", plain.to_string()),
        ("host log", host.log()),
    ] {
        assert!(!text.contains(SECRET), "the secret appears in the {what}");
    }
}

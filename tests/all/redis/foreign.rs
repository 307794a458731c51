//! Foreign producers: entries added with the real `redis-cli XADD` run like published
//! messages; an entry without a body and a body that is not JSON are dead-lettered with the
//! reason, and `wasmboost dlq list` shows both.

use serde_json::Value;
use wasmboost_tests::guests;
use wasmboost_tests::host::HostOptions;
use wasmboost_tests::redis::RedisServer;

use super::support::{
    LONG, config, deploy, field, poll, queue_row, terminal_records, wait_version,
};

#[test]
fn redis_cli_xadd_runs_and_malformed_entries_are_dead_lettered() {
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
    xadd(&["id", "cli-1", "body", r#"{"x":40,"y":2}"#]);
    xadd(&["body", r#"{"x":1,"y":1}"#]);
    xadd(&["note", "no body here"]);
    xadd(&["id", "cli-bad", "body", "not json"]);

    let ok = terminal_records(&redis, &[&host], &["cli-1".to_owned()]);
    assert_eq!(ok[0]["state"], "succeeded", "{}", ok[0]);
    assert_eq!(ok[0]["result"], 42, "{}", ok[0]);
    let bad = terminal_records(&redis, &[&host], &["cli-bad".to_owned()]);
    assert_eq!(bad[0]["state"], "dead_lettered", "{}", bad[0]);

    // The entry without an id ran too: two successes, two dead letters.
    poll(
        "both runs counted",
        LONG,
        || host.log(),
        || {
            queue_row(&host, "add")
                .filter(|r| field(r, "succeeded") == 2 && field(r, "dead_lettered") == 2)
        },
    );
    let out = host.cli(["dlq", "list", "add", "--json"]);
    assert!(out.status.success(), "dlq list: {out:?}");
    let letters: Vec<Value> = serde_json::from_slice(&out.stdout).expect("dlq list --json");
    assert_eq!(letters.len(), 2, "{letters:#?}");
    let reasons: Vec<&str> = letters
        .iter()
        .filter_map(|l| l["reason"].as_str())
        .collect();
    assert!(
        reasons.iter().any(|r| r.contains("no body field")),
        "the bodyless entry says why: {reasons:?}"
    );
    let bad_reason = letters
        .iter()
        .find(|l| l["message"]["id"] == "cli-bad")
        .and_then(|l| l["reason"].as_str())
        .unwrap_or_default();
    assert!(
        bad_reason.contains("malformed"),
        "the non-JSON body says why: {letters:#?}"
    );
    let text = host.cli(["dlq", "list", "add"]);
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(
        text.contains("cli-bad") && text.contains("no body field"),
        "{text}"
    );
}

//! Delivery policies on PostgreSQL through the host: poison → `max_retries + 1` attempts →
//! the dead table with the reason → replay; a delayed task on time; priority order; the
//! plain-SQL producer `SELECT wasmboost.publish(...)` run with `psql`.

use serde_json::json;
use wasmboost_tests::postgres::{PostgresServer, psql};

use super::support::{LONG, cli_json, deploy, poll, publish, record, record_in, start};

#[test]
fn poison_takes_max_retries_plus_one_attempts_is_dead_lettered_and_replays() {
    let server = PostgresServer::start();
    let queue = "pg_poison";
    let extra = format!(
        "[queues.{queue}]\nmax_retries = 2\nbackoff = {{ base = \"100ms\", max = \"200ms\" }}\n"
    );
    let mut host = start(&server, &extra);
    deploy(&host, queue, "flaky");
    let id = publish(&host, queue, "", &json!({"mode": "retry"}));
    let first = record_in(&host, &id, "dead_lettered");
    assert_eq!(first["attempts"], 3, "max_retries + 1 attempts: {first}");
    let reason = psql(
        &server.url(),
        "SELECT reason FROM wasmboost.dead WHERE queue = 'pg_poison'",
    );
    let reason = String::from_utf8_lossy(&reason.stdout).into_owned();
    assert!(
        reason.contains("3 attempts"),
        "the dead row has the reason: {reason:?}"
    );
    let listed = cli_json(&host, &["dlq", "list", queue]);
    let listed = listed.as_array().expect("a list");
    assert_eq!(listed.len(), 1, "{listed:?}");
    let replayed = cli_json(&host, &["dlq", "replay", queue]);
    assert_eq!(replayed["replayed"], 1, "{replayed}");
    let again = poll("the replayed task to end again", &host, LONG, || {
        record(&host, &id).filter(|r| {
            r["state"] == "dead_lettered"
                && r["finished_ms"].as_u64() > first["finished_ms"].as_u64()
        })
    });
    assert_eq!(
        again["attempts"], 3,
        "a replay starts the attempts again: {again}"
    );
    let status = host.stop();
    assert!(status.success(), "graceful stop exits 0: {status:?}");
}

#[test]
fn delayed_task_runs_on_time() {
    const COUNTDOWN_MS: i64 = 3000;
    let server = PostgresServer::start();
    let queue = "pg_delay";
    let mut host = start(&server, "");
    deploy(&host, queue, "echo_v1");
    let id = publish(&host, queue, "?countdown=3s", &json!({"x": 1}));
    let r = record_in(&host, &id, "succeeded");
    let published = r["published_ms"].as_i64().expect("published_ms");
    let started = r["started_ms"].as_i64().expect("started_ms");
    let late = started - (published + COUNTDOWN_MS);
    assert!(
        (-1000..=1000).contains(&late),
        "ran {late} ms from its due time: {r}"
    );
    assert!(late >= -5, "never early: {late} ms");
    let status = host.stop();
    assert!(status.success(), "graceful stop exits 0: {status:?}");
}

#[test]
fn higher_priority_runs_first() {
    let server = PostgresServer::start();
    let queue = "pg_prio";
    let mut host = start(&server, &format!("[queues.{queue}]\nconcurrency = 1\n"));
    // Paused while publishing, so all three wait and run in priority order.
    let out = host.cli(["pause", queue]);
    assert!(out.status.success(), "pause: {out:?}");
    deploy(&host, queue, "echo_v1");
    let low = publish(&host, queue, "?priority=0", &json!({"x": 0}));
    let high = publish(&host, queue, "?priority=9", &json!({"x": 9}));
    let mid = publish(&host, queue, "?priority=5", &json!({"x": 5}));
    let out = host.cli(["resume", queue]);
    assert!(out.status.success(), "resume: {out:?}");
    let started = |id: &str| record_in(&host, id, "succeeded")["started_ms"].as_u64();
    let (h, m, l) = (started(&high), started(&mid), started(&low));
    assert!(h <= m && m <= l, "9, 5, 0 in that order: {h:?} {m:?} {l:?}");
    let status = host.stop();
    assert!(status.success(), "graceful stop exits 0: {status:?}");
}

#[test]
fn a_psql_producer_runs_through_the_sql_function() {
    let server = PostgresServer::start();
    let queue = "add";
    let mut host = start(&server, "");
    deploy(&host, queue, "echo_v1");
    let out = psql(
        &server.url(),
        r#"SELECT wasmboost.publish('add', '{"x":1,"y":2}')"#,
    );
    assert!(out.status.success(), "psql publish: {out:?}");
    let id = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    let r = record_in(&host, &id, "succeeded");
    assert_eq!(r["attempts"], 1, "{r}");
    // A bad call is refused by the function, naming the value, and stores nothing.
    let bad = psql(&server.url(), "SELECT wasmboost.publish('add', '[1]')");
    assert!(!bad.status.success(), "a non-object body is refused");
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("must be a JSON object"),
        "{bad:?}"
    );
    let row = poll("the queue row", &host, LONG, || {
        super::support::queue_row(&host, queue)
    });
    assert_eq!(row["dead_lettered"].as_u64(), Some(0), "{row}");
    let status = host.stop();
    assert!(status.success(), "graceful stop exits 0: {status:?}");
}

//! Delivery policies on beanstalkd through the host: poison → `max_retries + 1` attempts →
//! buried with the reason → replay; a delayed task on time; priority order; a `greenstalk`
//! producer's JSON body run by the host.

use serde_json::json;
use wasmboost_tests::beanstalkd::{BeanstalkdServer, tube_stat};
use wasmboost_tests::producer;

use super::support::{LONG, cli_json, deploy, poll, publish, record, record_in, start};

#[test]
fn poison_takes_max_retries_plus_one_attempts_is_buried_and_replays() {
    let server = BeanstalkdServer::start();
    let queue = "bs_poison";
    let extra = format!(
        "[queues.{queue}]\nmax_retries = 2\nbackoff = {{ base = \"100ms\", max = \"200ms\" }}\n"
    );
    let mut host = start(&server, &extra);
    deploy(&host, queue, "flaky");
    let id = publish(&host, queue, "", &json!({"mode": "retry"}));
    let first = record_in(&host, &id, "dead_lettered");
    assert_eq!(first["attempts"], 3, "max_retries + 1 attempts: {first}");
    // The record and the bury are written together (state and queue are separate stores):
    // wait for the bury.
    poll("the job to be buried", &host, LONG, || {
        (tube_stat(&server.addr(), "wasmboost.bs_poison", "current-jobs-buried") == 1).then_some(())
    });
    let listed = cli_json(&host, &["dlq", "list", queue]);
    let listed = listed.as_array().expect("a list");
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert!(
        listed[0]["reason"]
            .as_str()
            .unwrap_or_default()
            .contains("3 attempts")
    );
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
    let server = BeanstalkdServer::start();
    let queue = "bs_delay";
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
    let server = BeanstalkdServer::start();
    let queue = "bs_prio";
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
fn a_greenstalk_producer_json_body_runs() {
    let server = BeanstalkdServer::start();
    let queue = "bs_foreign";
    let mut host = start(&server, "");
    deploy(&host, queue, "echo_v1");
    let Some(python) = producer::venv_with("greenstalk", "greenstalk") else {
        eprintln!("SKIPPED a_greenstalk_producer_json_body_runs: cannot pip install greenstalk");
        return;
    };
    let script = "import sys, greenstalk\n\
        with greenstalk.Client(('127.0.0.1', int(sys.argv[1])), use='wasmboost.bs_foreign') as c:\n\
        \x20   c.put('{\"x\": 41}')\n";
    let out = producer::run(&python, script, &[&server.port().to_string()]);
    assert!(out.status.success(), "greenstalk put: {out:?}");
    let row = poll("the foreign task to succeed", &host, LONG, || {
        super::support::queue_row(&host, queue)
            .filter(|r| r["succeeded"].as_u64().unwrap_or(0) >= 1)
    });
    assert_eq!(row["dead_lettered"].as_u64(), Some(0), "{row}");
    let status = host.stop();
    assert!(status.success(), "graceful stop exits 0: {status:?}");
}

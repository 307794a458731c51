//! A chord of 1 000 members survives two crashes of its host, on the embedded store and on
//! Redis: each member is joined once, the callback runs once, with every result in order (the
//! Celery chord failure mode is a join counter lost or counted twice by a crash).
//!
//! The first crash is placed by the host's test-only crash point (`WASMBOOST_FAULT=join=N`,
//! `host/worker/src/fault.rs`): the host aborts right after the fill that made the count `N`,
//! before that member's delivery is settled, so that member is always delivered and joined a
//! second time after the restart. The second is a kill -9 from outside while members run.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use wasmboost_tests::host::{HostOptions, HostProcess};
use wasmboost_tests::poll::poll;
use wasmboost_tests::redis::RedisServer;

use super::support::{LONG, deploy_calc, ended, show, submit};

const FAULT: &str = "WASMBOOST_FAULT";
const MEMBERS: i64 = 1000;
/// The join count at which the host aborts (inside the join-then-settle window).
const CRASH_AT_FILL: u64 = 400;
/// Members done when the test kills the host from outside.
const KILL_AT_DONE: u64 = 700;
const QUEUES: &str = "[queues.calc]\nconcurrency = 16\nlease = \"2s\"\n\
                      [queues.total]\nlease = \"2s\"\n";

/// Messages ever added to `queue`'s stream (a callback published twice would be two).
fn entries_added(redis: &RedisServer, queue: &str) -> u64 {
    let text = redis.cli(&[
        "XINFO",
        "STREAM",
        &format!("wasmboost:q:{{{queue}}}:stream"),
    ]);
    let lines: Vec<&str> = text.lines().collect();
    let at = lines
        .iter()
        .position(|l| *l == "entries-added")
        .unwrap_or_else(|| panic!("entries-added field in {text}"));
    lines[at + 1].trim().parse().expect("a number")
}

/// The `total` queue's succeeded counter (counted with the record in one step).
fn callbacks_succeeded(host: &HostProcess) -> Option<u64> {
    let (status, body) = host.http("GET", "/v1/queues", b"");
    (status == 200).then_some(())?;
    let rows: Vec<Value> = serde_json::from_str(&body).ok()?;
    rows.into_iter()
        .find(|r| r["queue"] == "total")
        .and_then(|r| r["succeeded"].as_u64())
}

/// Run the chord through both crashes; the host (running) and the ended workflow's info.
fn chord_through_two_crashes(toml: &str) -> (HostProcess, Value) {
    let fault = format!("join={CRASH_AT_FILL}");
    let mut host = HostOptions::default()
        .config(toml)
        .env(FAULT, fault.as_str())
        .start();
    deploy_calc(&host, &["calc", "total"]);
    let members: Vec<_> = (0..MEMBERS)
        .map(|i| json!({"queue": "calc", "args": {"op": "add", "x": i, "y": 0, "sleep_ms": 20}}))
        .collect();
    // `weighted` sums i * result[i]: with results 0..n that is sum(i^2) only when every member
    // is there once and in order (a sum alone would miss the order).
    let doc = json!({"chord": {
        "group": members,
        "callback": {"queue": "total", "args": {"op": "weighted"}, "arg": "values"}
    }});
    let started = Instant::now();
    let id = submit(&host, &doc);
    let status = host.wait_exit();
    assert!(
        !status.success(),
        "the crash point ended the host: {status}"
    );
    assert!(host.log().contains("crashing at join="), "{}", host.log());
    // Once: on the embedded store the aborted fill was never committed (it is written with
    // the step's settle), so the restarted host reaches the same count again.
    host.set_env(FAULT, None);
    host.restart();
    poll(
        &format!("{KILL_AT_DONE} members to be done"),
        LONG,
        || host.log(),
        || show(&host, &id).filter(|w| w["stages"][0]["done"].as_u64() >= Some(KILL_AT_DONE)),
    );
    host.kill9();
    host.restart();
    let info = ended(&host, &id);
    eprintln!(
        "a chord of {MEMBERS} through two crashes ended in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    assert_eq!(info["state"], "succeeded", "{info}");
    assert_eq!(info["stages"][0]["done"], MEMBERS, "{info}");
    assert_eq!(
        info["result"],
        (0..MEMBERS).map(|i| i * i).sum::<i64>(),
        "every member once, in order: {info}"
    );
    (host, info)
}

#[test]
fn a_chord_of_1000_joins_each_member_once_through_two_crashes_embedded() {
    let (host, _) = chord_through_two_crashes(QUEUES);
    let once = poll(
        "the callback's run to be counted",
        Duration::from_secs(10),
        || host.log(),
        || callbacks_succeeded(&host).filter(|n| *n >= 1),
    );
    assert_eq!(once, 1, "the callback ran once");
}

#[test]
fn a_chord_of_1000_joins_each_member_once_through_two_crashes_redis() {
    let redis = RedisServer::start();
    let toml = format!(
        "[host]\nshutdown_grace = \"5s\"\n[broker]\ntype = \"redis\"\nurl = \"{}\"\n{QUEUES}",
        redis.url()
    );
    let _ = chord_through_two_crashes(&toml);
    assert_eq!(
        entries_added(&redis, "total"),
        1,
        "the callback was published once"
    );
}

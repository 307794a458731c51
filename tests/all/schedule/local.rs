//! An interval and a cron schedule, each firing every second, on one host (embedded broker):
//! for a window of ~30 s every tick of each is published within 100 ms of its time, none is
//! missing and none runs twice.

use std::time::Duration;

use serde_json::Value;
use wasmboost_tests::guests;
use wasmboost_tests::host::{HostOptions, HostProcess};
use wasmboost_tests::poll::poll;

/// How many ticks of each schedule are checked (the whole test stays within ~30 s).
const WINDOW_TICKS: u64 = 26;
/// The bound on how far from its time a tick may be published.
const ON_TIME_MS: u64 = 100;
const LONG: Duration = Duration::from_secs(120);
/// The two schedules this test watches, both on the `echo` queue.
const NAMES: [&str; 2] = ["tick", "cron"];

pub const CONFIG: &str = "[queues.echo]\nconcurrency = 8\n\
[[schedules]]\nname = \"tick\"\nqueue = \"echo\"\nevery = \"1s\"\npayload = { n = 1 }\n\
[[schedules]]\nname = \"cron\"\nqueue = \"echo\"\ncron = \"* * * * * *\"\n\
tz = \"Europe/Berlin\"\npayload = { n = 2 }\n";

/// The `tick` schedule's row of `schedule list --json`.
pub fn schedule_row(host: &HostProcess) -> Option<Value> {
    row_named(host, "tick")
}

pub fn row_named(host: &HostProcess, name: &str) -> Option<Value> {
    let out = host.cli(["schedule", "list", "--json"]);
    if !out.status.success() {
        return None;
    }
    let rows: Vec<Value> = serde_json::from_slice(&out.stdout).ok()?;
    rows.into_iter().find(|r| r["name"] == name)
}

pub fn record(host: &HostProcess, id: &str) -> Option<Value> {
    let (status, body) = host.http("GET", &format!("/v1/tasks/{id}"), b"");
    (status == 200).then(|| serde_json::from_str(&body).expect("a record is JSON"))
}

pub fn succeeded_counter(host: &HostProcess) -> Option<u64> {
    let (status, body) = host.http("GET", "/v1/queues", b"");
    (status == 200).then_some(())?;
    let rows: Vec<Value> = serde_json::from_str(&body).ok()?;
    rows.into_iter()
        .find(|r| r["queue"] == "echo")
        .and_then(|r| r["succeeded"].as_u64())
}

/// The worst distance from its time of `name`'s ticks `from..=to`; panics on a missing tick
/// or one published more than [`ON_TIME_MS`] from its time.
fn check_window(host: &HostProcess, name: &str, from: u64, to: u64) -> u64 {
    let mut worst = 0;
    for tick in (from..=to).step_by(1000) {
        let id = format!("{name}@{tick}");
        let rec = record(host, &id).unwrap_or_else(|| panic!("tick {id} missing\n{}", host.log()));
        let published = rec["published_ms"].as_u64().expect("published");
        let off = published.abs_diff(tick);
        assert!(
            off <= ON_TIME_MS,
            "{id} published {off} ms from its time: {rec}"
        );
        worst = worst.max(off);
    }
    worst
}

/// Succeeded tick records of `name` from its first tick through `last` (plus a margin).
fn ran(host: &HostProcess, name: &str, from: u64, last: u64) -> u64 {
    let mut earliest = from;
    while record(host, &format!("{name}@{}", earliest - 1000)).is_some() {
        earliest -= 1000;
    }
    (earliest..=last + 5000)
        .step_by(1000)
        .filter(|t| record(host, &format!("{name}@{t}")).is_some_and(|r| r["state"] == "succeeded"))
        .count() as u64
}

#[test]
fn an_interval_and_a_cron_schedule_fire_each_tick_once_within_100_ms() {
    let host = HostOptions::default().config(CONFIG).start();
    let wasm = guests::guest_bytes("echo_v1");
    let (status, body) = host.http("PUT", "/v1/queues/echo/module", &wasm);
    assert!((200..300).contains(&status), "deploy: {status} {body}");
    // Start counting once a tick of each has run on the deployed module.
    let mut from = 0;
    for name in NAMES {
        let first = poll(
            &format!("a tick of {name} to succeed"),
            LONG,
            || host.log(),
            || row_named(&host, name).filter(|r| r["last_state"] == "succeeded"),
        );
        from = from.max(first["last_ms"].as_u64().expect("a last tick") + 1000);
    }
    let to = from + (WINDOW_TICKS - 1) * 1000;
    for name in NAMES {
        poll(
            &format!("{name}'s window to pass"),
            LONG,
            || host.log(),
            || row_named(&host, name).filter(|r| r["last_ms"].as_u64() >= Some(to)),
        );
    }
    for name in NAMES {
        let worst = check_window(&host, name, from, to);
        eprintln!(
            "embedded: {WINDOW_TICKS} ticks of the 1 s schedule {name}, the farthest published {worst} ms from its time"
        );
    }

    // None doubled: pause, let the runs settle, then the succeeded counter (counted with the
    // record in one step on the embedded store) equals the succeeded tick records.
    let out = host.cli(["pause", "echo"]);
    assert!(out.status.success(), "pause: {out:?}");
    let last: Vec<u64> = NAMES
        .iter()
        .map(|n| {
            row_named(&host, n)
                .and_then(|r| r["last_ms"].as_u64())
                .expect("last")
        })
        .collect();
    poll(
        "runs to settle, counter = succeeded ticks",
        Duration::from_secs(30),
        || host.log(),
        || {
            let ran: u64 = NAMES
                .iter()
                .zip(&last)
                .map(|(name, last)| ran(&host, name, from, *last))
                .sum();
            let counted = succeeded_counter(&host)?;
            (counted == ran && ran >= 2 * WINDOW_TICKS).then_some(())
        },
    );
}

//! A 1 s schedule on one host (embedded broker).

use std::time::Duration;

use serde_json::Value;
use wasmboost_tests::guests;
use wasmboost_tests::host::{HostOptions, HostProcess};
use wasmboost_tests::poll::poll;

/// How long the schedule is watched.
const WINDOW_TICKS: u64 = 15;
/// The bound on how late a tick may be published.
const ON_TIME_MS: u64 = 100;
const LONG: Duration = Duration::from_secs(120);

pub const CONFIG: &str = "[queues.echo]\nconcurrency = 8\n\
[[schedules]]\nname = \"tick\"\nqueue = \"echo\"\nevery = \"1s\"\npayload = { n = 1 }\n";

pub fn schedule_row(host: &HostProcess) -> Option<Value> {
    let out = host.cli(["schedule", "list", "--json"]);
    if !out.status.success() {
        return None;
    }
    let rows: Vec<Value> = serde_json::from_slice(&out.stdout).ok()?;
    rows.into_iter().find(|r| r["name"] == "tick")
}

pub fn record(host: &HostProcess, id: &str) -> Option<Value> {
    let (status, body) = host.http("GET", &format!("/v1/tasks/{id}"), b"");
    (status == 200).then(|| serde_json::from_str(&body).expect("a record is JSON"))
}

fn succeeded_counter(host: &HostProcess) -> Option<u64> {
    let (status, body) = host.http("GET", "/v1/queues", b"");
    (status == 200).then_some(())?;
    let rows: Vec<Value> = serde_json::from_str(&body).ok()?;
    rows.into_iter()
        .find(|r| r["queue"] == "echo")
        .and_then(|r| r["succeeded"].as_u64())
}

#[test]
fn every_second_each_tick_fires_once_on_time() {
    let host = HostOptions::default().config(CONFIG).start();
    let wasm = guests::guest_bytes("echo_v1");
    let (status, body) = host.http("PUT", "/v1/queues/echo/module", &wasm);
    assert!((200..300).contains(&status), "deploy: {status} {body}");
    // Start counting once a tick has run on the deployed module.
    let first = poll(
        "a tick to succeed",
        LONG,
        || host.log(),
        || schedule_row(&host).filter(|r| r["last_state"] == "succeeded"),
    );
    let from = first["last_ms"].as_u64().expect("a last tick") + 1000;
    let to = from + (WINDOW_TICKS - 1) * 1000;
    poll(
        "the window to pass",
        LONG,
        || host.log(),
        || schedule_row(&host).filter(|r| r["last_ms"].as_u64() >= Some(to)),
    );
    let mut worst = 0;
    for tick in (from..=to).step_by(1000) {
        let id = format!("tick@{tick}");
        let rec = record(&host, &id).unwrap_or_else(|| panic!("tick {id} missing\n{}", host.log()));
        let late = rec["published_ms"]
            .as_u64()
            .expect("published")
            .saturating_sub(tick);
        assert!(late <= ON_TIME_MS, "{id} published {late} ms late: {rec}");
        worst = worst.max(late);
    }
    eprintln!(
        "embedded: {WINDOW_TICKS} ticks of a 1 s schedule, the latest published {worst} ms after its time"
    );

    // None doubled: pause, let the runs settle, then the succeeded counter (counted with the
    // record in one step on the embedded store) equals the succeeded tick records.
    let out = host.cli(["pause", "echo"]);
    assert!(out.status.success(), "pause: {out:?}");
    let last = schedule_row(&host)
        .and_then(|r| r["last_ms"].as_u64())
        .expect("last");
    let mut earliest = from;
    while record(&host, &format!("tick@{}", earliest - 1000)).is_some() {
        earliest -= 1000;
    }
    poll(
        "runs to settle, counter = succeeded ticks",
        Duration::from_secs(30),
        || host.log(),
        || {
            let ran = (earliest..=last + 5000)
                .step_by(1000)
                .filter(|t| {
                    record(&host, &format!("tick@{t}")).is_some_and(|r| r["state"] == "succeeded")
                })
                .count() as u64;
            let counted = succeeded_counter(&host)?;
            (counted == ran && ran >= WINDOW_TICKS).then_some(())
        },
    );
}

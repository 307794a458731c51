//! Schedules managed at run time through the CLI (one host, embedded store): add fires, pause
//! stops the ticks, resume restarts them, run-now publishes at once, an added schedule survives
//! a restart, rm removes it; bad input is refused naming its cause.

use std::time::Duration;

use serde_json::Value;
use wasmboost_tests::guests;
use wasmboost_tests::host::{HostOptions, HostProcess};
use wasmboost_tests::poll::poll;

use super::local::record;

const LONG: Duration = Duration::from_secs(120);
const CONFIG: &str = "[queues.echo]\nconcurrency = 4\n\
[[schedules]]\nname = \"hourly\"\nqueue = \"echo\"\nevery = \"1h\"\n";

fn row(host: &HostProcess, name: &str) -> Option<Value> {
    let out = host.cli(["schedule", "list", "--json"]);
    let rows: Vec<Value> = serde_json::from_slice(&out.stdout).ok()?;
    rows.into_iter().find(|r| r["name"] == name)
}

fn ok(host: &HostProcess, args: &[&str]) -> String {
    let out = host.cli(args);
    assert!(out.status.success(), "{args:?}: {out:?}\n{}", host.log());
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn refused(host: &HostProcess, args: &[&str]) -> String {
    let out = host.cli(args);
    assert!(!out.status.success(), "{args:?} was accepted");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn last_ms(host: &HostProcess) -> u64 {
    row(host, "beat")
        .and_then(|r| r["last_ms"].as_u64())
        .unwrap_or(0)
}

#[test]
fn add_pause_resume_run_now_and_rm_at_run_time() {
    let mut host = HostOptions::default().config(CONFIG).start();
    let wasm = guests::guest_bytes("echo_v1");
    let (status, body) = host.http("PUT", "/v1/queues/echo/module", &wasm);
    assert!((200..300).contains(&status), "deploy: {status} {body}");
    ok(
        &host,
        &[
            "schedule",
            "add",
            "beat",
            "--queue",
            "echo",
            "--every",
            "1s",
            "--payload",
            r#"{"n":2}"#,
        ],
    );
    let first = poll(
        "an added schedule to fire",
        LONG,
        || host.log(),
        || row(&host, "beat").filter(|r| r["last_state"] == "succeeded"),
    );
    assert_eq!(first["source"], "runtime", "{first}");
    let id = first["last_task_id"].as_str().expect("a tick id");
    let tick = record(&host, id).expect("its record");
    assert_eq!(tick["result"]["payload"]["n"], 2, "{tick}");

    ok(&host, &["schedule", "pause", "beat"]);
    assert_eq!(row(&host, "beat").expect("listed")["paused"], true);
    // A round that read the document before the pause may still fire once.
    std::thread::sleep(Duration::from_millis(1500));
    let paused_at = last_ms(&host);
    std::thread::sleep(Duration::from_millis(2500));
    assert_eq!(last_ms(&host), paused_at, "no tick while paused");
    ok(&host, &["schedule", "resume", "beat"]);
    poll(
        "ticks again after resume",
        LONG,
        || host.log(),
        || (last_ms(&host) > paused_at).then_some(()),
    );

    let out = ok(&host, &["schedule", "run-now", "beat", "--json"]);
    let ran: Value = serde_json::from_str(&out).expect("json");
    let task_id = ran["task_id"].as_str().expect("a task id").to_owned();
    poll(
        "the run-now task to succeed",
        LONG,
        || host.log(),
        || record(&host, &task_id).filter(|r| r["state"] == "succeeded"),
    );

    host.restart();
    assert!(
        row(&host, "beat").is_some(),
        "an added schedule survives a restart"
    );
    ok(&host, &["schedule", "rm", "beat"]);
    assert!(row(&host, "beat").is_none(), "removed");

    let err = refused(
        &host,
        &[
            "schedule",
            "add",
            "bad",
            "--queue",
            "echo",
            "--cron",
            "99 * * * * *",
        ],
    );
    assert!(err.contains("cron"), "{err}");
    let err = refused(
        &host,
        &[
            "schedule", "add", "nowhere", "--queue", "nope", "--every", "1s",
        ],
    );
    assert!(err.contains("nope"), "{err}");
    let err = refused(
        &host,
        &[
            "schedule", "add", "hourly", "--queue", "echo", "--every", "1s",
        ],
    );
    assert!(err.contains("exists"), "{err}");
    let err = refused(&host, &["schedule", "rm", "hourly"]);
    assert!(err.contains("config"), "{err}");
    let err = refused(&host, &["schedule", "pause", "ghost"]);
    assert!(err.contains("ghost"), "{err}");
}

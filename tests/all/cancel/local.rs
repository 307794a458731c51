//! Cancel on one host (embedded broker, the real binary).

use std::time::Duration;

use wasmboost_tests::host::{HostOptions, HostProcess};

use super::support::{
    QUEUES, cancel, cancel_running, deploy, publish, record, stays_cancelled, wait_state,
};

fn host() -> HostProcess {
    HostOptions::default().config(QUEUES).start()
}

#[test]
fn a_queued_task_never_runs() {
    let host = host();
    deploy(&host, "echo", "echo_v1");
    let out = host.cli(["pause", "echo"]);
    assert!(out.status.success(), "pause: {out:?}");
    let doomed = publish(&host, "echo", r#"{"n":1}"#);
    let out = host.cli(["cancel", &doomed]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "cancel: {out:?}");
    assert!(
        text.contains("cancel requested") && text.contains("queued"),
        "{text}"
    );
    let out = host.cli(["resume", "echo"]);
    assert!(out.status.success(), "resume: {out:?}");
    // A task published after it runs: the queue works, and the cancelled one was fetched first.
    let later = publish(&host, "echo", r#"{"n":2}"#);
    wait_state(&[&host], &later, "succeeded");
    let done = wait_state(&[&host], &doomed, "cancelled");
    // Fetched once (attempt 1), never run: no start, no fuel, no result.
    assert!(done["started_ms"].is_null(), "never started: {done}");
    assert!(done["fuel_used"].is_null(), "never ran: {done}");
    assert!(done["result"].is_null(), "no result: {done}");
    // Cancelling it again changes nothing.
    let (again, _) = cancel(&host, &doomed);
    assert_eq!(again["requested"], false, "{again}");
    assert_eq!(again["state"], "cancelled", "{again}");
}

#[test]
fn a_spinning_guest_stops_within_50_ms_and_is_not_retried() {
    let host = host();
    deploy(&host, "spin", "spin");
    let id = publish(&host, "spin", "{}");
    wait_state(&[&host], &id, "running");
    let took = cancel_running(&host, &[&host], &id);
    eprintln!("embedded: a spinning guest stopped {took} ms after the cancel was sent");
    stays_cancelled(&[&host], &id, Duration::from_secs(3));
}

#[test]
fn cancel_through_the_cli_waits_for_the_end_and_a_finished_task_is_left_alone() {
    let host = host();
    deploy(&host, "sleep", "sleep");
    deploy(&host, "echo", "echo_v1");
    let id = publish(&host, "sleep", r#"{"ms":60000}"#);
    wait_state(&[&host], &id, "running");
    let out = host.cli(["cancel", &id, "--wait"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "cancel --wait: {out:?}");
    assert!(text.contains("is cancelled"), "{text}");

    let finished = publish(&host, "echo", r#"{"n":3}"#);
    wait_state(&[&host], &finished, "succeeded");
    let out = host.cli(["cancel", &finished]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "cancel of a finished task: {out:?}");
    assert!(text.contains("already ended"), "{text}");
    let kept = record(&host, &finished).expect("its record");
    assert_eq!(kept["state"], "succeeded", "its result stands: {kept}");

    let (status, body) = host.http("DELETE", "/v1/tasks/has%20space", b"");
    assert_eq!(status, 400, "a malformed id is a 400 naming it: {body}");
}

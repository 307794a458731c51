//! kill -9 of the real binary with hundreds of tasks in flight, several times: after the last
//! restart every task completes, none is lost, and duplicates stay within what was in flight:
//! counted per task, from the records (`wasmboost_tests::runs`), not from the host's counters.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use wasmboost_tests::guests;
use wasmboost_tests::host::{HostOptions, HostProcess};
use wasmboost_tests::runs::{RunWatch, http_starts};

const TASKS: usize = 2000;
const CONCURRENCY: u64 = 600;
const KILLS: u64 = 3;
/// How long each task sleeps: longer than a sweep over all 2000 records, so every run is seen.
const TASK_MS: u64 = 3000;

fn queue_row(host: &HostProcess) -> Option<Value> {
    let (status, body) = host.http("GET", "/v1/queues", b"");
    if status != 200 {
        return None;
    }
    let rows: Vec<Value> = serde_json::from_str(&body).ok()?;
    rows.into_iter().find(|r| r["queue"] == "sleepy")
}

fn poll<T>(what: &str, host: &HostProcess, within: Duration, f: impl FnMut() -> Option<T>) -> T {
    wasmboost_tests::poll::poll(what, within, || format!("host log:\n{}", host.log()), f)
}

#[test]
fn kill_9_with_hundreds_in_flight_loses_nothing() {
    let config =
        format!("[runtime]\nmax_instances = 1000\n[queues.sleepy]\nconcurrency = {CONCURRENCY}\n");
    let mut host = HostOptions::default().config(config).start();
    let (status, body) = host.http(
        "PUT",
        "/v1/queues/sleepy/module",
        &guests::guest_bytes("sleep"),
    );
    assert!((200..300).contains(&status), "deploy: {status} {body}");
    let lines: String = (0..TASKS)
        .map(|_| format!("{{\"ms\": {TASK_MS}}}\n"))
        .collect();
    let (status, body) = host.http("POST", "/v1/queues/sleepy/messages:batch", lines.as_bytes());
    assert!((200..300).contains(&status), "publish: {status} {body}");
    let ids: Vec<String> = serde_json::from_str::<Value>(&body).expect("json")["task_ids"]
        .as_array()
        .expect("task ids")
        .iter()
        .filter_map(|v| v.as_str().map(str::to_owned))
        .collect();
    assert_eq!(ids.len(), TASKS);
    let addr = Arc::new(Mutex::new(host.addr().to_owned()));
    let watch = RunWatch::start(ids.clone(), 50, 4, http_starts(Arc::clone(&addr)));

    for _ in 0..KILLS {
        poll(
            "≥ 500 tasks in flight",
            &host,
            Duration::from_secs(60),
            || queue_row(&host).filter(|r| r["running"].as_u64().unwrap_or(0) >= 500),
        );
        host.kill9();
        host.restart();
        *addr.lock().unwrap_or_else(|e| e.into_inner()) = host.addr().to_owned();
    }
    let row = poll(
        "the queue to drain",
        &host,
        Duration::from_secs(120),
        || {
            queue_row(&host).filter(|r| {
                ["queued", "running", "delayed"]
                    .iter()
                    .all(|k| r[*k].as_u64() == Some(0))
                    && r["succeeded"].as_u64().unwrap_or(0) > 0
            })
        },
    );
    assert_eq!(row["dead_lettered"].as_u64(), Some(0), "{row}");
    for id in &ids {
        let (status, body) = host.http("GET", &format!("/v1/tasks/{id}"), b"");
        assert_eq!(status, 200, "task {id}: {body}");
        let record: Value = serde_json::from_str(&body).expect("record json");
        assert_eq!(record["state"], "succeeded", "task {id}: {record}");
    }
    // Every run, counted per task: each kill can cut short at most the runs in flight (≤ the
    // concurrency), and each of those tasks runs again once; nothing runs twice otherwise.
    let runs = watch.finish();
    runs.assert_complete(Duration::from_millis(TASK_MS));
    for id in &ids {
        let n = runs.of(id);
        assert!(
            (1..=1 + KILLS as usize).contains(&n),
            "task {id} ran {n} times over {KILLS} kills: {:?}",
            runs.starts.get(id)
        );
    }
    let extra = runs.extra();
    assert!(
        extra <= (CONCURRENCY * KILLS) as usize,
        "{extra} runs beyond one per task over {KILLS} kills at concurrency {CONCURRENCY}"
    );
    eprintln!(
        "kill -9 x{KILLS}: {extra} reruns; {} sweeps, slowest {:?}",
        runs.sweeps, runs.slowest_sweep
    );
    let status = host.stop();
    assert!(status.success(), "graceful stop exits 0: {status:?}");
}

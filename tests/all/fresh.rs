//! "A new instance every time", proven directly: the `leftover` guest looks for the mark an
//! earlier run wrote into its memory (a static, and memory grown below and above the
//! [`KEEP_RESIDENT_BYTES`] that a pool slot keeps mapped between instances) and fails naming what
//! it found. Every path runs it many times with one pool slot, so each run reuses the slot the
//! previous one dirtied: the runtime in process, `wasmboost bench`, and `wasmboost serve`'s
//! worker. (The Python guest's module state: `python::module_state_never_reaches_the_next_call`.)

use std::ffi::OsStr;
use std::time::Duration;

use serde_json::{Value, json};
use wasmboost_runtime::{
    Invocation, Limits, Outcome, Runtime, RuntimeConfig, TaskContext, config::KEEP_RESIDENT_BYTES,
};
use wasmboost_tests::guests;
use wasmboost_tests::host::{HostOptions, cli};
use wasmboost_tests::poll::poll;

/// Grown memory per run: well inside the resident part of a slot, and past its end.
const SIZES_MB: [u64; 2] = [8, 100];
/// Runs per size and path.
const RUNS: usize = 40;
/// Slot size: room for the largest run plus the guest's own memory.
const MEMORY: u64 = 256 << 20;
/// [`MEMORY`] as config and flags write it.
const MEMORY_TEXT: &str = "256MiB";

#[test]
fn the_sizes_straddle_the_resident_threshold() {
    let resident_mb = (KEEP_RESIDENT_BYTES >> 20) as u64;
    assert!(SIZES_MB[0] < resident_mb && SIZES_MB[1] > resident_mb);
}

#[tokio::test(flavor = "current_thread")]
async fn a_reused_slot_shows_nothing_of_the_last_run_in_process() {
    let runtime = Runtime::new(RuntimeConfig {
        max_instances: 1,
        max_memory_bytes: MEMORY,
        ..RuntimeConfig::default()
    })
    .expect("a one-slot runtime");
    let module = runtime
        .load_file(&guests::guest("leftover"))
        .expect("the guest loads");
    for run in 0..RUNS {
        for mb in SIZES_MB {
            let report = module
                .invoke(Invocation {
                    context: TaskContext {
                        task_id: format!("fresh-{run}-{mb}"),
                        queue: "fresh".into(),
                        attempt: 1,
                        publish_time_ms: 0,
                    },
                    payload: json!({ "mb": mb }).to_string(),
                    limits: Limits {
                        fuel: 20_000_000_000,
                        timeout: Duration::from_secs(60),
                        memory_bytes: MEMORY,
                    },
                })
                .await;
            match &report.outcome {
                Outcome::Ok { result } => {
                    let pages: Value = serde_json::from_str(result).expect("JSON result");
                    assert_eq!(pages["pages"], mb * 256, "run {run}: {result}");
                }
                other => panic!("run {run}, {mb} MiB: {other:?}"),
            }
        }
    }
}

#[test]
fn a_reused_slot_shows_nothing_of_the_last_run_through_bench() {
    let wasm = guests::guest("leftover");
    let cache = tempfile::tempdir().expect("a cache dir");
    for mb in SIZES_MB {
        let payload = json!({ "mb": mb }).to_string();
        let runs = RUNS.to_string();
        let flags = [
            "--payload",
            payload.as_str(),
            "-n",
            runs.as_str(),
            "--warmup",
            "1",
            "-c",
            "1",
            "--threads",
            "1",
            "--memory",
            MEMORY_TEXT,
            "--json",
            "--cache-dir",
        ];
        let mut args = vec![OsStr::new("bench"), wasm.as_os_str()];
        args.extend(flags.map(OsStr::new));
        args.push(cache.path().as_os_str());
        let out = cli(args);
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "bench {mb} MiB: {stdout}{stderr}");
        let stats: Value = serde_json::from_str(stdout.trim()).expect("bench --json prints JSON");
        assert_eq!(stats["invocations"], RUNS, "{stats}");
        assert_eq!(
            stats["not_ok"], 0,
            "{mb} MiB: a run saw an earlier one: {stats}"
        );
    }
}

#[test]
fn a_reused_slot_shows_nothing_of_the_last_run_through_the_worker() {
    let config = format!(
        "[runtime]\nmax_instances = 1\nmax_memory = \"{MEMORY_TEXT}\"\n\
         [queues.fresh]\nconcurrency = 1\nmemory = \"{MEMORY_TEXT}\"\n"
    );
    let host = HostOptions::default().config(config).start();
    let (status, body) = host.http(
        "PUT",
        "/v1/queues/fresh/module",
        &guests::guest_bytes("leftover"),
    );
    assert!((200..300).contains(&status), "deploy: {status} {body}");
    // Sizes interleaved, so a small run follows a large one in the same slot and back.
    let lines: String = (0..RUNS)
        .map(|i| format!("{}\n", json!({ "mb": SIZES_MB[i % 2] })))
        .collect();
    let (status, body) = host.http("POST", "/v1/queues/fresh/messages:batch", lines.as_bytes());
    assert!((200..300).contains(&status), "publish: {status} {body}");
    let answer: Value = serde_json::from_str(&body).expect("JSON");
    let ids = answer["task_ids"].as_array().expect("task ids").clone();
    assert_eq!(ids.len(), RUNS);
    for id in ids {
        let id = id.as_str().expect("a task id");
        let record = poll(
            &format!("task {id} to end"),
            Duration::from_secs(120),
            || host.log(),
            || {
                let (status, body) = host.http("GET", &format!("/v1/tasks/{id}"), b"");
                let record: Value = serde_json::from_str(&body).ok()?;
                let state = record["state"].as_str()?;
                (status == 200 && !["queued", "running", "delayed"].contains(&state))
                    .then_some(record)
            },
        );
        assert_eq!(
            record["state"], "succeeded",
            "a run saw an earlier one: {record}"
        );
    }
}

//! Crashes on RabbitMQ: kill -9 of the host with tasks in flight (RabbitMQ hands the unacked
//! messages out again when the connection dies), and a hard restart of rabbitmq-server during a
//! run (the host reconnects, re-declares its queues and every confirmed message runs).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use wasmboost_tests::rabbit::{RabbitNode, shared_node};
use wasmboost_tests::runs::{RunWatch, http_starts};

use super::support::{LONG, deploy, poll, publish_batch, queue_row, record_in, start};

/// The stats row of `queue` once nothing is queued, running or delayed and `min` succeeded.
fn drained(host: &wasmboost_tests::host::HostProcess, queue: &str, min: u64) -> Value {
    poll(&format!("{queue} to drain"), host, LONG, || {
        queue_row(host, queue).filter(|r| {
            ["queued", "running", "delayed"]
                .iter()
                .all(|k| r[*k].as_u64() == Some(0))
                && r["succeeded"].as_u64().unwrap_or(0) >= min
        })
    })
}

#[test]
fn kill_9_with_tasks_in_flight_loses_nothing() {
    const TASKS: usize = 300;
    const CONCURRENCY: u64 = 100;
    const TASK_MS: u64 = 1000;
    let queue = "amqp_kill";
    let extra = format!("[queues.{queue}]\nconcurrency = {CONCURRENCY}\n");
    let mut host = start(&shared_node().amqp_url(), &extra);
    deploy(&host, queue, "sleep");
    let bodies = vec![json!({ "ms": TASK_MS }); TASKS];
    let ids = publish_batch(&host, queue, &bodies);
    let addr = Arc::new(Mutex::new(host.addr().to_owned()));
    let watch = RunWatch::start(ids.clone(), 25, 4, http_starts(Arc::clone(&addr)));
    poll("≥ 50 tasks in flight", &host, LONG, || {
        queue_row(&host, queue).filter(|r| r["running"].as_u64().unwrap_or(0) >= 50)
    });
    host.kill9();
    host.restart();
    *addr.lock().unwrap_or_else(|e| e.into_inner()) = host.addr().to_owned();
    let row = drained(&host, queue, TASKS as u64 / 2);
    for id in &ids {
        let r = record_in(&host, id, "succeeded");
        assert_eq!(r["result"], 1000, "task {id}: {r}");
    }
    assert_eq!(row["dead_lettered"].as_u64(), Some(0), "{row}");
    // Every run, counted per task from the records (the counters may lose what was counted just
    // before the kill): only the tasks in flight at the kill ran again, each once.
    let runs = watch.finish();
    runs.assert_complete(Duration::from_millis(TASK_MS));
    for id in &ids {
        let n = runs.of(id);
        assert!(
            (1..=2).contains(&n),
            "task {id} ran {n} times over one kill: {:?}",
            runs.starts.get(id)
        );
    }
    let extra = runs.extra();
    assert!(
        extra <= CONCURRENCY as usize,
        "{extra} reruns for {TASKS} tasks with {CONCURRENCY} in flight"
    );
    let status = host.stop();
    assert!(status.success(), "graceful stop exits 0: {status:?}");
}

#[test]
fn rabbitmq_restart_during_a_run_loses_no_confirmed_message() {
    const TASKS: usize = 200;
    // Its own node: restarting the shared one would disturb the other tests.
    let node = RabbitNode::start().expect("a private rabbitmq-server boots");
    let queue = "amqp_restart";
    let mut host = start(
        &node.amqp_url(),
        &format!("[queues.{queue}]\nconcurrency = 20\n"),
    );
    deploy(&host, queue, "sleep");
    let mut ids = publish_batch(&host, queue, &vec![json!({"ms": 100}); TASKS]);
    poll("some tasks to finish", &host, LONG, || {
        queue_row(&host, queue).filter(|r| r["succeeded"].as_u64().unwrap_or(0) >= 20)
    });
    node.restart().expect("rabbitmq-server boots again");
    // Publishing works again once the host has reconnected (503 while it reconnects).
    let more = poll("a publish after the restart", &host, LONG, || {
        let lines = "{\"ms\": 100}\n".repeat(20);
        let path = format!("/v1/queues/{queue}/messages:batch");
        let (status, body) = host.http("POST", &path, lines.as_bytes());
        (200..300)
            .contains(&status)
            .then(|| serde_json::from_str::<Value>(&body).expect("json"))
    });
    ids.extend(
        more["task_ids"]
            .as_array()
            .expect("task ids")
            .iter()
            .filter_map(|v| v.as_str().map(str::to_owned)),
    );
    for id in &ids {
        let r = record_in(&host, id, "succeeded");
        assert_eq!(r["result"], 100, "task {id}: {r}");
    }
    let status = host.stop();
    assert!(status.success(), "graceful stop exits 0: {status:?}");
    drop(node);
}

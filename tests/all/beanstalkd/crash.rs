//! Crashes on beanstalkd: kill -9 of a host with ≥ 500 tasks in flight (its connections close
//! and beanstalkd puts the reserved jobs back at once; a hung host's would come back after the
//! TTR), and kill -9 of beanstalkd with a binlog under a running host.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::json;
use wasmboost_tests::beanstalkd::BeanstalkdServer;
use wasmboost_tests::runs::{RunWatch, http_starts};

use super::support::{LONG, deploy, poll, publish_batch, queue_row, record_in, start};

#[test]
fn kill_9_of_a_host_with_500_in_flight_loses_nothing() {
    const TASKS: usize = 800;
    const CONCURRENCY: usize = 600;
    const TASK_MS: u64 = 3000;
    let server = BeanstalkdServer::start();
    let queue = "bs_kill";
    let extra = format!("[queues.{queue}]\nconcurrency = {CONCURRENCY}\n");
    let mut host = start(&server, &extra);
    deploy(&host, queue, "sleep");
    let ids = publish_batch(&host, queue, &vec![json!({ "ms": TASK_MS }); TASKS]);
    let addr = Arc::new(Mutex::new(host.addr().to_owned()));
    let watch = RunWatch::start(ids.clone(), 25, 8, http_starts(Arc::clone(&addr)));
    poll("≥ 500 tasks in flight", &host, LONG, || {
        queue_row(&host, queue).filter(|r| r["running"].as_u64().unwrap_or(0) >= 500)
    });
    host.kill9();
    host.restart();
    *addr.lock().unwrap_or_else(|e| e.into_inner()) = host.addr().to_owned();
    for id in &ids {
        let r = record_in(&host, id, "succeeded");
        assert_eq!(r["result"], TASK_MS, "task {id}: {r}");
    }
    // Every run, counted per task from the records (not the counters): only the jobs reserved
    // at the kill ran again, each once.
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
        extra <= CONCURRENCY,
        "{extra} reruns for {TASKS} tasks with {CONCURRENCY} in flight"
    );
    let status = host.stop();
    assert!(status.success(), "graceful stop exits 0: {status:?}");
}

#[test]
fn beanstalkd_kill_9_with_binlog_under_a_running_host_loses_nothing_confirmed() {
    const TASKS: usize = 200;
    let mut server = BeanstalkdServer::start();
    let queue = "bs_restart";
    let mut host = start(&server, &format!("[queues.{queue}]\nconcurrency = 20\n"));
    deploy(&host, queue, "sleep");
    let ids = publish_batch(&host, queue, &vec![json!({"ms": 100}); TASKS]);
    poll("some tasks to finish", &host, LONG, || {
        queue_row(&host, queue).filter(|r| r["succeeded"].as_u64().unwrap_or(0) >= 20)
    });
    server.kill();
    server.start_again();
    for id in &ids {
        let r = record_in(&host, id, "succeeded");
        assert_eq!(r["result"], 100, "task {id}: {r}");
    }
    let status = host.stop();
    assert!(status.success(), "graceful stop exits 0: {status:?}");
}

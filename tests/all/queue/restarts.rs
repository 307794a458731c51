//! What survives a restart on the embedded broker: pause flags, delayed tasks, tasks in flight
//! at a graceful shutdown, and (with the real binary) tasks in flight at kill -9.

use std::time::Duration;

use serde_json::json;
use wasmboost_broker::conformance::MAX_EARLY;
use wasmboost_worker::{PublishOptions, TaskState};

use super::support::start;

const LONG: Duration = Duration::from_secs(60);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pause_persists_across_a_restart() {
    let t = start("embedded", "").await;
    t.deploy_guest("p", "echo_v1").await;
    t.host.set_paused("p", true).await.expect("pause");
    t.stop().await;
    let t = t.restart().await;
    let row = t
        .host
        .stats()
        .await
        .expect("stats")
        .into_iter()
        .find(|s| s.queue == "p")
        .expect("row");
    assert!(row.paused, "{row:?}");
    let id = t.publish("p", json!({"x": 1})).await;
    let none = t
        .host
        .wait_result(&id, Duration::from_millis(1000))
        .await
        .expect("wait");
    assert!(none.is_none(), "a paused queue runs nothing");
    t.host.set_paused("p", false).await.expect("resume");
    assert_eq!(t.result(&id, LONG).await.state, TaskState::Succeeded);
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delayed_task_survives_a_restart_and_runs_on_time() {
    let t = start("embedded", "").await;
    t.deploy_guest("d", "echo_v1").await;
    let opts = PublishOptions {
        countdown: Some(Duration::from_secs(3)),
        ..PublishOptions::default()
    };
    let id = t.publish_with("d", json!({"x": 1}), opts).await;
    t.stop().await;
    let t = t.restart().await;
    let r = t.result(&id, LONG).await;
    let late = r.started_ms.expect("ran") as i64 - (r.published_ms as i64 + 3000);
    let early = MAX_EARLY.as_millis() as i64;
    assert!(
        (-early..=1000).contains(&late),
        "due at publish + 3 s, ran {late} ms after that"
    );
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graceful_shutdown_loses_nothing() {
    let t = start("embedded", "[queues.g]\nconcurrency = 20").await;
    t.deploy_guest("g", "sleep").await;
    let ids = t
        .publish_many("g", (0..200).map(|_| json!({"ms": 100})).collect())
        .await;
    super::support::eventually("some tasks to finish", LONG, || async {
        let rows = t.host.stats().await.ok()?;
        rows.iter().any(|r| r.succeeded >= 20).then_some(())
    })
    .await;
    t.stop().await;
    // What the stop left: the tasks that ended by then, each with the start of its run. A task in
    // flight at the stop finished within the grace and was acked before the exit, so none of
    // these may run again after the restart (a second run writes its own `started_ms`; the
    // `attempts` and the counters do not see a rerun after a lost ack).
    let mut ended = std::collections::HashMap::new();
    for id in &ids {
        let r = t
            .host
            .record(id)
            .await
            .expect("read a record after the stop");
        let r = r.unwrap_or_else(|| panic!("task {id} has no record"));
        assert_ne!(
            r.state,
            TaskState::Running,
            "the stop left a run behind: {r:?}"
        );
        if r.state.is_terminal() {
            ended.insert(id.clone(), r.started_ms);
        }
    }
    assert!(
        ended.len() >= 20,
        "{} tasks ended before the stop",
        ended.len()
    );
    let t = t.restart().await;
    // Drained first: a rerun would come now, and a terminal record is already there to read.
    let row = super::support::eventually("the counters to settle", LONG, || async {
        let rows = t.host.stats().await.ok()?;
        rows.into_iter()
            .find(|r| r.queue == "g" && r.running == 0 && r.queued == 0 && r.succeeded >= 200)
    })
    .await;
    let records = t.results(&ids, LONG).await;
    assert!(records.iter().all(|r| r.state == TaskState::Succeeded));
    for r in &records {
        if let Some(started) = ended.get(&r.task_id) {
            assert_eq!(r.started_ms, *started, "ran again after the stop: {r:?}");
        }
        assert_eq!(r.attempts, 1, "{r:?}");
    }
    assert_eq!(row.succeeded, 200, "200 tasks, each run once: {row:?}");
    t.stop().await;
}

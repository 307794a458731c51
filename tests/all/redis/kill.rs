//! `kill -9` of a host with tasks in flight: the two others take its tasks over once their
//! (test-short) lease ends, run them to completion, and nothing is lost or run twice.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use wasmboost_broker::now_ms;
use wasmboost_tests::guests;
use wasmboost_tests::host::HostOptions;
use wasmboost_tests::redis::RedisServer;
use wasmboost_tests::runs::{RunWatch, http_starts};

use super::support::{
    LONG, config, deploy, field, logs, poll, publish_batch, queue_row, records, start_hosts,
    terminal_records, wait_drained, wait_version,
};

/// Tasks the victim holds when it dies (its concurrency).
const IN_FLIGHT: usize = 10;
/// How long each task sleeps: long enough to be running at the kill, whatever the start-up
/// time of the other hosts.
const TASK_MS: u64 = 10_000;
/// The queue's lease: after it the dead host's tasks are free to take.
const LEASE: Duration = Duration::from_secs(2);
/// What the reclaim may take on top of the lease on a loaded machine (scan interval, fetch).
const SLACK: Duration = Duration::from_secs(5);

#[test]
fn kill_9_of_one_of_three_hosts_its_tasks_are_reclaimed_within_the_lease() {
    let redis = RedisServer::start();
    let toml = config(
        &redis,
        &format!(
            "[queues.sleepy]\nconcurrency = {IN_FLIGHT}\nlease = \"{}s\"\n",
            LEASE.as_secs()
        ),
    );
    // The victim starts alone, so all the tasks are its own when it dies.
    let mut victim = HostOptions::default().config(toml.clone()).start();
    deploy(&victim, "sleepy", &guests::guest_bytes("sleep"));
    wait_version(&[&victim], "sleepy", 1);
    let bodies = vec![format!(r#"{{"ms":{TASK_MS}}}"#); IN_FLIGHT];
    let ids = publish_batch(&victim, "sleepy", &bodies);
    let published = Instant::now();
    poll(
        "the victim to run every task",
        LONG,
        || victim.log(),
        || {
            records(&redis, &ids)
                .iter()
                .all(|r| r.as_ref().is_some_and(|r| r["state"] == "running"))
                .then_some(())
        },
    );

    let others = start_hosts(2, &toml);
    let survivors: Vec<_> = others.iter().collect();
    // Every run of every task, through a survivor (records are shared): the victim's runs are
    // still going, so they are seen too.
    let addr = Arc::new(Mutex::new(others[0].addr().to_owned()));
    let watch = RunWatch::start(ids.clone(), IN_FLIGHT, 1, http_starts(addr));
    wait_version(&survivors, "sleepy", 1);
    let up_after = published.elapsed();
    assert!(
        up_after < Duration::from_millis(TASK_MS) - Duration::from_secs(2),
        "the others took too long to start: the tasks were about to end on the victim"
    );
    let row = queue_row(&others[0], "sleepy").expect("a queue row");
    assert_eq!(
        field(&row, "running"),
        IN_FLIGHT as u64,
        "all leased by the victim: {row}"
    );
    victim.kill9();
    let killed_ms = now_ms();

    wait_drained(&survivors, "sleepy", IN_FLIGHT as u64);
    let records = terminal_records(&redis, &survivors, &ids);
    let bound = killed_ms + (LEASE + SLACK).as_millis() as u64;
    for record in &records {
        assert_eq!(record["state"], "succeeded", "{record}");
        let started = record["started_ms"].as_u64().unwrap_or(0);
        assert!(
            (killed_ms..=bound).contains(&started),
            "rerun started {} ms after the kill, lease {LEASE:?}: {record}\n{}",
            started as i64 - killed_ms as i64,
            logs(&survivors)
        );
    }
    let delays: Vec<u64> = records
        .iter()
        .filter_map(|r| r["started_ms"].as_u64())
        .map(|s| s - killed_ms)
        .collect();
    eprintln!(
        "kill -9: others up {:?} after publish; reruns started {delays:?} ms after the kill",
        up_after
    );
    // Each task ran exactly twice: cut short on the victim, then once on a survivor.
    let runs = watch.finish();
    runs.assert_complete(Duration::from_millis(TASK_MS));
    for id in &ids {
        assert_eq!(runs.of(id), 2, "task {id}: {:?}", runs.starts.get(id));
    }
    // The victim finished none of its tasks, so every run counted is a survivor's: one each.
    let row = queue_row(&others[0], "sleepy").expect("a queue row");
    assert_eq!(field(&row, "succeeded"), IN_FLIGHT as u64, "{row}");
    assert_eq!(field(&row, "dead_lettered"), 0, "{row}");
}

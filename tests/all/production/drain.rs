//! What the drain promises beyond `tests/all/deploy/drain.rs`: a task longer than
//! `shutdown_grace` does not hold the host up (it exits 0 at the grace period and the task goes
//! back to the broker, to finish after the restart), and a stopping host withdraws its heartbeat
//! so the others stop listing it at once instead of when its last beat expires (15 s).

use std::time::{Duration, Instant};

use wasmboost_tests::guests;
use wasmboost_tests::host::HostOptions;
use wasmboost_tests::redis::RedisServer;

use crate::redis::support::{
    LONG, config, deploy, logs, poll, publish_batch, queue_row, start_hosts, wait_version,
};

const GRACE: Duration = Duration::from_secs(1);
/// Far longer than the grace: a host that waited for it would be seen waiting.
const TASK_MS: u64 = 6_000;

fn hosts_of(row: &serde_json::Value) -> usize {
    row["hosts"].as_array().map_or(0, Vec::len)
}

#[test]
fn a_task_longer_than_shutdown_grace_goes_back_and_the_host_exits_0_at_the_grace() {
    let mut host = HostOptions::default()
        .config(format!(
            "[host]\nshutdown_grace = \"{}s\"\n",
            GRACE.as_secs()
        ))
        .start();
    deploy(&host, "sleepy", &guests::guest_bytes("sleep"));
    let ids = publish_batch(&host, "sleepy", &[format!(r#"{{"ms":{TASK_MS}}}"#)]);
    poll(
        "the task to start",
        LONG,
        || host.log(),
        || queue_row(&host, "sleepy").filter(|r| r["running"] == 1),
    );
    let signalled = Instant::now();
    host.sigterm();
    let status = host.wait_exit();
    let took = signalled.elapsed();
    assert!(status.success(), "exit {status}:\n{}", host.log());
    assert!(
        took >= GRACE && took < Duration::from_millis(TASK_MS) - Duration::from_secs(1),
        "stopped {took:?} after SIGTERM: the grace is {GRACE:?}, the task {TASK_MS} ms\n{}",
        host.log()
    );

    host.restart();
    let record = poll(
        "the returned task to finish after the restart",
        LONG,
        || host.log(),
        || {
            let out = host.cli(["status", &ids[0], "--json"]);
            let record: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
            (record["state"] == "succeeded").then_some(record)
        },
    );
    assert_eq!(record["result"], TASK_MS, "{record}");
}

#[test]
fn a_stopping_host_leaves_the_host_list_at_once() {
    let redis = RedisServer::start();
    let mut hosts = start_hosts(2, &config(&redis, ""));
    deploy(&hosts[0], "sleepy", &guests::guest_bytes("sleep"));
    wait_version(&hosts.iter().collect::<Vec<_>>(), "sleepy", 1);
    poll(
        "both hosts' heartbeats",
        LONG,
        || logs(&hosts.iter().collect::<Vec<_>>()),
        || queue_row(&hosts[0], "sleepy").filter(|r| hosts_of(r) == 2),
    );
    let status = hosts[1].stop();
    assert!(status.success(), "exit {status}:\n{}", hosts[1].log());
    // Read once, right away: a heartbeat left to expire would still be listed for up to 15 s.
    let row = queue_row(&hosts[0], "sleepy").expect("the other host answers");
    assert_eq!(hosts_of(&row), 1, "the stopped host is still listed: {row}");
}

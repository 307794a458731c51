//! What hosts on one Redis share besides the queues: the QPS limit (one global rate over all
//! hosts), deployments (deploy through one host, run on another) and pause flags.

use std::time::Duration;

use wasmboost_tests::guests;
use wasmboost_tests::redis::RedisServer;

use super::support::{
    LONG, config, deploy, field, logs, poll, publish_batch, queue_row, ran_here, start_hosts,
    terminal_records, wait_drained, wait_version,
};

/// The global limit under test and the window it is measured over.
const QPS: f64 = 30.0;
const WINDOW_MS: u64 = 10_000;

#[test]
fn qps_is_one_global_rate_over_three_hosts() {
    let redis = RedisServer::start();
    let hosts = start_hosts(
        3,
        &config(
            &redis,
            &format!("[queues.rate]\nqps = {QPS}\nconcurrency = 50\n"),
        ),
    );
    let all: Vec<_> = hosts.iter().collect();
    deploy(&hosts[0], "rate", &guests::guest_bytes("sleep"));
    wait_version(&all, "rate", 1);
    // Enough for the whole window and then some, so the rate is the only limit.
    let tasks = (QPS * 12.0) as usize;
    let bodies = vec![r#"{"ms":10}"#.to_owned(); tasks];
    let ids = publish_batch(&hosts[1], "rate", &bodies);
    let records = terminal_records(&redis, &all, &ids);
    let mut starts: Vec<u64> = records
        .iter()
        .filter_map(|r| r["started_ms"].as_u64())
        .collect();
    starts.sort_unstable();
    assert_eq!(starts.len(), tasks, "every task started");
    let t0 = starts[0];
    let in_window = starts.iter().filter(|&&s| s < t0 + WINDOW_MS).count();
    let expected = QPS * WINDOW_MS as f64 / 1000.0;
    let (low, high) = ((expected * 0.95) as usize, (expected * 1.05) as usize);
    assert!(
        (low..=high).contains(&in_window),
        "{QPS}/s over {WINDOW_MS} ms on 3 hosts: {in_window} starts, want {low}..={high}"
    );
    let per_host: Vec<u64> = hosts.iter().map(|h| ran_here(h, "rate")).collect();
    assert!(
        per_host.iter().filter(|&&n| n > 0).count() >= 2,
        "the rate is shared, not one host's: {per_host:?}"
    );
    eprintln!("global qps: {in_window} starts in {WINDOW_MS} ms, per host {per_host:?}");
}

#[test]
fn deploy_through_one_host_runs_on_another_and_pause_stops_all() {
    let redis = RedisServer::start();
    let mut hosts = start_hosts(3, &config(&redis, "[queues.echo]\nconcurrency = 4\n"));
    let wasm = guests::guest("echo_v1");
    let out = hosts[0].cli(["deploy".as_ref(), "echo".as_ref(), wasm.as_os_str()]);
    assert!(out.status.success(), "deploy through host 0: {out:?}");
    let all: Vec<_> = hosts.iter().collect();
    wait_version(&all, "echo", 1);

    let out = hosts[0].cli(["pause", "echo"]);
    assert!(out.status.success(), "pause through host 0: {out:?}");
    for host in &all {
        poll(
            "every host to see the pause",
            LONG,
            || logs(&all),
            || queue_row(host, "echo").filter(|r| r["paused"] == true),
        );
    }
    let ids = publish_batch(&hosts[2], "echo", &vec![r#"{"n":1}"#.to_owned(); 20]);
    // Paused is the absence of runs: give the hosts time to (wrongly) run something.
    std::thread::sleep(Duration::from_secs(3));
    let row = queue_row(&hosts[1], "echo").expect("a queue row");
    assert_eq!(field(&row, "queued"), 20, "nothing ran while paused: {row}");
    assert_eq!(field(&row, "succeeded"), 0, "{row}");
    let ran: u64 = hosts.iter().map(|h| ran_here(h, "echo")).sum();
    assert_eq!(ran, 0, "no host ran a paused queue's task");

    // The host that deployed is gone: the others run the module it deployed.
    let status = hosts[0].stop();
    assert!(status.success(), "graceful stop: {status:?}");
    let out = hosts[1].cli(["resume", "echo"]);
    assert!(out.status.success(), "resume through host 1: {out:?}");
    let rest: Vec<_> = hosts[1..].iter().collect();
    let records = terminal_records(&redis, &rest, &ids);
    for record in &records {
        assert_eq!(record["state"], "succeeded", "{record}");
        assert_eq!(record["result"]["version"], "v1", "{record}");
    }
    wait_drained(&rest, "echo", 20);
    let ran: Vec<u64> = rest.iter().map(|h| ran_here(h, "echo")).collect();
    assert_eq!(
        ran.iter().sum::<u64>(),
        20,
        "run by the hosts that did not deploy: {ran:?}"
    );
}

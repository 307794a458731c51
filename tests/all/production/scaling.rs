//! The scaling curve: 1, 2, then 3 hosts (each in its own network namespace, on one Redis over
//! the bridge) drain the same number of tasks that each sleep 100 ms at concurrency 50 per host.
//! I/O-bound work, so the rate should grow with the hosts even on 2 cores. Prints tasks/s and
//! the ratio to the ideal (`hosts × 50 / 0.1 s`); `scripts/bench-scale.sh` runs it with the
//! issue's 3 000 tasks on the release binary.

use wasmboost_broker::now_ms;
use wasmboost_tests::guests;

use super::cluster::Cluster;
use crate::redis::support::{deploy, logs, publish_batch, terminal_records, wait_version};

/// Tasks per round unless `WASMBOOST_SCALE_TASKS` says otherwise: 1 000 keeps the test to
/// seconds (2 s of ideal drain for one host); the bench uses the issue's 3 000.
const DEFAULT_TASKS: usize = 1_000;
const CONCURRENCY: usize = 50;
const TASK_MS: u64 = 100;

#[test]
fn one_two_three_hosts_on_their_own_addresses_scale_the_drain_rate() {
    let tasks: usize = std::env::var("WASMBOOST_SCALE_TASKS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(DEFAULT_TASKS);
    let queue = format!("[queues.sleepy]\nconcurrency = {CONCURRENCY}\n");
    let Some(mut cluster) = Cluster::create(3, &queue) else {
        return;
    };
    let mut rates = Vec::new();
    for n in 1..=3 {
        cluster.start(1);
        let all = cluster.all();
        if n == 1 {
            deploy(all[0], "sleepy", &guests::guest_bytes("sleep"));
        }
        wait_version(&all, "sleepy", 1);

        let bodies = vec![format!(r#"{{"ms":{TASK_MS}}}"#); tasks];
        let started = now_ms();
        let ids = publish_batch(all[n - 1], "sleepy", &bodies);
        let records = terminal_records(&cluster.redis, &all, &ids);
        let mut last = started;
        for record in &records {
            assert_eq!(record["state"], "succeeded", "{record}\n{}", logs(&all));
            assert_eq!(record["attempts"], 1, "ran once: {record}");
            assert_eq!(record["result"], TASK_MS, "{record}");
            last = last.max(record["finished_ms"].as_u64().unwrap_or(0));
        }
        let secs = (last - started) as f64 / 1000.0;
        let rate = tasks as f64 / secs;
        let ideal = (n * CONCURRENCY) as f64 * 1000.0 / TASK_MS as f64;
        eprintln!(
            "scaling: {n} host(s), {tasks} tasks of {TASK_MS} ms at concurrency {CONCURRENCY}: \
             {secs:.2} s, {rate:.0} tasks/s, {:.0}% of ideal ({ideal:.0}/s)",
            100.0 * rate / ideal
        );
        rates.push(rate);
    }
    // Near-linear with the release binary on an idle machine (`scripts/bench-scale.sh`); the
    // test runs the debug binary on a machine shared with the rest of the suite, where three
    // hosts measured 1.4× one host. The bar: more hosts drain faster by a fifth at least (one
    // host taking all the work, or a shared bottleneck, fails it).
    assert!(
        rates[1] >= 1.2 * rates[0] && rates[2] >= 1.2 * rates[0],
        "the drain rate does not grow with the hosts: {rates:?} tasks/s for 1, 2, 3 hosts"
    );
}

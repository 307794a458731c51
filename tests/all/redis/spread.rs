//! Three hosts drain 10 000 tasks from one Redis queue: every task runs exactly once (its record
//! holds its own result, the shared counter and the hosts' own meters add up to 10 000) and
//! every host does a real share of the work.

use wasmboost_tests::guests;
use wasmboost_tests::redis::RedisServer;

use super::support::{
    config, deploy, field, logs, publish_batch, ran_here, start_hosts, terminal_records,
    wait_drained, wait_version,
};

const TASKS: usize = 10_000;
const HOSTS: usize = 3;

#[test]
fn three_hosts_run_10_000_tasks_once_each_spread_over_all() {
    let redis = RedisServer::start();
    let hosts = start_hosts(HOSTS, &config(&redis, "[queues.add]\nconcurrency = 50\n"));
    let all: Vec<_> = hosts.iter().collect();
    deploy(&hosts[0], "add", &guests::example_bytes("add"));
    wait_version(&all, "add", 1);

    // Each task's result is its own index: a mixed-up or missing result is visible.
    let mut ids = Vec::with_capacity(TASKS);
    for (n, chunk) in (0..TASKS).collect::<Vec<_>>().chunks(1000).enumerate() {
        let bodies: Vec<String> = chunk
            .iter()
            .map(|i| format!(r#"{{"x":{i},"y":0}}"#))
            .collect();
        ids.extend(publish_batch(&hosts[n % HOSTS], "add", &bodies));
    }
    let row = wait_drained(&all, "add", TASKS as u64);
    assert_eq!(
        field(&row, "succeeded"),
        TASKS as u64,
        "runs over all hosts: {row}"
    );
    assert_eq!(field(&row, "dead_lettered"), 0, "{row}");

    let records = terminal_records(&redis, &all, &ids);
    for (i, record) in records.iter().enumerate() {
        assert_eq!(record["state"], "succeeded", "task {i}: {record}");
        assert_eq!(record["attempts"], 1, "task {i} ran once: {record}");
        assert_eq!(record["result"], i, "task {i} has its own result: {record}");
    }

    let per_host: Vec<u64> = hosts.iter().map(|h| ran_here(h, "add")).collect();
    assert_eq!(
        per_host.iter().sum::<u64>(),
        TASKS as u64,
        "the hosts' own meters add up to one run per task: {per_host:?}"
    );
    // A fair share is a third; a tenth leaves room for a noisy 2-core machine but fails when
    // one host starves or the others never fetch.
    let floor = (TASKS / HOSTS / 10) as u64;
    assert!(
        per_host.iter().all(|&n| n >= floor),
        "every host ran at least {floor}: {per_host:?}\n{}",
        logs(&all)
    );
    // Every host has flushed its counters by now (once a second): still one run per task.
    let row = wait_drained(&all, "add", TASKS as u64);
    assert_eq!(
        field(&row, "succeeded"),
        TASKS as u64,
        "no late duplicate: {row}"
    );
    eprintln!("spread over {HOSTS} hosts: {per_host:?}");
}

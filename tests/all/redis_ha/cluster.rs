//! Two hosts on a 3-node Redis Cluster drain two queues, every task exactly once: publishes,
//! fetches, acks, records and counters all go to the right node of each key's slot.

use serde_json::Value;
use wasmboost_tests::guests;
use wasmboost_tests::redis::RedisCluster;

use crate::redis::support::{
    LONG, deploy, field, logs, poll, publish_batch, start_hosts, wait_drained, wait_version,
};

/// Tasks per queue.
const TASKS: usize = 1_000;
const QUEUES: [&str; 2] = ["add", "sum"];

#[test]
fn two_hosts_drain_two_queues_on_a_cluster() {
    let cluster = RedisCluster::start();
    let queues: String = QUEUES
        .iter()
        .map(|q| format!("[queues.{q}]\nconcurrency = 20\n"))
        .collect();
    let toml = format!(
        "[host]\nshutdown_grace = \"5s\"\n[broker]\ntype = \"redis\"\nurl = \"{}\"\n{queues}",
        cluster.url()
    );
    let hosts = start_hosts(2, &toml);
    let all: Vec<_> = hosts.iter().collect();
    for queue in QUEUES {
        deploy(&hosts[0], queue, &guests::example_bytes("add"));
        wait_version(&all, queue, 1);
    }
    let mut ids = Vec::new();
    for (n, queue) in QUEUES.iter().enumerate() {
        let bodies: Vec<String> = (0..TASKS)
            .map(|i| format!(r#"{{"x":{i},"y":{n}}}"#))
            .collect();
        ids.push(publish_batch(&hosts[n % 2], queue, &bodies));
    }
    for queue in QUEUES {
        let row = wait_drained(&all, queue, TASKS as u64);
        assert_eq!(
            field(&row, "succeeded"),
            TASKS as u64,
            "{queue} ran once each: {row}"
        );
        assert_eq!(field(&row, "dead_lettered"), 0, "{row}");
    }
    // A sample of records, read back through the other host: each holds its own result.
    for (n, queue_ids) in ids.iter().enumerate() {
        for (i, id) in queue_ids.iter().enumerate().step_by(97) {
            let reader = &hosts[(n + 1) % 2];
            let context = || {
                let (status, body) = reader.http("GET", &format!("/v1/tasks/{id}"), b"");
                let warnings: String = logs(&all)
                    .lines()
                    .filter(|l| l.contains("WARN") || l.contains("ERROR"))
                    .take(20)
                    .collect::<Vec<_>>()
                    .join("\n");
                format!("{status} {body}\n{warnings}")
            };
            let record = poll(&format!("record {id}"), LONG, context, || {
                let (status, body) =
                    hosts[(n + 1) % 2].http("GET", &format!("/v1/tasks/{id}"), b"");
                let record: Value = serde_json::from_str(&body).ok()?;
                (status == 200 && record["state"] == "succeeded").then_some(record)
            });
            assert_eq!(
                record["result"],
                i + n,
                "task {i} of {}: {record}",
                QUEUES[n]
            );
            assert_eq!(record["attempts"], 1, "{record}");
        }
    }
}

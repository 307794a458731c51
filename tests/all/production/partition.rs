//! One host of three cut off from Redis for 10 s (a blackhole route in its namespace) while it
//! runs tasks: its leases run out and the others take its work; its late settles follow the
//! late-settle rule (`Lease` in `host/broker/src/broker.rs`: once handed out again, a late settle
//! changes nothing), so every task ends succeeded with its own result, no task runs more than
//! twice and only tasks it held ran twice, and every task it held was taken over. Once the route is gone it works again by itself.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use wasmboost_tests::guests;
use wasmboost_tests::runs::{RunWatch, http_starts};

use super::cluster::Cluster;
use crate::redis::support::{
    LONG, deploy, logs, poll, publish_batch, records, terminal_records, wait_version,
};

/// Tasks the cut-off host holds (its concurrency).
const IN_FLIGHT: usize = 10;
/// Longer than the lease, shorter than the partition: they end while the host is cut off.
const TASK_MS: u64 = 4_000;
const LEASE: &str = "2s";
const PARTITION: Duration = Duration::from_secs(10);
/// Tasks published to the others while the host is cut off.
const DURING: usize = 40;

#[test]
fn a_host_cut_off_from_redis_for_10_s_loses_nothing_and_recovers() {
    let queue = format!("[queues.sleepy]\nconcurrency = {IN_FLIGHT}\nlease = \"{LEASE}\"\n");
    let Some(mut cluster) = Cluster::create(3, &queue) else {
        return;
    };
    // The victim starts alone so the first tasks are all its own.
    cluster.start(1);
    deploy(&cluster.hosts[0], "sleepy", &guests::guest_bytes("sleep"));
    wait_version(&cluster.all(), "sleepy", 1);
    let held = publish_batch(
        &cluster.hosts[0],
        "sleepy",
        &vec![format!(r#"{{"ms":{TASK_MS}}}"#); IN_FLIGHT],
    );
    poll(
        "the victim to run every task",
        LONG,
        || cluster.hosts[0].log(),
        || {
            records(&cluster.redis, &held)
                .iter()
                .all(|r| r.as_ref().is_some_and(|r| r["state"] == "running"))
                .then_some(())
        },
    );
    cluster.subnet.partition(0);
    cluster.start(2);
    wait_version(&cluster.all()[1..], "sleepy", 1);
    let addr = Arc::new(Mutex::new(cluster.hosts[1].addr().to_owned()));
    let more = publish_batch(
        &cluster.hosts[1],
        "sleepy",
        &vec![r#"{"ms":500}"#.to_owned(); DURING],
    );
    let mut ids = held.clone();
    ids.extend(more.iter().cloned());
    let watch = RunWatch::start(ids.clone(), 50, 1, http_starts(addr));

    std::thread::sleep(PARTITION);
    cluster.subnet.heal(0);
    let all = cluster.all();
    let records = terminal_records(&cluster.redis, &all, &ids);
    for (record, id) in records.iter().zip(&ids) {
        assert_eq!(
            record["state"],
            "succeeded",
            "{id}: {record}\n{}",
            logs(&all)
        );
        let ms = if held.contains(id) { TASK_MS } else { 500 };
        assert_eq!(record["result"], ms, "{id} has its own result: {record}");
    }
    let runs = watch.finish();
    let twice: Vec<&String> = ids.iter().filter(|id| runs.of(id) > 1).collect();
    eprintln!(
        "partition: {} of the {IN_FLIGHT} held tasks ran again elsewhere, {} of the others",
        twice.iter().filter(|id| held.contains(id)).count(),
        twice.iter().filter(|id| !held.contains(id)).count()
    );
    runs.assert_complete(Duration::from_millis(500));
    for id in &ids {
        assert!(runs.of(id) <= 2, "{id} ran {} times", runs.of(id));
        // Its lease ran out long before its run could end: another host took it over.
        if held.contains(id) {
            assert_eq!(
                runs.of(id),
                2,
                "{id} was not taken over from the cut-off host"
            );
        }
        if !held.contains(id) {
            assert_eq!(runs.of(id), 1, "{id} was never the victim's yet ran twice");
        }
    }

    // Recovery: with the others gone, the victim alone drains new work.
    for host in &mut cluster.hosts[1..] {
        assert!(host.stop().success(), "{}", host.log());
    }
    let after = publish_batch(
        &cluster.hosts[0],
        "sleepy",
        &vec![r#"{"ms":10}"#.to_owned(); 20],
    );
    let victim = [&cluster.hosts[0]];
    for record in terminal_records(&cluster.redis, &victim, &after) {
        assert_eq!(record["state"], "succeeded", "{record}\n{}", logs(&victim));
    }
}

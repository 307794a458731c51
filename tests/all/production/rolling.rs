//! A rolling restart under load: three hosts (own namespaces, one Redis) restarted one at a time
//! with SIGTERM while a producer keeps publishing. Each stop is a graceful drain (exit 0, running
//! tasks finish within `shutdown_grace`), each host comes back before the next goes: every
//! published task ends succeeded with its own result, and none runs twice.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use wasmboost_tests::guests;
use wasmboost_tests::host::try_http;

use super::cluster::Cluster;
use crate::redis::support::{deploy, logs, terminal_records, wait_version};

/// Long enough that every stop catches tasks mid-run, short enough to finish in the grace.
const TASK_MS: u64 = 300;
const BATCH: usize = 20;

#[test]
fn rolling_sigterm_restart_of_three_hosts_under_load_loses_nothing_runs_nothing_twice() {
    let Some(mut cluster) = Cluster::create(3, "[queues.sleepy]\nconcurrency = 20\n") else {
        return;
    };
    cluster.start(3);
    deploy(&cluster.hosts[0], "sleepy", &guests::guest_bytes("sleep"));
    wait_version(&cluster.all(), "sleepy", 1);

    // The producer publishes through whichever host answers (one is always down).
    let addrs: Vec<String> = cluster.hosts.iter().map(|h| h.addr().to_owned()).collect();
    let stop = Arc::new(AtomicBool::new(false));
    let published = Arc::new(Mutex::new(Vec::<(String, u64)>::new()));
    let producer = {
        let (stop, published) = (Arc::clone(&stop), Arc::clone(&published));
        std::thread::spawn(move || {
            let mut n: u64 = 0;
            while !stop.load(Ordering::Acquire) {
                let lines: String = (0..BATCH as u64)
                    .map(|i| format!("{{\"ms\":{}}}\n", TASK_MS + (n + i) % 7))
                    .collect();
                let addr = &addrs[(n as usize / BATCH) % addrs.len()];
                let path = "/v1/queues/sleepy/messages:batch";
                if let Ok((200..=299, body)) = try_http(addr, "POST", path, lines.as_bytes()) {
                    let answer: serde_json::Value = serde_json::from_str(&body).expect("JSON");
                    let ids = answer["task_ids"].as_array().expect("task_ids").clone();
                    let mut published = published.lock().expect("not poisoned");
                    for (i, id) in ids.iter().enumerate() {
                        let id = id.as_str().expect("an id").to_owned();
                        published.push((id, TASK_MS + (n + i as u64) % 7));
                    }
                }
                n += BATCH as u64;
                std::thread::sleep(Duration::from_millis(100));
            }
        })
    };

    for i in 0..3 {
        std::thread::sleep(Duration::from_secs(1));
        let host = &mut cluster.hosts[i];
        host.sigterm();
        let status = host.wait_exit();
        assert!(
            status.success(),
            "host {i} exited with {status}:\n{}",
            host.log()
        );
        host.restart();
    }
    std::thread::sleep(Duration::from_secs(1));
    stop.store(true, Ordering::Release);
    producer.join().expect("the producer thread ends");

    let published = published.lock().expect("not poisoned").clone();
    assert!(
        published.len() >= 200,
        "the load was light: {}",
        published.len()
    );
    let ids: Vec<String> = published.iter().map(|(id, _)| id.clone()).collect();
    let all = cluster.all();
    let records = terminal_records(&cluster.redis, &all, &ids);
    for ((id, ms), record) in published.iter().zip(&records) {
        assert_eq!(
            record["state"],
            "succeeded",
            "{id}: {record}\n{}",
            logs(&all)
        );
        assert_eq!(record["result"], *ms, "{id} has its own result: {record}");
        // A delivery handed out again (a drain that returned it, a lease that ran out) counts
        // a second attempt.
        assert_eq!(record["attempts"], 1, "{id} ran once: {record}");
    }
    eprintln!("rolling restart: {} tasks, each run once", published.len());
}

//! Crashes on PostgreSQL: kill -9 of a host with tasks in flight (their rows keep a
//! `lease_until` that nobody renews; once it passes, the jobs are fetched again), and a
//! PostgreSQL crash (immediate shutdown) and restart under a running host.

use serde_json::json;
use wasmboost_tests::postgres::{PostgresServer, psql};

use super::support::{LONG, deploy, poll, publish_batch, queue_row, record_in, start};

#[test]
fn kill_9_of_a_host_with_tasks_in_flight_loses_nothing() {
    const TASKS: usize = 300;
    let server = PostgresServer::start();
    let queue = "pg_kill";
    let extra = format!("[queues.{queue}]\nconcurrency = 200\nlease = \"3s\"\n");
    let mut host = start(&server, &extra);
    deploy(&host, queue, "sleep");
    let ids = publish_batch(&host, queue, &vec![json!({"ms": 2000}); TASKS]);
    poll("≥ 150 tasks in flight", &host, LONG, || {
        queue_row(&host, queue).filter(|r| r["running"].as_u64().unwrap_or(0) >= 150)
    });
    host.kill9();
    // The dead host's jobs are still leased in the table.
    let leased = psql(
        &server.url(),
        "SELECT count(*) FROM wasmboost.jobs WHERE queue = 'pg_kill' AND lease_until IS NOT NULL",
    );
    let leased: u64 = String::from_utf8_lossy(&leased.stdout)
        .trim()
        .parse()
        .unwrap_or(0);
    assert!(leased >= 150, "{leased} jobs leased by the killed host");
    host.restart();
    for id in &ids {
        let r = record_in(&host, id, "succeeded");
        assert_eq!(r["result"], 2000, "task {id}: {r}");
    }
    let status = host.stop();
    assert!(status.success(), "graceful stop exits 0: {status:?}");
}

#[test]
fn postgres_crash_and_restart_under_a_running_host_loses_nothing_confirmed() {
    const TASKS: usize = 200;
    let mut server = PostgresServer::start();
    let queue = "pg_restart";
    let mut host = start(&server, &format!("[queues.{queue}]\nconcurrency = 20\n"));
    deploy(&host, queue, "sleep");
    let ids = publish_batch(&host, queue, &vec![json!({"ms": 100}); TASKS]);
    poll("some tasks to finish", &host, LONG, || {
        queue_row(&host, queue).filter(|r| r["succeeded"].as_u64().unwrap_or(0) >= 20)
    });
    server.crash();
    server.start_again();
    for id in &ids {
        let r = record_in(&host, id, "succeeded");
        assert_eq!(r["result"], 100, "task {id}: {r}");
    }
    let status = host.stop();
    assert!(status.success(), "graceful stop exits 0: {status:?}");
}

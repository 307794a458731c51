//! Delivery policies on PostgreSQL through the host (the shared checks of `delivery_checks`,
//! plus the dead row in its table): poison → `max_retries + 1` attempts →
//! the dead table with the reason → replay; a delayed task on time; priority order; the
//! plain-SQL producer `SELECT wasmboost.publish(...)` run with `psql`.

use wasmboost_tests::postgres::{PostgresServer, psql};

use super::support::{LONG, deploy, poll, record_in, start};
use crate::delivery_checks as checks;

#[test]
fn poison_takes_max_retries_plus_one_attempts_is_dead_lettered_and_replays() {
    let server = PostgresServer::start();
    let queue = "pg_poison";
    let mut host = start(&server, &checks::poison_config(queue));
    checks::poison_dead_letters_and_replays(&mut host, queue, || {
        let reason = psql(
            &server.url(),
            "SELECT reason FROM wasmboost.dead WHERE queue = 'pg_poison'",
        );
        let reason = String::from_utf8_lossy(&reason.stdout).into_owned();
        assert!(
            reason.contains("3 attempts"),
            "the dead row has the reason: {reason:?}"
        );
    });
}

#[test]
fn delayed_task_runs_on_time() {
    let server = PostgresServer::start();
    let mut host = start(&server, "");
    checks::delayed_task_runs_on_time(&mut host, "pg_delay");
}

#[test]
fn higher_priority_runs_first() {
    let server = PostgresServer::start();
    let queue = "pg_prio";
    let mut host = start(&server, &checks::priority_config(queue));
    checks::higher_priority_runs_first(&mut host, queue);
}

#[test]
fn a_psql_producer_runs_through_the_sql_function() {
    let server = PostgresServer::start();
    let queue = "add";
    let mut host = start(&server, "");
    deploy(&host, queue, "echo_v1");
    let out = psql(
        &server.url(),
        r#"SELECT wasmboost.publish('add', '{"x":1,"y":2}')"#,
    );
    assert!(out.status.success(), "psql publish: {out:?}");
    let id = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    let r = record_in(&host, &id, "succeeded");
    assert_eq!(r["attempts"], 1, "{r}");
    // A bad call is refused by the function, naming the value, and stores nothing.
    let bad = psql(&server.url(), "SELECT wasmboost.publish('add', '[1]')");
    assert!(!bad.status.success(), "a non-object body is refused");
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("must be a JSON object"),
        "{bad:?}"
    );
    let row = poll("the queue row", &host, LONG, || {
        super::support::queue_row(&host, queue)
    });
    assert_eq!(row["dead_lettered"].as_u64(), Some(0), "{row}");
    let status = host.stop();
    assert!(status.success(), "graceful stop exits 0: {status:?}");
}

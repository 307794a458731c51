//! Delivery policies on beanstalkd through the host (the shared checks of `delivery_checks`,
//! plus the buried job): poison → `max_retries + 1` attempts →
//! buried with the reason → replay; a delayed task on time; priority order; a `greenstalk`
//! producer's JSON body run by the host.

use wasmboost_tests::beanstalkd::{BeanstalkdServer, tube_stat};
use wasmboost_tests::producer;

use super::support::{LONG, deploy, poll, start};
use crate::delivery_checks as checks;

#[test]
fn poison_takes_max_retries_plus_one_attempts_is_buried_and_replays() {
    let server = BeanstalkdServer::start();
    let queue = "bs_poison";
    let mut host = start(&server, &checks::poison_config(queue));
    checks::poison_dead_letters_and_replays(&mut host, queue, || {
        // The record and the bury are written together (state and queue are separate
        // stores): wait for the bury.
        let stat = || tube_stat(&server.addr(), "wasmboost.bs_poison", "current-jobs-buried");
        wasmboost_tests::poll::poll(
            "the job to be buried",
            LONG,
            || format!("current-jobs-buried: {}", stat()),
            || (stat() == 1).then_some(()),
        );
    });
}

#[test]
fn delayed_task_runs_on_time() {
    let server = BeanstalkdServer::start();
    let mut host = start(&server, "");
    checks::delayed_task_runs_on_time(&mut host, "bs_delay");
}

#[test]
fn higher_priority_runs_first() {
    let server = BeanstalkdServer::start();
    let queue = "bs_prio";
    let mut host = start(&server, &checks::priority_config(queue));
    checks::higher_priority_runs_first(&mut host, queue);
}

#[test]
fn a_greenstalk_producer_json_body_runs() {
    let server = BeanstalkdServer::start();
    let queue = "bs_foreign";
    let mut host = start(&server, "");
    deploy(&host, queue, "echo_v1");
    let Some(python) = producer::venv_with("greenstalk", "greenstalk") else {
        eprintln!("SKIPPED a_greenstalk_producer_json_body_runs: cannot pip install greenstalk");
        return;
    };
    let script = "import sys, greenstalk\n\
        with greenstalk.Client(('127.0.0.1', int(sys.argv[1])), use='wasmboost.bs_foreign') as c:\n\
        \x20   c.put('{\"x\": 41}')\n";
    let out = producer::run(&python, script, &[&server.port().to_string()]);
    assert!(out.status.success(), "greenstalk put: {out:?}");
    let row = poll("the foreign task to succeed", &host, LONG, || {
        super::support::queue_row(&host, queue)
            .filter(|r| r["succeeded"].as_u64().unwrap_or(0) >= 1)
    });
    assert_eq!(row["dead_lettered"].as_u64(), Some(0), "{row}");
    let status = host.stop();
    assert!(status.success(), "graceful stop exits 0: {status:?}");
}

//! Delivery policies on NATS through the host (the shared checks of `delivery_checks`):
//! poison → `max_retries + 1` attempts → the DLQ stream with the reason → replay; a delayed
//! task on time (±1 s); priority order.

use wasmboost_tests::nats::NatsServer;

use super::start;
use crate::delivery_checks as checks;

#[test]
fn poison_takes_max_retries_plus_one_attempts_is_dead_lettered_and_replays() {
    let server = NatsServer::start();
    let queue = "nats_poison";
    let mut host = start(&server, &checks::poison_config(queue));
    checks::poison_dead_letters_and_replays(&mut host, queue, || {});
}

#[test]
fn delayed_task_runs_on_time() {
    let server = NatsServer::start();
    let mut host = start(&server, "");
    checks::delayed_task_runs_on_time(&mut host, "nats_delay");
}

#[test]
fn higher_priority_runs_first() {
    let server = NatsServer::start();
    let queue = "nats_prio";
    let mut host = start(&server, &checks::priority_config(queue));
    checks::higher_priority_runs_first(&mut host, queue);
}

//! Cancel across hosts on one Redis: the host that runs the task hears the cancel through the
//! store's notification channel.

use std::time::Duration;

use wasmboost_tests::host::{HostOptions, HostProcess};
use wasmboost_tests::redis::RedisServer;

use super::support::{QUEUES, cancel_running, deploy, publish, stays_cancelled, wait_state};

fn host(redis: &RedisServer) -> HostProcess {
    let toml = format!(
        "[host]\nshutdown_grace = \"5s\"\n[broker]\ntype = \"redis\"\nurl = \"{}\"\n{QUEUES}",
        redis.url()
    );
    HostOptions::default().config(toml).start()
}

#[test]
fn cancel_on_host_a_stops_a_task_running_on_host_b() {
    let redis = RedisServer::start();
    // B alone takes the tasks; A starts once they run, so they can only be running on B.
    let b = host(&redis);
    deploy(&b, "spin", "spin");
    deploy(&b, "sleep", "sleep");
    let spinning = publish(&b, "spin", "{}");
    let sleeping = publish(&b, "sleep", r#"{"ms":60000}"#);
    wait_state(&[&b], &spinning, "running");
    wait_state(&[&b], &sleeping, "running");
    let a = host(&redis);
    let hosts = [&a, &b];
    let took = cancel_running(&a, &hosts, &spinning);
    eprintln!("redis: a guest spinning on host B stopped {took} ms after the cancel to host A");
    let took = cancel_running(&a, &hosts, &sleeping);
    eprintln!("redis: a guest sleeping on host B stopped {took} ms after the cancel to host A");
    stays_cancelled(&hosts, &spinning, Duration::from_secs(3));
}

//! The leader dies between claiming a tick and publishing it: the next leader finds the
//! claimed tick without a task record and publishes it, and the tick runs exactly once.
//!
//! The crash is placed by the host's test-only crash point (`WASMBOOST_FAULT=claim=1`,
//! `host/worker/src/fault.rs`: abort right after this process's first claim, before its
//! publish), a window a kill -9 from outside would hit only by luck. A one-shot `at` schedule
//! has a single tick, so a second run of it could only be that tick published twice.
//!
//! On Redis, where the claim is one script that is durable when it returns. (On the embedded
//! store a claim is written with the next commit, so a crash right after it usually loses the
//! claim too, and the restarted host fires the tick as an on-time tick within `grace`.)

use std::time::Duration;

use jiff::Timestamp;
use wasmboost_tests::guests;
use wasmboost_tests::host::HostOptions;
use wasmboost_tests::poll::poll;
use wasmboost_tests::redis::RedisServer;

use super::local::{record, succeeded_counter};

const FAULT: &str = "WASMBOOST_FAULT";
/// Longer than a host restart, so the restarted leader still looks at the claimed tick.
const GRACE: &str = "30s";

#[test]
fn a_tick_claimed_by_a_leader_that_died_before_publishing_runs_once() {
    let redis = RedisServer::start();
    // A whole second a few seconds from now: time for the host to start before it is due.
    let at_s = Timestamp::now().as_second() + 4;
    let at = Timestamp::from_second(at_s).expect("a valid time");
    let config = format!(
        "[host]\nshutdown_grace = \"5s\"\n[broker]\ntype = \"redis\"\nurl = \"{}\"\n\
         [queues.echo]\n[[schedules]]\nname = \"once\"\nqueue = \"echo\"\nat = \"{at}\"\n\
         misfire = \"once\"\ngrace = \"{GRACE}\"\npayload = {{ n = 1 }}\n",
        redis.url()
    );
    let mut host = HostOptions::default()
        .config(config)
        .env(FAULT, "claim=1")
        .start();
    let exit = host.wait_exit();
    assert!(!exit.success(), "the crash point ended the host: {exit}");
    assert!(host.log().contains("crashing at claim=1"), "{}", host.log());
    let id = format!("once@{}", at_s * 1000);
    host.set_env(FAULT, None);
    host.restart();
    // Deployed only now: the crash may come before a deploy could; the tick waits queued.
    let wasm = guests::guest_bytes("echo_v1");
    let (status, body) = host.http("PUT", "/v1/queues/echo/module", &wasm);
    assert!((200..300).contains(&status), "deploy: {status} {body}");
    let done = poll(
        "the claimed tick to run",
        Duration::from_secs(30),
        || host.log(),
        || record(&host, &id).filter(|r| r["state"] == "succeeded"),
    );
    assert_eq!(done["attempts"], 1, "{done}");
    assert!(
        host.log().contains("a claimed tick was never published"),
        "published again by the lost-tick check: {}",
        host.log()
    );
    let runs = poll(
        "the run to be counted",
        Duration::from_secs(10),
        || host.log(),
        || succeeded_counter(&host).filter(|n| *n >= 1),
    );
    assert_eq!(runs, 1, "the tick ran once");
}

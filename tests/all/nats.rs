//! Integration tests: NATS JetStream (issue 18) through the real `wasmboost serve` with
//! `[broker] type = "nats"` (queues in streams, state in key-value buckets on the same server).
//! The broker's own behaviour and the conformance suites are tested in
//! `host/broker-nats/tests`; here, hosts on top of it.
//!
//! - `shared`: three hosts sharing one queue; kill -9 of a host with tasks in flight (back
//!   after AckWait); a nats-server kill and restart under running hosts.
//! - `delivery`: poison → `max_retries + 1` attempts → the DLQ stream with the reason →
//!   replay; a delayed task on time (±1 s); priority order.
//! - `foreign`: a `nats-py` producer's bare JSON runs through the host.

mod delivery;
mod foreign;
mod shared;

use wasmboost_tests::host::HostProcess;
use wasmboost_tests::nats::NatsServer;

/// AckWait of the test hosts: a killed host's tasks come back after this.
const ACK_WAIT_MS: u64 = 2_000;

/// The `[broker]` table for `server`.
fn broker(server: &NatsServer) -> String {
    format!(
        "[broker]\ntype = \"nats\"\nurl = {:?}\nack_wait_ms = {ACK_WAIT_MS}\n",
        server.url()
    )
}

/// `wasmboost serve` on `server` with `extra` config.
fn start(server: &NatsServer, extra: &str) -> HostProcess {
    let config = format!("{}{extra}\n", broker(server));
    wasmboost_tests::host::HostOptions::default()
        .config(config)
        .start()
}

//! Harness: a real `nats-server -js` (Debian's 2.9) on free loopback ports with a fresh store
//! directory, readiness polled, stopped by PID on drop; `kill()` + `start_again()` (same ports
//! and store) for restart tests. The starter lives in the broker-nats crate's tests so that
//! crate can use it without depending on this (wasmtime-heavy) harness.

#[path = "../../host/broker-nats/tests/support/server.rs"]
mod server;

pub use server::NatsServer;

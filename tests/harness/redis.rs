//! A real `redis-server` on a free loopback port with a fresh data directory, stopped by PID on
//! drop: [`RedisServer::start`], [`RedisServer::start_with`] (`Persistence::AofEverySec` or
//! `AofAlways` for restart tests), `url()`, `restart()` (same port and directory, so the AOF is
//! replayed), `kill()` + `start_again()`, and `cli(&[...])` to act as a foreign producer.
//!
//! The implementation is shared with the broker-redis crate's own tests, which cannot depend on
//! this harness (it pulls in wasmtime).

#[path = "../../host/broker-redis/tests/support/server.rs"]
mod server;

pub use server::{Persistence, RedisServer};

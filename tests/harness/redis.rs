//! A real `redis-server` on a free loopback port with a fresh data directory, stopped by PID on
//! drop: [`RedisServer::start`], [`RedisServer::start_with`] (`Persistence::AofEverySec` or
//! `AofAlways` for restart tests), `url()`, `restart()` (same port and directory, so the AOF is
//! replayed), `kill()` + `start_again()`, and `cli(&[...])` to act as a foreign producer.
//!
//! The implementation is shared with the broker-redis crate's own tests, which cannot depend on
//! this harness (it pulls in wasmtime).

#[path = "../../host/broker-redis/tests/support/server.rs"]
mod server;

/// A 3-node Redis Cluster ([`RedisCluster::start`], `url()` is `redis+cluster://...`).
#[path = "../../host/broker-redis/tests/support/cluster.rs"]
mod cluster;

/// Master + replica + 3 sentinels ([`RedisSentinels::start`], `url()` is
/// `redis+sentinel://.../<master>`).
#[path = "../../host/broker-redis/tests/support/sentinel.rs"]
mod sentinel;

pub use cluster::{RedisCluster, shared_cluster};
pub use sentinel::RedisSentinels;
pub use server::{Persistence, RedisServer};

//! Integration tests: real `wasmboost serve` hosts on a highly available Redis (issue 19).
//!
//! - `cluster`: two hosts on a 3-node Redis Cluster (`redis+cluster://`) drain two queues
//!   (whose keys live on different nodes), every task run once.
//! - `sentinel`: two hosts on a master + replica + 3 sentinels (`redis+sentinel://`,
//!   `wait_replicas = 1`); the master is killed (`kill -9`) under load, a replica is promoted,
//!   the hosts find it by themselves, and every task acknowledged to its producer runs and
//!   keeps its own result.

mod cluster;
mod sentinel;

//! Integration tests: the Redis broker at host level (issue 5). Every test runs real
//! `wasmboost serve` processes with `[broker] type = "redis"` against a harness `redis-server`
//! (free loopback port, fresh data dir, stopped by PID).
//!
//! - `support`: start hosts, deploy, publish, poll queue rows, read records from Redis.
//! - `spread`: three hosts, 10 000 tasks, each run once, load spread over all three.
//! - `kill`: `kill -9` of a host with tasks in flight; the others reclaim them within the lease.
//! - `restart`: redis-server restarted (AOF, fsync always) mid-run; nothing acknowledged is lost.
//! - `shared`: global QPS over three hosts; deploy through one, run on another; pause for all.
//! - `foreign`: `redis-cli XADD` messages run; malformed entries are dead-lettered with a reason.

mod foreign;
mod kill;
mod restart;
mod shared;
mod spread;
pub(crate) mod support;

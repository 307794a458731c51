//! Integration tests: the Redis broker at host level (issue 5). Every test runs real
//! `wasmboost serve` processes with `[broker] type = "redis"` against a harness `redis-server`
//! (free loopback port, fresh data dir, stopped by PID).
//!
//! - `support`: start hosts, deploy, publish, poll queue rows, read records from Redis.
//! - `spread`: three hosts, 10 000 tasks, each run once, load spread over all three.
//! - `kill`: `kill -9` of a host with tasks in flight; the others reclaim them within the lease.
//! - `restart`: redis-server killed (SIGKILL) mid-run: nothing acknowledged is lost under
//!   `appendfsync always`, nothing acknowledged before the last 2 s under `everysec`.
//! - `shared`: global QPS over three hosts; deploy through one, run on another; pause for all.
//! - `foreign`: `redis-cli XADD` messages run; malformed entries are dead-lettered with a reason.

mod foreign;
mod kill;
mod restart;
mod shared;
mod spread;
pub(crate) mod support;

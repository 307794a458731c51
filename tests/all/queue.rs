//! Integration tests: the queue engine (issue 4). In-process hosts on the memory and embedded
//! brokers with real guests, and the real binary for kill -9 and restarts.
//!
//! - `support`: start a host from TOML, deploy guests, wait for records.
//! - `policies`: retries / DLQ, malformed, QPS, concurrency, expiry, dedup, priority, window.
//! - `deploys`: redeploy while running, rollback, refused uploads.
//! - `restarts`: pause and delays across restarts, graceful shutdown, kill -9.
//! - `counters`: counters equal records after kill -9 three times during a drain.
//! - `gates`: a paused queue leases nothing, even with a fetch already waiting.

mod counters;
mod deploys;
mod gates;
mod kill;
mod policies;
mod restarts;
mod support;

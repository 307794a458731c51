//! Integration tests: hosts in production (issue 19), through the real binary.
//!
//! - `cluster`: hosts in their own network namespaces on one Redis, reached over a real
//!   interface (`tests/harness/netns.rs`); skipped with a message where the kernel refuses.
//! - `scaling`: 1, 2, 3 hosts draining sleeping tasks; tasks/s and the ratio to ideal.
//! - `partition`: one host cut off from Redis for 10 s while it runs tasks; nothing lost,
//!   duplicates bounded by what it held, and it recovers by itself.
//! - `rolling`: the three hosts restarted one at a time with SIGTERM under load: nothing lost,
//!   nothing run twice.
//! - `drain`: a task longer than `shutdown_grace` goes back to the broker and the host exits 0
//!   at the grace period; a stopping host leaves the host list at once (heartbeat withdrawn).

mod cluster;
mod drain;
mod partition;
mod rolling;
mod scaling;

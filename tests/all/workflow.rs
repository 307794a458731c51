//! Integration tests: durable workflows (issue 16), on the real binary with the `calc` guest.
//!
//! - `local`: one host on the embedded broker: a chain across two queues holding a chord, a
//!   map and its callback pass results along in order (`wasmboost workflow run --wait`,
//!   `workflow status`); a failing step fails the workflow with its error, the later stages
//!   never start and `on_error` runs once; a cancel stops a workflow.
//! - `shared`: a chord of 300 members on Redis with the host killed with -9 twice mid-run: the
//!   callback is published once and sums every member once.

mod local;
mod shared;
mod support;

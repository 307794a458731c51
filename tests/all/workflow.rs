//! Integration tests: durable workflows (issue 16), on the real binary with the `calc` guest.
//!
//! - `local`: one host on the embedded broker: a chain across two queues holding a chord, a
//!   map and its callback pass results along in order (`wasmboost workflow run --wait`,
//!   `workflow status`); a failing step fails the workflow with its error, the later stages
//!   never start and `on_error` runs once; a cancel stops a workflow.
//! - `chord`: a chord of 1 000 members on the embedded store and on Redis, its host crashed
//!   twice mid-run (once inside the join-then-settle window, once by kill -9): the callback runs
//!   once with every member's result once and in order.

mod chord;
mod local;
mod support;

//! Integration tests: cancel by id (issue 16), on the real binary.
//!
//! - `support`: the queue config, deploys, records over HTTP, the cancel request and its timing.
//! - `local`: one host on the embedded broker: a queued task never runs; a spinning guest stops
//!   within 50 ms of the cancel and is not retried; `wasmboost cancel` through the CLI.
//! - `shared`: two hosts on one Redis: a cancel through host A stops a task running on host B,
//!   spinning in wasm or blocked in a host call.

mod local;
mod shared;
mod support;

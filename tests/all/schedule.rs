//! Integration tests: periodic schedules (issue 16), on the real binary.
//!
//! - `local`: one host on the embedded broker, `every = "1s"` and `cron = "* * * * * *"` for
//!   ~30 s: each tick of each fires once, within 100 ms of its time, none missing;
//!   `wasmboost schedule list` shows the last tick's state.
//! - `republish`: a leader dies between claiming a tick and publishing it; the restarted
//!   leader publishes the claimed tick, which runs once.
//! - `shared`: three hosts on one Redis, one fires; `kill -9` of the leader: another takes over
//!   within the lease and no tick is lost or published twice (`misfire = "once"`, grace 10 s).
//! - `runtime`: `wasmboost schedule add|pause|resume|run-now|rm` on a running host.

mod local;
mod republish;
mod runtime;
mod shared;

//! Harness: a real `beanstalkd` with a binlog on a free loopback port, killed by PID on drop. The
//! starter lives in the broker-beanstalkd crate's tests so that crate can use it without
//! depending on this (wasmtime-heavy) harness.
//!
//! Not yet listed in `lib.rs`: it is enabled together with `tests/all/beanstalkd.rs` once the
//! composition root can open `[broker] type = "beanstalkd"` (add `pub mod beanstalkd;` there).

#[path = "../../host/broker-beanstalkd/tests/support/server.rs"]
mod server;

pub use server::{BeanstalkdServer, raw, tube_stat};

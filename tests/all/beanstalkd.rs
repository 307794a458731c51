//! Integration tests: beanstalkd (issue 12) through the real `wasmboost serve` with
//! `[broker] type = "beanstalkd"`. The broker's own behaviour and the conformance suite are
//! tested in `host/broker-beanstalkd/tests`; here, the host on top of it.
//!
//! - `support`: a private beanstalkd per test, host config, deploy / publish / records.
//! - `crash`: kill -9 of a host with ≥ 500 tasks in flight; beanstalkd kill -9 + restart with
//!   its binlog under a running host.
//! - `delivery`: poison → `max_retries + 1` attempts → buried with the reason → replay; a
//!   delayed task on time (±1 s); priority order; a `greenstalk` producer run by the host.

mod crash;
mod delivery;
mod support;

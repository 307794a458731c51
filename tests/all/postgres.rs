//! Integration tests: PostgreSQL (issue 18) through the real `wasmboost serve` with
//! `[broker] type = "postgres"`. The broker's own behaviour and the conformance suite are tested
//! in `host/broker-postgres/tests`; here, the host on top of it.
//!
//! - `support`: a private PostgreSQL per test, host config, deploy / publish / records.
//! - `crash`: kill -9 of a host with tasks in flight (back after the lease); a PostgreSQL crash
//!   and restart under a running host.
//! - `delivery`: poison → `max_retries + 1` attempts → DLQ with the reason → replay; a delayed
//!   task on time (±1 s); priority order; the plain-SQL producer `wasmboost.publish` via `psql`.

mod crash;
mod delivery;
mod support;

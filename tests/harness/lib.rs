//! Test harness shared by the integration tests.
//!
//! - [`api`]: deploy, publish, records and queue rows through a host's API; several hosts.
//! - [`beanstalkd`]: a real `beanstalkd` with a binlog on a free loopback port, stopped by PID.
//! - [`browser`]: headless Chromium through WebDriver (chromedriver on a free port).
//! - [`guests`]: builds the guest components under `tests/guests/` and `examples/` once per run.
//! - [`host`]: finds the `wasmboost` binary and runs it (`serve` on free ports, CLI commands).
//! - [`nats`]: a real `nats-server -js` on free loopback ports, stopped by PID on drop.
//! - [`netns`]: a private subnet of network namespaces (bridge + veths) for hosts on their own
//!   addresses, with a partition switch per host; skipped where the kernel refuses.
//! - [`poll`]: waiting for a condition with a deadline.
//! - [`postgres`]: a real PostgreSQL 15 on a free loopback port, stopped by PID on drop.
//! - [`redis`]: a real `redis-server` on a free loopback port, stopped by PID on drop.
//! - [`rabbit`]: one real `rabbitmq-server` node per test run.
//! - [`runs`]: counting every run of every task from outside, through kills.
//! - [`python`]: componentize-py in a project-local virtualenv, Python guests.
//! - [`web`]: a local HTTP site on a free loopback port, counting every request it serves.

pub mod api;
pub mod beanstalkd;
pub mod browser;
pub mod guests;
pub mod host;
pub mod nats;
pub mod netns;
pub mod poll;
pub mod postgres;
pub mod producer;
pub mod python;
pub mod rabbit;
pub mod redis;
pub mod runs;
pub mod web;

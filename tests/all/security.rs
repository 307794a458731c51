//! Integration tests of issue 11 (trust no caller), a module per area. Every test runs the real
//! `wasmboost serve` binary; each turns one attack of the issue into a check that it fails with a
//! clear error.
//!
//! - `auth`: tokens and scopes, the browser guard, bounded requests, TLS, the audit log.
//! - `budgets`: a message can only lower its queue's budgets; at publish (400 naming the field
//!   and its ceiling) and when it skips publish (written straight into Redis: capped).
//! - `names`: namespaces that cannot collide: key-layout words as task ids and queue names,
//!   bad queue names and task ids at every entry point, RabbitMQ names.
//! - `house`: uploads, compiles, guest output and files at rest.

mod auth;
mod budgets;
mod house;
mod names;

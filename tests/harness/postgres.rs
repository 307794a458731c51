//! Harness: a real PostgreSQL 15 (`initdb` into a temp dir, `postgres` on a free loopback port
//! as a non-root user), stopped by PID on drop. The starter lives in the broker-postgres
//! crate's tests so that crate can use it without depending on this (wasmtime-heavy) harness.

#[path = "../../host/broker-postgres/tests/support/server.rs"]
mod server;

pub use server::PostgresServer;

/// Run `sql` with `psql` against `url`, as a producer outside wasmboost would; its stdout
/// (unaligned, tuples only).
pub fn psql(url: &str, sql: &str) -> std::process::Output {
    std::process::Command::new("psql")
        .args([url, "-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-c", sql])
        .output()
        .expect("psql runs (apt-get install postgresql-client)")
}

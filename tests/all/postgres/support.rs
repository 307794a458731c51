//! Helpers for the PostgreSQL host tests: a private PostgreSQL per test and a `wasmboost serve`
//! on it; deploy / publish / records come from the shared `wasmboost_tests::api`.

use wasmboost_tests::host::{HostOptions, HostProcess};
use wasmboost_tests::postgres::PostgresServer;

pub use wasmboost_tests::api::{LONG, deploy, poll, publish_batch, queue_row, record_in};

/// `wasmboost serve` on `server` (state in the same database) with `extra` config.
pub fn start(server: &PostgresServer, extra: &str) -> HostProcess {
    let config = format!(
        "[broker]\ntype = \"postgres\"\nurl = {:?}\n{extra}\n",
        server.url()
    );
    HostOptions::default().config(config).start()
}

//! Helpers for the beanstalkd host tests: a private beanstalkd per test and a `wasmboost serve`
//! on it; deploy / publish / records / polling come from the shared `wasmboost_tests::api`.

use wasmboost_tests::beanstalkd::BeanstalkdServer;
use wasmboost_tests::host::{HostOptions, HostProcess};

pub use wasmboost_tests::api::{LONG, deploy, poll, publish_batch, queue_row, record_in};

/// `wasmboost serve` on `server` (state in the host's embedded store) with `extra` config.
pub fn start(server: &BeanstalkdServer, extra: &str) -> HostProcess {
    let config = format!(
        "[broker]\ntype = \"beanstalkd\"\naddr = {:?}\nttr_secs = 5\n{extra}\n",
        server.addr()
    );
    HostOptions::default().config(config).start()
}

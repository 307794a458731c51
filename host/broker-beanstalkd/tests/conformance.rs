//! The shared broker conformance suite against a real `beanstalkd` (one per test, on a free
//! loopback port, killed on drop).

#[path = "support/server.rs"]
#[allow(
    dead_code,
    reason = "shared by several test binaries, each using part of it"
)]
mod server;

use std::sync::Arc;

use server::BeanstalkdServer;
use wasmboost_broker_beanstalkd::{BeanstalkBroker, BeanstalkConfig};

/// The suite's lease tests use 600 ms leases and wait up to 10 s for a redelivery; beanstalkd
/// leases are the job's TTR in whole seconds, so the fixture puts jobs with a short one.
const TTR_SECS: u32 = 2;

async fn broker() -> (Arc<BeanstalkBroker>, BeanstalkdServer) {
    let server = BeanstalkdServer::start();
    let config = BeanstalkConfig {
        ttr_secs: TTR_SECS,
        ..BeanstalkConfig::with_addr(server.addr())
    };
    let broker = BeanstalkBroker::connect(config)
        .await
        .expect("connect to the test beanstalkd");
    (Arc::new(broker), server)
}

mod broker {
    wasmboost_broker::broker_conformance!(super::broker());
}

//! The shared broker and state conformance suites against a real `nats-server -js` (one per
//! test, on free loopback ports, stopped on drop).

#[path = "support/server.rs"]
#[allow(
    dead_code,
    reason = "shared by several test binaries, each using part of it"
)]
mod server;

use std::sync::Arc;

use server::NatsServer;
use wasmboost_broker_nats::{NatsBroker, NatsConfig, NatsStore};

async fn broker() -> (Arc<NatsBroker>, NatsServer) {
    let server = NatsServer::start();
    let broker = NatsBroker::connect(NatsConfig::with_url(server.url()))
        .await
        .expect("connect to the test nats-server");
    (Arc::new(broker), server)
}

mod broker {
    wasmboost_broker::broker_conformance!(super::broker());
}

async fn store() -> (Arc<NatsStore>, NatsServer) {
    let server = NatsServer::start();
    let store = NatsStore::connect(&NatsConfig::with_url(server.url()))
        .await
        .expect("connect the state store to the test nats-server");
    (Arc::new(store), server)
}

mod state {
    wasmboost_broker::state_conformance!(super::store());
}

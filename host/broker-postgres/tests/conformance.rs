//! The shared broker and state conformance suites against a real PostgreSQL (one fresh cluster per test,
//! on a free loopback port, stopped on drop).

#[path = "support/server.rs"]
#[allow(
    dead_code,
    reason = "shared by several test binaries, each using part of it"
)]
mod server;

use std::sync::Arc;

use server::PostgresServer;
use wasmboost_broker_postgres::{PostgresBroker, PostgresConfig, PostgresStore};

async fn broker() -> (Arc<PostgresBroker>, PostgresServer) {
    let server = PostgresServer::start();
    let broker = PostgresBroker::connect(PostgresConfig::with_url(server.url()))
        .await
        .expect("connect to the test postgres");
    (Arc::new(broker), server)
}

mod broker {
    wasmboost_broker::broker_conformance!(super::broker());
}

async fn store() -> (Arc<PostgresStore>, PostgresServer) {
    let server = PostgresServer::start();
    let store = PostgresStore::connect(&PostgresConfig::with_url(server.url()))
        .await
        .expect("connect the state store to the test postgres");
    (Arc::new(store), server)
}

mod state {
    wasmboost_broker::state_conformance!(super::store());
}

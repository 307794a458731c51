//! The shared broker and state store conformance suites against a real `redis-server` (one per
//! test, on a free loopback port, stopped on drop).

#[path = "support/server.rs"]
#[allow(
    dead_code,
    reason = "shared by several test binaries, each using part of it"
)]
mod server;

use std::sync::Arc;

use server::RedisServer;
use wasmboost_broker_redis::{RedisBroker, RedisConfig, RedisStore};

async fn broker() -> (Arc<RedisBroker>, RedisServer) {
    let server = RedisServer::start();
    let broker = RedisBroker::connect(RedisConfig::with_url(server.url()))
        .await
        .expect("connect to the test redis-server");
    (Arc::new(broker), server)
}

async fn store() -> (Arc<RedisStore>, RedisServer) {
    let server = RedisServer::start();
    let store = RedisStore::connect(RedisConfig::with_url(server.url()))
        .await
        .expect("connect to the test redis-server");
    (Arc::new(store), server)
}

mod broker {
    wasmboost_broker::broker_conformance!(super::broker());
}

mod state {
    wasmboost_broker::state_conformance!(super::store());
}

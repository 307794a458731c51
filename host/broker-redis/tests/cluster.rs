//! The shared broker and state conformance suites on a real 3-node Redis Cluster
//! (`redis+cluster://`), shared by every test of this binary; each test gets a key prefix of
//! its own, so its global keys (paused, bound, hosts, tokens) are its own too.

#[path = "support/server.rs"]
#[allow(
    dead_code,
    reason = "shared by several test binaries, each using part of it"
)]
mod server;

#[path = "support/cluster.rs"]
#[allow(
    dead_code,
    reason = "shared by several test binaries, each using part of it"
)]
mod cluster;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use wasmboost_broker_redis::{RedisBroker, RedisConfig, RedisStore};

fn config() -> RedisConfig {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    RedisConfig {
        prefix: format!(
            "wbc{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ),
        ..RedisConfig::with_url(cluster::shared_cluster().url())
    }
}

async fn broker() -> Arc<RedisBroker> {
    let broker = RedisBroker::connect(config())
        .await
        .expect("connect to the test cluster");
    Arc::new(broker)
}

async fn store() -> Arc<RedisStore> {
    let store = RedisStore::connect(config())
        .await
        .expect("connect to the test cluster");
    Arc::new(store)
}

mod broker {
    wasmboost_broker::broker_conformance!(super::broker());
}

mod state {
    wasmboost_broker::state_conformance!(super::store());
}

//! Redis broker and state store: many `wasmboost serve` hosts share queues, modules, limits
//! and results through one Redis (7.0 or newer; no modules needed).
//!
//! - [`config`]: [`RedisConfig`], the `[broker] type = "redis"` settings.
//! - [`broker`]: [`RedisBroker`], queues on Redis Streams with one consumer group per queue.
//! - `fetch`: leasing messages (priorities with aging, delayed promotion, lease reclaim).
//! - `lease`: renewing and settling one delivery; `acker`: group-committed acks (`batch`:
//!   the batching both group writers share).
//! - `dead`: the dead-letter stream (list, replay, purge).
//! - [`store`]: [`RedisStore`], the shared state store; `records`: group-written task records;
//!   `notify`: terminal-record pub/sub; `kv`: task key-value namespaces (one script run each).
//! - `keys`: every key name (key layout 2); `layout`: the layout marker and the migration of
//!   layout-1 data on connect; `fields`: stream entry fields <-> messages; `scripts` and
//!   `src/lua/`: the Lua scripts; `reply`: reply parsing; [`error`].
//! - `conn`: connections, over `handle` (one server, a cluster, or the master `sentinel`
//!   names); `topology`: which of the three a URL names.
//!
//! The key layout and delivery guarantees are documented in this crate's README.md.

mod acker;
mod batch;
pub mod broker;
pub mod config;
mod conn;
mod dead;
pub mod error;
mod fetch;
mod fields;
mod handle;
mod keys;
mod kv;
mod layout;
mod lease;
mod notify;
mod records;
mod reply;
mod scripts;
mod sentinel;
pub mod store;
mod topology;

use std::sync::Arc;

use wasmboost_broker::{Opened, StateStore};

pub use broker::RedisBroker;
pub use config::RedisConfig;
pub use error::ConnectError;
pub use fetch::MAX_FETCH;
pub use store::RedisStore;

/// The config `type` string that selects this broker.
pub const TYPE: &str = "redis";

/// The `[broker] type = "redis"` settings.
pub type Config = RedisConfig;

/// The broker of `config` and its state store on the same server (Redis keeps both).
pub async fn open(config: RedisConfig) -> Result<Opened, ConnectError> {
    let broker = RedisBroker::connect(config.clone()).await?;
    let store = RedisStore::connect(config).await?;
    Ok((Arc::new(broker), Some(Arc::new(store))))
}

/// The state store of a broker that keeps no state itself (RabbitMQ, beanstalkd): in the Redis
/// at `url` when one is configured, shared by every host pointing at it; `None` leaves the state
/// in the host's embedded store.
pub async fn shared_state(url: Option<&str>) -> Result<Option<Arc<dyn StateStore>>, ConnectError> {
    let Some(url) = url else { return Ok(None) };
    let store = RedisStore::connect(RedisConfig::with_url(url)).await?;
    Ok(Some(Arc::new(store)))
}

//! beanstalkd broker: one tube per queue, jobs reserved with their TTR as the lease and renewed
//! with `touch`, native delays and priorities, `bury` for dead letters. beanstalkd holds only
//! jobs: results, pause flags, dedup marks, modules and counters live in the host's embedded
//! store, or in Redis when `state_redis_url` is set (several hosts sharing the queues).
//!
//! - [`config`]: [`BeanstalkConfig`], the `[broker] type = "beanstalkd"` settings.
//! - [`broker`]: [`BeanstalkBroker`], the `Broker` implementation.
//! - `pool`: each queue's reserving connections (why several: see its docs and README.md).
//! - `lease`: renewing and settling one reserved job.
//! - `dead`: dead letters (buried jobs and their reasons).
//! - `tube`: tube names, priority and delay mappings, the header in front of our jobs' bodies.
//! - `conn`: connections that reconnect with backoff; `proto`: the protocol codec.
//! - [`error`]: setup errors ([`ConnectError`]) and how connection errors map onto the seam.
//! - [`ceiling`]: the raw put/reserve/delete ceiling with the same client, for the benchmark.

pub mod broker;
pub mod ceiling;
pub mod config;
mod conn;
mod dead;
pub mod error;
mod lease;
mod pool;
mod proto;
pub mod tube;

use std::sync::Arc;

pub use broker::BeanstalkBroker;
pub use config::BeanstalkConfig;
pub use error::ConnectError;
use wasmboost_broker::Opened;

/// The config `type` string that selects this broker.
pub const TYPE: &str = "beanstalkd";

/// The `[broker] type = "beanstalkd"` settings.
pub type Config = BeanstalkConfig;

/// The broker of `config`, and the shared state store when `state_redis_url` is set (`None`:
/// the host keeps state in its embedded store).
pub async fn open(config: BeanstalkConfig) -> Result<Opened, ConnectError> {
    let store = wasmboost_broker_redis::shared_state(config.state_redis_url.as_deref())
        .await
        .map_err(wasmboost_broker::StateError::from)?;
    let broker = BeanstalkBroker::connect(config).await?;
    Ok((Arc::new(broker), store))
}

//! Opening the broker and the state store named by `[broker] type`: one arm of [`open`] per
//! implementation.

use std::sync::Arc;

use wasmboost_broker::{Broker, MemoryBroker, MemoryStore, StateStore};
use wasmboost_broker_redis::RedisConfig;

use crate::config::{BrokerConfig, Config};
use crate::error::HostError;

/// The broker and state store of `config`.
pub(crate) async fn open(
    config: &Config,
) -> Result<(Arc<dyn Broker>, Arc<dyn StateStore>), HostError> {
    match &config.broker {
        BrokerConfig::Embedded { .. } => {
            let path = config.embedded_path();
            let (broker, store) = wasmboost_broker::open_embedded(&path)?;
            Ok((broker, store))
        }
        BrokerConfig::Memory => Ok((Arc::new(MemoryBroker::new()), Arc::new(MemoryStore::new()))),
        BrokerConfig::Redis(redis) => {
            let broker = wasmboost_broker_redis::RedisBroker::connect(redis.clone())
                .await
                .map_err(wasmboost_broker::BrokerError::from)?;
            Ok((Arc::new(broker), redis_store(redis.clone()).await?))
        }
        BrokerConfig::Amqp {
            url,
            state_redis_url,
        } => {
            let broker = wasmboost_broker_amqp::open(url).await?;
            // RabbitMQ holds no state: share it through Redis when configured (several hosts),
            // else keep it in this host's embedded store (one host).
            let store: Arc<dyn StateStore> = match state_redis_url {
                Some(url) => redis_store(RedisConfig::with_url(url)).await?,
                None => wasmboost_broker::open_embedded(config.embedded_path())?.1,
            };
            Ok((broker, store))
        }
    }
}

async fn redis_store(config: RedisConfig) -> Result<Arc<dyn StateStore>, HostError> {
    let store = wasmboost_broker_redis::RedisStore::connect(config)
        .await
        .map_err(wasmboost_broker::StateError::from)?;
    Ok(Arc::new(store))
}

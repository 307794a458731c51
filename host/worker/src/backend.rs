//! Opening the broker and the state store named by `[broker] type`. Each implementation is one
//! arm of [`open`]; the Redis and AMQP crates add theirs.

use std::sync::Arc;

use wasmboost_broker::{Broker, MemoryBroker, MemoryStore, StateStore};

use crate::config::{BrokerConfig, Config};
use crate::error::HostError;

/// The broker and state store of `config`.
pub(crate) async fn open(config: &Config) -> Result<(Arc<dyn Broker>, Arc<dyn StateStore>), HostError> {
    match &config.broker {
        BrokerConfig::Embedded { .. } => {
            let path = config.embedded_path();
            let (broker, store) = wasmboost_broker::open_embedded(&path)?;
            Ok((broker, store))
        }
        BrokerConfig::Memory => Ok((Arc::new(MemoryBroker::new()), Arc::new(MemoryStore::new()))),
        BrokerConfig::Redis { url } => {
            let redis = wasmboost_broker_redis::RedisConfig::with_url(url);
            let broker = wasmboost_broker_redis::RedisBroker::connect(redis.clone())
                .await
                .map_err(wasmboost_broker::BrokerError::from)?;
            let store = wasmboost_broker_redis::RedisStore::connect(redis)
                .await
                .map_err(wasmboost_broker::StateError::from)?;
            Ok((Arc::new(broker), Arc::new(store)))
        }
        BrokerConfig::Amqp { .. } => Err(HostError::Internal(format!(
            "broker type {:?} is not built into this host yet",
            config.broker.kind()
        ))),
    }
}

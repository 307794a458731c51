//! RabbitMQ broker over AMQP 0.9.1: durable priority queues, publisher confirms, manual acks, a
//! dead-letter exchange with per-queue dead-letter queues, and delays through TTL bucket queues
//! (no plugins). See `README.md` for the topology and a foreign-producer example.
//!
//! - [`config`]: [`AmqpConfig`], the `[broker] type = "amqp"` settings.
//! - [`broker`]: [`AmqpBroker`], the [`wasmboost_broker::Broker`] implementation; [`open`] (from
//!   the config), [`connect`] (from a URL) and [`connect_nodes`] (several nodes of one cluster,
//!   tried in turn) make one.
//! - internal: `session` (connection, confirm channel, reconnect with backoff, to the next node
//!   of a cluster), `topology` (names,
//!   declarations, delay buckets), `codec` (message ⇄ AMQP properties and `x-wasmboost-*`
//!   headers), `consumer` (one prefetch-limited consumer per queue buffering for `fetch`),
//!   `lease` (settlement and the in-process lease), `reaper` (one task ending every overdue
//!   lease), `acks` (coalescing a channel's acks into `multiple` acks), `dlq` (list, replay,
//!   purge).
//!
//! Guarantees: at-least-once. A message a host received but did not settle is delivered again
//! when that host's connection dies (RabbitMQ requeues unacked messages) or, within a live host,
//! when its lease ends. RabbitMQ holds no shared state: an AMQP deployment keeps results, dedup,
//! pause flags, modules and counters in the Redis store when `state_redis_url` is configured
//! (required with more than one host) or in the embedded store on a single host.

pub mod broker;
pub mod config;

mod acks;
mod codec;
mod consumer;
mod dlq;
mod lease;
mod reaper;
mod session;
mod topology;

use std::sync::Arc;

pub use broker::AmqpBroker;
pub use config::{AmqpConfig, QueueType};
use wasmboost_broker::{BrokerError, Opened};

/// The config `type` string that selects this broker.
pub const TYPE: &str = "amqp";

/// The `[broker] type = "amqp"` settings.
pub type Config = AmqpConfig;

/// Why the broker of a config could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error(transparent)]
    Broker(#[from] BrokerError),
    #[error("state store: {0}")]
    State(#[from] wasmboost_broker_redis::ConnectError),
}

/// The broker of `config`, and the shared state store in Redis when `state_redis_url` is set
/// (`None`: the host keeps state in its embedded store, one host only).
pub async fn open(config: AmqpConfig) -> Result<Opened, OpenError> {
    let broker = connect_nodes(config.urls(), config.queue_type).await?;
    let store = wasmboost_broker_redis::shared_state(config.state_redis_url.as_deref()).await?;
    Ok((broker, store))
}

/// Connect to RabbitMQ at `url` (`amqp://user:pass@host:5672/%2f`) and return the broker. Later
/// connection losses are repaired on use, with backoff.
pub async fn connect(url: &str) -> Result<Arc<AmqpBroker>, BrokerError> {
    connect_with(url, QueueType::Classic).await
}

/// [`connect`], declaring queues as `queue_type` (`quorum`: replicated over the cluster).
pub async fn connect_with(
    url: &str,
    queue_type: QueueType,
) -> Result<Arc<AmqpBroker>, BrokerError> {
    connect_nodes(vec![url.to_owned()], queue_type).await
}

/// [`connect_with`] to the first of `urls` (nodes of one cluster) that answers; a lost
/// connection is replaced by one to the next node that answers.
pub async fn connect_nodes(
    urls: Vec<String>,
    queue_type: QueueType,
) -> Result<Arc<AmqpBroker>, BrokerError> {
    let broker = AmqpBroker::with_nodes(urls, queue_type);
    broker.connect().await?;
    Ok(Arc::new(broker))
}

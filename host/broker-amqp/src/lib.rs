//! RabbitMQ broker over AMQP 0.9.1: durable priority queues, publisher confirms, manual acks, a
//! dead-letter exchange with per-queue dead-letter queues, and delays through TTL bucket queues
//! (no plugins). See `README.md` for the topology and a foreign-producer example.
//!
//! - [`broker`]: [`AmqpBroker`], the [`wasmboost_broker::Broker`] implementation, and [`open`].
//! - internal: `session` (connection, confirm channel, reconnect with backoff), `topology` (names,
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
use wasmboost_broker::BrokerError;

/// Connect to RabbitMQ at `url` (`amqp://user:pass@host:5672/%2f`) and return the broker. Later
/// connection losses are repaired on use, with backoff.
pub async fn open(url: &str) -> Result<Arc<AmqpBroker>, BrokerError> {
    let broker = AmqpBroker::new(url);
    broker.connect().await?;
    Ok(Arc::new(broker))
}

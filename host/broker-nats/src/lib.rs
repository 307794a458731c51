//! NATS JetStream broker: a work-queue stream per queue with one subject (and one durable pull
//! consumer, shared by every host) per priority band, drained highest first; the consumers'
//! `AckWait` bounds a dead host's leases while live hosts keep theirs with in-progress acks;
//! delays and retry backoff wait on a delay subject, parked by NAK with delay until due; dead
//! letters go to a stream of their own with the reason. Publishes carry `Nats-Msg-Id` and wait
//! for JetStream's ack. Results, pause flags, dedup marks, modules, counters, heartbeats, the
//! leader lease and the global rate live in JetStream key-value buckets ([`NatsStore`]): a
//! NATS-only deployment needs no other server.
//!
//! - [`config`]: [`NatsConfig`], the `[broker] type = "nats"` settings.
//! - [`topology`]: stream, subject and consumer names, and creating them on first use.
//! - [`broker`]: [`NatsBroker`], the `Broker` implementation.
//! - [`state`]: [`NatsStore`], the `StateStore` implementation.
//! - `lease`: keeping a fetched message's lease (in-progress acks) and settling it.
//! - `dead`: the dead-letter stream (list, replay).
//! - `wire`: the message fields as headers.
//! - [`error`]: setup errors ([`ConnectError`]) and how client errors map onto the seam.

pub mod broker;
pub mod config;
mod dead;
pub mod error;
mod lease;
pub mod state;
pub mod topology;
mod wire;

use std::sync::Arc;

pub use broker::NatsBroker;
pub use config::NatsConfig;
pub use error::ConnectError;
pub use state::NatsStore;
use wasmboost_broker::Opened;

/// The config `type` string that selects this broker.
pub const TYPE: &str = "nats";

/// The `[broker] type = "nats"` settings.
pub type Config = NatsConfig;

/// The broker of `config` and its state store (key-value buckets on the same server), sharing
/// one connection.
pub async fn open(config: NatsConfig) -> Result<Opened, ConnectError> {
    let client = broker::connect(&config).await?;
    let store = NatsStore::with_client(client.clone(), &config).await?;
    let broker = NatsBroker::with_client(client, config);
    Ok((Arc::new(broker), Some(Arc::new(store))))
}

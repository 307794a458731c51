//! Helpers every broker that talks to a server needs, so each broker crate writes only what is
//! particular to its server:
//!
//! - [`wire`]: the message ↔ wire-fields mapping ([`wire::WireFields`]): field names and the
//!   defaults of a foreign producer's message.
//! - [`batcher`]: group commit ([`batcher::Batcher`]) for acks and deletes: each caller waits
//!   for its own outcome, one round trip carries everything queued meanwhile.
//! - [`backoff`]: reconnect pacing ([`backoff::Backoff`]).
//! - [`reaper`]: a deadline queue ([`reaper::Deadlines`]) for leases the client must end or
//!   keep alive itself.
//!
//! Used by `wasmboost-broker-beanstalkd`. The Redis (`fields.rs`, `batch.rs`) and RabbitMQ
//! (`codec.rs`, `acks.rs`, `reaper.rs`) brokers predate them and keep their own copies for now:
//! their field names are the same as [`wire`]'s, so moving them over changes no stored data.

pub mod backoff;
pub mod batcher;
pub mod reaper;
pub mod wire;

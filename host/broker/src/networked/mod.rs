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
//! Used by `wasmboost-broker-beanstalkd`. The Redis broker takes its batching loop and its
//! stream field names from here. Not moved over (yet), and why:
//! - RabbitMQ's `codec.rs` carries the same fields as `x-wasmboost-*` headers (renaming them
//!   would strand messages already queued); it could map [`wire::WireFields`] onto those names.
//! - RabbitMQ's `acks.rs` coalesces into `basic.ack(multiple)` by delivery tag, which a generic
//!   batcher cannot express; Redis's `acker.rs` could sit on [`batcher::Batcher`] directly.
//! - RabbitMQ's `reaper.rs` is the same deadline queue as [`reaper::Deadlines`] with its lease
//!   state inside; moving it is a mechanical change best made with its tests at hand.

pub mod backoff;
pub mod batcher;
pub mod reaper;
pub mod wire;

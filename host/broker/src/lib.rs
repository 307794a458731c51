//! The broker seam of wasmboost.
//!
//! - [`broker`]: the object-safe [`Broker`] trait and the settle-once [`Delivery`].
//! - [`message`]: the envelope ([`NewMessage`], [`Message`], [`Settlement`], [`DeadLetter`]).
//! - [`state`]: the [`StateStore`] trait for what queues cannot hold (results, dedup, pause,
//!   modules, counters, global rate).
//! - [`error`]: [`BrokerError`], [`StateError`].

pub mod broker;
pub mod error;
pub mod message;
pub mod state;

pub use broker::{Broker, Delivery, Lease};
pub use error::{BrokerError, StateError, validate_queue_name};
pub use message::{
    DeadLetter, MAX_PRIORITY, Message, NewMessage, QueueCounts, Settlement, ms_after, now_ms,
};
pub use state::StateStore;

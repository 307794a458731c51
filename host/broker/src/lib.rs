//! The broker seam of wasmboost.
//!
//! - [`broker`]: the object-safe [`Broker`] trait and the settle-once [`Delivery`].
//! - [`message`]: the envelope ([`NewMessage`], [`Message`], [`Settlement`], [`DeadLetter`]).
//! - [`state`]: the [`StateStore`] trait for what queues cannot hold (results, dedup, pause,
//!   modules, counters, global rate).
//! - [`error`]: [`BrokerError`], [`StateError`].
//! - [`memory`]: [`MemoryBroker`] and [`MemoryStore`], for tests and throwaway runs.
//! - [`embedded`]: [`EmbeddedBroker`] and [`EmbeddedStore`], durable in one data directory (the
//!   default broker).
//! - `conformance` (feature `conformance`): the suites every broker and store implementation
//!   runs, `broker_conformance!` and `state_conformance!`.
//! - internal: `index` (one queue's ready/delayed/leased/dead bookkeeping), `engine` (the queue
//!   engine shared by memory and embedded), `waiters` (in-process `wait_terminal` wake-ups).

pub mod broker;
pub mod error;
pub mod message;
pub mod state;

pub mod embedded;
pub mod memory;

#[cfg(any(test, feature = "conformance"))]
pub mod conformance;

mod engine;
mod index;
mod waiters;

pub use broker::{Broker, Delivery, Lease};
pub use embedded::{
    EmbeddedBroker, EmbeddedOptions, EmbeddedStore, open as open_embedded,
    open_with as open_embedded_with, private_dir,
};
pub use error::{BrokerError, StateError, validate_queue_name};
pub use memory::{MemoryBroker, MemoryStore};
pub use message::{
    DeadLetter, MAX_PRIORITY, Message, NewMessage, QueueCounts, Settlement, ms_after, now_ms,
};
pub use state::StateStore;

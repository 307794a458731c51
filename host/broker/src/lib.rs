//! The broker seam of wasmboost.
//!
//! # How to add a broker
//!
//! A broker is one crate, `host/broker-<name>`, plus one line where the composition root maps a
//! config `type` to `open()`. Checklist:
//!
//! 1. **Exports**: `pub const TYPE: &str = "<name>"`; a `Config` (serde,
//!    `#[serde(deny_unknown_fields)]`, a `///` per field, defaults as named constants, validated
//!    by `Config::validate(&self) -> Result<(), impl Display>` before connecting);
//!    `async fn open(Config) -> Result<`[`Opened`]`, impl Error>` (store `None` = the host uses
//!    its embedded store; a broker shared by several hosts offers `state_redis_url`, opened
//!    with `wasmboost_broker_redis::shared_state`, so they share state too). Then add the
//!    crate's one line to `plugged!` in `host/backends/src/lib.rs`.
//! 2. **Semantics** of [`Broker`] and [`Lease`]: at-least-once, priority 0..=[`MAX_PRIORITY`]
//!    higher first and FIFO within one, `not_before_ms` delays, `attempt` owned by the host
//!    (`Retry` adds one, `Requeue` and lease-expiry redelivery keep it), dead letters listed
//!    oldest first with their reason, and the late-settle rule on [`Lease`]
//!    ([`BrokerError::LeaseLost`]).
//! 3. **Queue names** are checked with [`validate_queue_name`] before they reach the server.
//! 4. **Errors**: a `thiserror` enum for setup; operations map "cannot reach the server" to
//!    [`BrokerError::Unavailable`] (the worker backs off and retries) and the rest to `Backend`.
//! 5. **Shared helpers** in [`networked`]: [`networked::wire`] for the message fields beside the
//!    body (same names on every broker; foreign producers' bodies read as first attempts),
//!    [`networked::batcher`] for acks, [`networked::backoff`] for reconnects.
//! 6. **Tests**: `wasmboost_broker::broker_conformance!` (feature `conformance`) against a real
//!    server that the crate's test harness starts on a free loopback port and stops on `Drop`;
//!    plus the broker's own guarantees (restart, foreign producer).
//! 7. **Docs**: a crate README with its guarantees row (survives host kill -9, broker restart,
//!    delays, priority, shared across hosts) and how a foreign producer publishes; the row in
//!    the repository README's broker table; a `scripts/bench-<name>.sh` drain against the raw
//!    ceiling of the same server.
//!
//! - [`backend`]: [`Backend`], the broker and state store a host runs on.
//! - [`broker`]: the object-safe [`Broker`] trait and the settle-once [`Delivery`].
//! - [`message`]: the envelope ([`NewMessage`], [`Message`], [`Settlement`], [`DeadLetter`]).
//! - [`state`]: the [`StateStore`] trait for what queues cannot hold (results, dedup, pause,
//!   modules, counters, global rate).
//! - [`error`]: [`BrokerError`], [`StateError`].
//! - [`kv`]: the operations, replies and quotas of task key-value namespaces
//!   ([`StateStore::kv`]), and the rules every store applies them by.
//! - [`memory`]: [`MemoryBroker`] and [`MemoryStore`], for tests and throwaway runs.
//! - [`embedded`]: [`EmbeddedBroker`] and [`EmbeddedStore`], durable in one data directory (the
//!   default broker).
//! - [`networked`]: helpers for brokers that talk to a server (wire fields, ack batching,
//!   reconnect backoff).
//! - `conformance` (feature `conformance`): the suites every broker and store implementation
//!   runs, `broker_conformance!` and `state_conformance!`.
//! - [`LocalBroker`]: the one `Broker` impl of the two in-process brokers (memory, embedded).
//! - internal: `index` (one queue's ready/delayed/leased/dead bookkeeping), `engine` (the queue
//!   engine shared by memory and embedded), `waiters` (in-process `wait_terminal` wake-ups).

pub mod backend;
pub mod broker;
pub mod error;
pub mod kv;
pub mod message;
pub mod state;

pub mod embedded;
pub mod memory;
pub mod networked;

#[cfg(any(test, feature = "conformance"))]
pub mod conformance;

mod engine;
mod index;
mod join;
mod local;
mod waiters;

pub use backend::{Backend, BrokerSection, Opened};
pub use broker::{Broker, Delivery, Lease};
pub use embedded::{
    EmbeddedBroker, EmbeddedOptions, EmbeddedStore, open as open_embedded,
    open_with as open_embedded_with, private_dir,
};
pub use error::{BrokerError, NameError, StateError, validate_queue_name};
pub use kv::{KvError, KvOp, KvQuota, KvRefusal, KvReply};
pub use local::LocalBroker;
pub use memory::{MemoryBroker, MemoryStore};
pub use message::{
    DUE_SLACK_MS, DeadLetter, MAX_PRIORITY, Message, NewMessage, QueueCounts, Settlement, ms_after,
    now_ms,
};
pub use state::{StateStore, cancel_mark_id};

//! The queue engine: the loop that joins broker -> policy -> runtime -> settle -> results.
//!
//! Public:
//! - [`config`]: the strict TOML config ([`Config`], per-queue [`QueueConfig`]).
//! - [`host`]: [`Host`], a running host and its API (publish, results, deploy, stats, ...).
//! - [`record`]: [`TaskRecord`], [`TaskState`], a task's status and result.
//! - [`stats`]: [`QueueStats`] and the bucketed [`History`].
//! - [`publish`]: [`PublishOptions`], what a publish may override.
//! - [`error`]: [`HostError`] and its HTTP status mapping.
//! - [`units`]: the duration and size grammar (re-exported from `wasmboost_policy::units`).
//!
//! Internal: `engine` (shared state, per-queue worker), `fetch` (the per-queue fetch loop),
//! `task` (one delivery end to end), `verdict` (report -> settlement + record), `settings`
//! (resolved queue policy), `queue_config`, `backend` (broker factory), `upkeep` (counters,
//! heartbeats), `stats_query`.

pub mod config;
pub mod error;
pub mod host;
pub mod publish;
pub mod record;
pub mod stats;
pub use wasmboost_policy::units;

mod backend;
mod budget;
mod engine;
mod fetch;
mod records;
mod settings;
mod stats_query;
mod task;
mod upkeep;
mod verdict;

pub use config::{
    BrokerConfig, CeilingConfig, Config, ConfigError, HostConfig, QueueConfig, RedisSection, RuntimeConfigToml,
};
pub use error::HostError;
pub use host::Host;
pub use publish::PublishOptions;
pub use record::{TaskRecord, TaskState};
pub use stats::{Bucket, History, QueueStats};
pub use wasmboost_broker::DeadLetter;
pub use wasmboost_registry::Version;

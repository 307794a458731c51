//! The queue engine: the loop that joins broker -> policy -> runtime -> settle -> results.
//!
//! Public:
//! - [`config`]: the strict TOML config ([`Config`], per-queue [`QueueConfig`]).
//! - [`host`]: [`Host`], a running host and its API (publish, results, deploy, stats, ...).
//! - [`cancel`]: [`CancelReply`], cancel by id ([`Host::cancel`]).
//! - [`schedule`]: the schedule firer (leader lease, tick claims) and [`ScheduleInfo`].
//! - [`workflow`]: durable workflows (chain, group, chord, map): submit, show, cancel, and
//!   the advance each step's ending makes ([`WorkflowInfo`]).
//! - [`record`]: [`TaskRecord`], [`TaskState`], a task's status and result.
//! - [`stats`]: [`QueueStats`] and the bucketed [`History`].
//! - [`metrics`]: [`metrics::Snapshot`], this host's histograms and counters for `/metrics`.
//! - [`publish`]: [`PublishOptions`], what a publish may override.
//! - [`error`]: [`HostError`] and its HTTP status mapping.
//! - [`units`]: the duration and size grammar (re-exported from `wasmboost_policy::units`).
//!
//! Internal: `shared` (state shared by a host's parts, per-queue worker state), `bindings`
//! (queue -> running module and fetch loop), `fetch` (the per-queue fetch loop and its gates),
//! `task` (one delivery end to end), `verdict` (how a delivery ends: state, settlement, counts,
//! error), `records` (every task-record write), `budget` (per-task budgets and their ceilings),
//! `upkeep` (counters, heartbeats), `stats_query`, `trace` (task and settle spans), `services`
//! (what a task's `publish` import reaches), `fault` (test-only crash points). Config lives in
//! `config/` (`mod`: the file; `queue`: per-queue keys; `settings`: resolved policy; `error`).

pub mod cancel;
pub mod config;
pub mod error;
pub mod host;
pub mod metrics;
pub mod publish;
pub mod record;
pub mod schedule;
pub mod stats;
pub mod workflow;
pub use wasmboost_policy::units;

mod bindings;
mod budget;
mod fault;
mod fetch;
mod records;
mod services;
mod shared;
mod stats_query;
mod task;
mod trace;
mod upkeep;
mod verdict;

pub use cancel::CancelReply;
pub use config::schedule::ScheduleConfig;
pub use config::{
    BrokerSection, CeilingConfig, Config, ConfigError, HostConfig, QueueConfig, ResultsPolicy,
    RuntimeConfigToml,
};
pub use error::HostError;
pub use host::Host;
pub use publish::PublishOptions;
pub use record::{TaskRecord, TaskState};
pub use schedule::ScheduleInfo;
pub use stats::{Bucket, History, QueueStats};
pub use upkeep::HostInfo;
pub use wasmboost_broker::Backend;
pub use wasmboost_broker::DeadLetter;
pub use wasmboost_registry::Version;
pub use workflow::{StageInfo, StepInfo, WorkflowInfo};

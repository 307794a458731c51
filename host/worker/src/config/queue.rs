//! Per-queue policy as written in the config (`[defaults]` and `[queues.<name>]`): every field is
//! optional and a queue's fields are merged over `[defaults]`, then over the built-in defaults.
//! Each default is defined once by the crate whose concept it is: budgets by the runtime
//! (`wasmboost_runtime::config::DEFAULT_*`), retries and requeues by the policy crate
//! (`wasmboost_policy::retry::DEFAULT_*`), and the worker's own (concurrency, lease, TTLs) here.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use wasmboost_policy::retry::FailureKind;

use super::error::ConfigError;
use super::grants::GrantsConfig;
use crate::units::{ByteSize, HumanDuration};

/// Tasks of one queue running at once on one host.
pub const DEFAULT_CONCURRENCY: u32 = 100;
/// How long a successful task's dedup key is remembered.
pub const DEFAULT_DEDUP_TTL: Duration = Duration::from_secs(86_400);
/// How long task records (status, result) are kept.
pub const DEFAULT_RESULT_TTL: Duration = Duration::from_secs(7 * 86_400);
/// How long a fetched task stays invisible to other hosts without a renewal.
pub const DEFAULT_LEASE: Duration = Duration::from_secs(30);
/// Which task records a queue keeps when it does not say: every one, because `wasmboost
/// result <id>`, `?wait=` on a result fetch and the dashboard read them, and a queue that
/// silently stopped keeping them would break those readers. `errors` or `never` is a choice a
/// queue makes for throughput (the README's benchmark table shows what it saves).
pub const DEFAULT_RESULTS: ResultsPolicy = ResultsPolicy::Always;

/// `results`: which task records a queue stores. Counters count every task whatever it says,
/// and a task published with `?wait=` (an RPC, `extra.reply`) always gets its final record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ResultsPolicy {
    /// Every record: queued/delayed at publish, running, and the final one with its result.
    Always,
    /// Only the final record of a task that did not succeed (failed, dead-lettered, expired):
    /// what someone debugging needs, without a write per successful task.
    Errors,
    /// No records (beyond those an RPC waits for): a task that succeeds or fails costs no
    /// record write, on Redis no `SET` and no `PUBLISH`.
    Never,
}

impl ResultsPolicy {
    /// Whether a record in `state` is stored; `reply` when a caller waits for the result.
    pub fn keeps(self, state: crate::record::TaskState, reply: bool) -> bool {
        use crate::record::TaskState;
        let terminal = state.is_terminal();
        match self {
            ResultsPolicy::Always => true,
            _ if terminal && reply => true,
            ResultsPolicy::Errors => matches!(
                state,
                TaskState::Failed | TaskState::DeadLettered | TaskState::Expired
            ),
            ResultsPolicy::Never => false,
        }
    }
}

/// Per-queue policy. Every field may be left out; it then comes from `[defaults]`, then from
/// the built-in default named in its doc.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct QueueConfig {
    /// Tasks of this queue running at once on one host (default 100).
    pub concurrency: Option<u32>,
    /// Tasks started per second over all hosts sharing the broker; fractional allowed (`0.5` =
    /// one every 2 s). Smooth, no bursts. Default: unlimited.
    pub qps: Option<f64>,
    /// Fuel budget of one invocation (default 10 000 000 000).
    pub fuel: Option<u64>,
    /// Wall-clock budget of one invocation (default `"30s"`).
    pub timeout: Option<HumanDuration>,
    /// Memory budget of one invocation (default `"64MiB"`).
    pub memory: Option<ByteSize>,
    /// Retries after the first attempt before dead-lettering (default 3).
    pub max_retries: Option<u32>,
    /// Retry delays: exponential from `base`, capped at `max`, spread by `jitter`.
    pub backoff: Option<BackoffConfig>,
    /// Failure kinds that are retried: `timeout`, `out-of-fuel`, `memory-limit`,
    /// `stack-overflow`, `panic`, `trap`, `fail` (default `["timeout", "out-of-fuel"]`). A guest
    /// `retry` is always retried within `max_retries`.
    pub retry_on: Option<Vec<FailureKind>>,
    /// Times a running task may be handed back to the broker without counting an attempt (a
    /// shutdown whose grace ran out) before a hand-back counts as one (default 10).
    pub max_requeues: Option<u32>,
    /// Messages older than this (since publish) are not run but recorded as expired. Default:
    /// never expire.
    pub msg_ttl: Option<HumanDuration>,
    /// Skip a message whose arguments (or `extra.dedup_key`) succeeded within `dedup_ttl`
    /// (default false; a message with an explicit `extra.dedup_key` is always checked).
    pub dedup: Option<bool>,
    /// How long a successful run's dedup key is remembered (default `"1d"`).
    pub dedup_ttl: Option<HumanDuration>,
    /// How long task records (status, result) are kept (default `"7d"`).
    pub result_ttl: Option<HumanDuration>,
    /// When tasks may start, e.g. `"mon-fri 09:00-17:00"`; several windows joined by `;`.
    /// Outside it messages wait in the queue. Default: always.
    pub window: Option<String>,
    /// How long a fetched message stays leased without renewal; a host that dies releases its
    /// tasks after at most this (default `"30s"`). Renewed while a task runs.
    pub lease: Option<HumanDuration>,
    /// The most a message's `extra` may ask for (`timeout_ms`, `fuel`, `memory_mb`,
    /// `max_retries`, `priority`). Each defaults to the queue's own value, so without this table
    /// a message can only lower a budget, never raise it.
    pub message_ceiling: Option<CeilingConfig>,
    /// What the queue's tasks may reach: outbound HTTP, directories, kv, follow-up publishes,
    /// config values and secrets (contract 0.2.0). Nothing by default; only in
    /// `[queues.<name>.grants]`, never inherited from `[defaults]`.
    pub grants: Option<GrantsConfig>,
    /// Which task records are stored: `"always"` (the default), `"errors"` (final records of
    /// tasks that did not succeed) or `"never"`. Counters count every task either way, and a
    /// task someone waits for (`?wait=`) always gets its final record.
    pub results: Option<ResultsPolicy>,
}

/// `[queues.<name>.message_ceiling]`: how far a message may raise this queue's budgets.
/// A message asking for more is refused at publish (400 naming the field and this ceiling) and
/// capped at it when it reaches a worker some other way (a foreign producer).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CeilingConfig {
    /// Largest `extra.timeout_ms` (default: the queue's `timeout`).
    pub timeout: Option<HumanDuration>,
    /// Largest `extra.fuel` (default: the queue's `fuel`).
    pub fuel: Option<u64>,
    /// Largest `extra.memory_mb` (default: the queue's `memory`; at most `runtime.max_memory`).
    pub memory: Option<ByteSize>,
    /// Largest `extra.max_retries` (default: the queue's `max_retries`).
    pub max_retries: Option<u32>,
    /// Highest `extra.priority` or `?priority=` (default 9, the highest there is).
    pub priority: Option<u8>,
}

impl CeilingConfig {
    fn merged_over(&self, base: &CeilingConfig) -> CeilingConfig {
        CeilingConfig {
            timeout: self.timeout.or(base.timeout),
            fuel: self.fuel.or(base.fuel),
            memory: self.memory.or(base.memory),
            max_retries: self.max_retries.or(base.max_retries),
            priority: self.priority.or(base.priority),
        }
    }
}

/// Retry backoff.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BackoffConfig {
    /// Delay before the first retry; doubles per attempt (default `"1s"`).
    pub base: Option<HumanDuration>,
    /// Longest delay (default `"5m"`).
    pub max: Option<HumanDuration>,
    /// Random spread as a fraction of the delay, 0..=1 (default 0.2).
    pub jitter: Option<f64>,
}

impl BackoffConfig {
    fn merged_over(&self, base: &BackoffConfig) -> BackoffConfig {
        BackoffConfig {
            base: self.base.or(base.base),
            max: self.max.or(base.max),
            jitter: self.jitter.or(base.jitter),
        }
    }
}

impl QueueConfig {
    /// `self`'s fields where set, else `base`'s.
    pub fn merged_over(&self, base: &QueueConfig) -> QueueConfig {
        let backoff = match (&self.backoff, &base.backoff) {
            (Some(a), Some(b)) => Some(a.merged_over(b)),
            (a, b) => a.clone().or_else(|| b.clone()),
        };
        QueueConfig {
            concurrency: self.concurrency.or(base.concurrency),
            qps: self.qps.or(base.qps),
            fuel: self.fuel.or(base.fuel),
            timeout: self.timeout.or(base.timeout),
            memory: self.memory.or(base.memory),
            max_retries: self.max_retries.or(base.max_retries),
            backoff,
            retry_on: self.retry_on.clone().or_else(|| base.retry_on.clone()),
            max_requeues: self.max_requeues.or(base.max_requeues),
            msg_ttl: self.msg_ttl.or(base.msg_ttl),
            dedup: self.dedup.or(base.dedup),
            dedup_ttl: self.dedup_ttl.or(base.dedup_ttl),
            result_ttl: self.result_ttl.or(base.result_ttl),
            window: self.window.clone().or_else(|| base.window.clone()),
            lease: self.lease.or(base.lease),
            message_ceiling: match (&self.message_ceiling, &base.message_ceiling) {
                (Some(a), Some(b)) => Some(a.merged_over(b)),
                (a, b) => a.or(*b),
            },
            // Grants are the queue's own: a default grant would reach every queue.
            grants: self.grants.clone(),
            results: self.results.or(base.results),
        }
    }

    /// Check the values; `prefix` is the table (`defaults` or `queues.<name>`) for the error.
    pub fn validate(&self, prefix: &str, max_memory: u64) -> Result<(), ConfigError> {
        let key = |k: &str| format!("{prefix}.{k}");
        if self.concurrency == Some(0) {
            return Err(ConfigError::invalid(
                key("concurrency"),
                "must be at least 1",
            ));
        }
        if let Some(qps) = self.qps
            && !(qps.is_finite() && qps > 0.0 && qps <= 1_000_000.0)
        {
            return Err(ConfigError::invalid(
                key("qps"),
                format!("{qps} must be a positive rate up to 1000000"),
            ));
        }
        if self.fuel == Some(0) {
            return Err(ConfigError::invalid(key("fuel"), "must be positive"));
        }
        for (name, value) in [
            ("timeout", self.timeout),
            ("lease", self.lease),
            ("dedup_ttl", self.dedup_ttl),
            ("result_ttl", self.result_ttl),
            ("msg_ttl", self.msg_ttl),
        ] {
            if value.is_some_and(|d| d.0.is_zero()) {
                return Err(ConfigError::invalid(key(name), "must be positive"));
            }
        }
        if let Some(lease) = self.lease
            && lease.0 < Duration::from_millis(100)
        {
            return Err(ConfigError::invalid(key("lease"), "must be at least 100ms"));
        }
        if let Some(mem) = self.memory
            && (mem.0 < 1 << 16 || mem.0 > max_memory)
        {
            return Err(ConfigError::invalid(
                key("memory"),
                format!(
                    "{} must be between 64KiB and runtime.max_memory ({max_memory})",
                    mem.0
                ),
            ));
        }
        if let Some(window) = &self.window {
            wasmboost_policy::window::Window::parse(window)
                .map_err(|e| ConfigError::invalid(key("window"), e.to_string()))?;
        }
        Ok(())
    }
}

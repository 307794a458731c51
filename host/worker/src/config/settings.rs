//! A queue's effective policy, resolved once from its merged [`QueueConfig`] into the types the
//! engine uses (policy crate types, runtime limits), with the built-in defaults for what is
//! unset. Resolving is also the last step of validating the config: the retry policy is checked
//! by the policy crate's own [`RetryPolicy::validate`] and the budgets by [`QueueBudget`].

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use wasmboost_runtime::Grants;

use wasmboost_policy::PolicyError;
use wasmboost_policy::retry::{
    DEFAULT_BACKOFF_BASE, DEFAULT_BACKOFF_MAX, DEFAULT_JITTER, DEFAULT_MAX_REQUEUES,
    DEFAULT_RETRY_ON, RetryPolicy,
};
use wasmboost_policy::window::Window;

use super::error::ConfigError;
use super::queue::{
    DEFAULT_CONCURRENCY, DEFAULT_DEDUP_TTL, DEFAULT_LEASE, DEFAULT_RESULT_TTL, DEFAULT_RESULTS,
    QueueConfig, ResultsPolicy,
};
use crate::budget::QueueBudget;

/// Everything the engine needs to know about one queue, with every default applied.
#[derive(Debug, Clone, PartialEq)]
pub struct QueueSettings {
    pub concurrency: u32,
    pub qps: Option<f64>,
    /// Wall clock, fuel, memory and retries, and how far a message may raise them.
    pub budget: QueueBudget,
    /// The retry policy; `max_retries` is the queue's (a message may lower it: see `budget`).
    pub retry: RetryPolicy,
    pub max_requeues: u32,
    pub msg_ttl: Option<Duration>,
    pub dedup: bool,
    pub dedup_ttl: Duration,
    pub result_ttl: Duration,
    pub window: Option<Window>,
    pub lease: Duration,
    /// What the queue's tasks may reach (nothing unless `[queues.<name>.grants]` says).
    pub grants: Arc<Grants>,
    pub results: ResultsPolicy,
}

impl QueueSettings {
    /// Resolve and check a merged queue config; `prefix` (`defaults`, `queues.<name>`) names
    /// the table in errors. Field-level checks ([`QueueConfig::validate`]) come first.
    pub fn resolve(
        q: &QueueConfig,
        prefix: &str,
        max_memory: u64,
    ) -> Result<QueueSettings, ConfigError> {
        q.validate(prefix, max_memory)?;
        let budget = QueueBudget::of(q);
        budget.validate(prefix, max_memory)?;
        let backoff = q.backoff.clone().unwrap_or_default();
        let retry = RetryPolicy {
            max_retries: budget.max_retries,
            backoff_base: backoff.base.map_or(DEFAULT_BACKOFF_BASE, |d| d.0),
            backoff_max: backoff.max.map_or(DEFAULT_BACKOFF_MAX, |d| d.0),
            jitter: backoff.jitter.unwrap_or(DEFAULT_JITTER),
            retry_on: q
                .retry_on
                .as_ref()
                .map_or_else(|| DEFAULT_RETRY_ON.into(), |k| k.iter().copied().collect()),
        };
        retry.validate().map_err(|e| retry_error(prefix, e))?;
        let window = match &q.window {
            Some(text) => Some(
                Window::parse(text)
                    .map_err(|e| ConfigError::invalid(format!("{prefix}.window"), e.to_string()))?,
            ),
            None => None,
        };
        Ok(QueueSettings {
            concurrency: q.concurrency.unwrap_or(DEFAULT_CONCURRENCY),
            qps: q.qps,
            budget,
            retry,
            max_requeues: q.max_requeues.unwrap_or(DEFAULT_MAX_REQUEUES),
            msg_ttl: q.msg_ttl.map(|d| d.0),
            dedup: q.dedup.unwrap_or(false),
            dedup_ttl: q.dedup_ttl.map_or(DEFAULT_DEDUP_TTL, |d| d.0),
            result_ttl: q.result_ttl.map_or(DEFAULT_RESULT_TTL, |d| d.0),
            window,
            lease: q.lease.map_or(DEFAULT_LEASE, |d| d.0),
            grants: Arc::new(match &q.grants {
                Some(grants) => grants.resolve(&format!("{prefix}.grants"))?,
                None => Grants::default(),
            }),
            results: q.results.unwrap_or(DEFAULT_RESULTS),
        })
    }
}

/// The config key of a retry setting the policy crate refused.
fn retry_error(prefix: &str, err: PolicyError) -> ConfigError {
    let field = match &err {
        PolicyError::Retry { field, .. } => match *field {
            "jitter" => "backoff.jitter",
            "backoff_base" => "backoff.base",
            "backoff_max" => "backoff.max",
            other => other,
        },
        _ => "retry_on",
    };
    ConfigError::invalid(format!("{prefix}.{field}"), err.to_string())
}

/// Every queue's settings, resolved once when the host starts: declared queues, and
/// `[defaults]` for queues that are only deployed.
#[derive(Debug, Clone)]
pub struct Policies {
    defaults: QueueSettings,
    queues: BTreeMap<String, QueueSettings>,
}

impl Policies {
    /// Resolve `[defaults]` and every `[queues.<name>]` merged over it.
    pub fn resolve(
        defaults: &QueueConfig,
        queues: &BTreeMap<String, QueueConfig>,
        max_memory: u64,
    ) -> Result<Policies, ConfigError> {
        let resolved = QueueSettings::resolve(defaults, "defaults", max_memory)?;
        let mut by_name = BTreeMap::new();
        for (name, queue) in queues {
            wasmboost_broker::validate_queue_name(name)
                .map_err(|e| ConfigError::invalid(format!("queues.{name}"), e.to_string()))?;
            let merged = queue.merged_over(defaults);
            let settings = QueueSettings::resolve(&merged, &format!("queues.{name}"), max_memory)?;
            by_name.insert(name.clone(), settings);
        }
        Ok(Policies {
            defaults: resolved,
            queues: by_name,
        })
    }

    /// The settings of `queue` (declared, or `[defaults]`).
    pub fn of(&self, queue: &str) -> &QueueSettings {
        self.queues.get(queue).unwrap_or(&self.defaults)
    }
}

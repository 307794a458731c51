//! A queue's effective policy, resolved once from its [`QueueConfig`] into the types the engine
//! uses (policy crate types, runtime limits), with built-in defaults for what is still unset.

use std::collections::BTreeSet;
use std::time::Duration;

use wasmboost_policy::retry::{FailureKind, RetryPolicy};
use wasmboost_policy::window::Window;
use wasmboost_runtime::Limits;

use crate::queue_config::{
    DEFAULT_BACKOFF_BASE, DEFAULT_BACKOFF_JITTER, DEFAULT_BACKOFF_MAX, DEFAULT_CONCURRENCY,
    DEFAULT_DEDUP_TTL, DEFAULT_FUEL, DEFAULT_LEASE, DEFAULT_MAX_REQUEUES, DEFAULT_MAX_RETRIES,
    DEFAULT_MEMORY, DEFAULT_RESULT_TTL, DEFAULT_RETRY_ON, DEFAULT_TIMEOUT, QueueConfig,
};

/// Everything the engine needs to know about one queue, with every default applied.
#[derive(Debug, Clone)]
pub struct QueueSettings {
    pub concurrency: u32,
    pub qps: Option<f64>,
    pub limits: Limits,
    pub retry: RetryPolicy,
    pub max_requeues: u32,
    pub msg_ttl: Option<Duration>,
    pub dedup: bool,
    pub dedup_ttl: Duration,
    pub result_ttl: Duration,
    pub window: Option<Window>,
    pub lease: Duration,
}

/// Parse a window string; the error says which token is wrong.
pub fn parse_window(text: &str) -> Result<Window, String> {
    Window::parse(text).map_err(|e| e.to_string())
}

fn retry_kinds(names: Option<&Vec<String>>) -> BTreeSet<FailureKind> {
    match names {
        // Names were checked by `QueueConfig::validate`; an unknown one cannot get here.
        Some(list) => list.iter().filter_map(|n| n.parse().ok()).collect(),
        None => DEFAULT_RETRY_ON
            .iter()
            .filter_map(|n| n.parse().ok())
            .collect(),
    }
}

impl QueueSettings {
    /// Resolve a validated (merged) queue config.
    pub fn resolve(q: &QueueConfig) -> QueueSettings {
        let backoff = q.backoff.clone().unwrap_or_default();
        let retry = RetryPolicy {
            max_retries: q.max_retries.unwrap_or(DEFAULT_MAX_RETRIES),
            backoff_base: backoff.base.map_or(DEFAULT_BACKOFF_BASE, |d| d.0),
            backoff_max: backoff.max.map_or(DEFAULT_BACKOFF_MAX, |d| d.0),
            jitter: backoff.jitter.unwrap_or(DEFAULT_BACKOFF_JITTER),
            retry_on: retry_kinds(q.retry_on.as_ref()),
        };
        QueueSettings {
            concurrency: q.concurrency.unwrap_or(DEFAULT_CONCURRENCY),
            qps: q.qps,
            limits: Limits {
                fuel: q.fuel.unwrap_or(DEFAULT_FUEL),
                timeout: q.timeout.map_or(DEFAULT_TIMEOUT, |d| d.0),
                memory_bytes: q.memory.map_or(DEFAULT_MEMORY, |b| b.0),
            },
            retry,
            max_requeues: q.max_requeues.unwrap_or(DEFAULT_MAX_REQUEUES),
            msg_ttl: q.msg_ttl.map(|d| d.0),
            dedup: q.dedup.unwrap_or(false),
            dedup_ttl: q.dedup_ttl.map_or(DEFAULT_DEDUP_TTL, |d| d.0),
            result_ttl: q.result_ttl.map_or(DEFAULT_RESULT_TTL, |d| d.0),
            // Validated before the host starts, so a parse failure cannot happen here.
            window: q.window.as_deref().and_then(|w| parse_window(w).ok()),
            lease: q.lease.map_or(DEFAULT_LEASE, |d| d.0),
        }
    }
}

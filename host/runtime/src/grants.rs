//! What a queue's tasks may reach beyond computing (contract `wasmboost:task@0.2.0`): plain data
//! the worker builds from the queue's `grants` config and hands to each invocation. Nothing is
//! granted by default ([`Grants::default`] is the sandbox of 0.1.0).
//!
//! The grammar of an HTTP allow-list entry lives in [`crate::egress::rule`]; the defaults of the
//! egress caps are defined here, once.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::egress::rule::HttpRule;
use crate::services::TaskServices;

/// Requests one invocation may send when the queue does not say (`http_max_requests`).
pub const DEFAULT_HTTP_MAX_REQUESTS: u32 = 20;
/// Response body bytes one invocation may read over all its requests (`http_max_response_bytes`,
/// 10 MiB).
pub const DEFAULT_HTTP_MAX_RESPONSE_BYTES: u64 = 10 * 1024 * 1024;
/// Longest one request may take, connect to last body byte (`http_timeout`); never past the
/// task's own deadline.
pub const DEFAULT_HTTP_TIMEOUT: Duration = Duration::from_secs(10);
/// Bytes a queue's key-value namespace may hold when the queue does not say (`kv_quota`, 1 MiB).
pub const DEFAULT_KV_QUOTA_BYTES: u64 = 1024 * 1024;
/// Keys a queue's key-value namespace may hold when the queue does not say (`kv_max_keys`).
pub const DEFAULT_KV_MAX_KEYS: u64 = 10_000;
/// Bytes one kv value may have when the queue does not say (`kv_max_value_bytes`, 64 KiB).
pub const DEFAULT_KV_MAX_VALUE_BYTES: u64 = 64 * 1024;
/// Follow-up publishes one invocation may make (`publish_max`).
pub const DEFAULT_PUBLISH_MAX: u32 = 100;

/// Everything one queue's tasks are granted. Cheap to share: the worker keeps one per queue in
/// an [`Arc`] and every invocation borrows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grants {
    /// Outbound HTTP; `None`: every request is refused.
    pub http: Option<HttpGrant>,
    /// Preopened directories, in order.
    pub dirs: Vec<DirGrant>,
    /// The key-value namespace's quota; `None`: no kv.
    pub kv: Option<KvGrant>,
    /// Queues a task may publish follow-up messages to.
    pub publish_to: Vec<String>,
    /// Follow-up publishes one invocation may make.
    pub publish_max: u32,
    /// Named configuration values.
    pub config: BTreeMap<String, String>,
    /// Named secrets, already read from the environment or their files.
    pub secrets: BTreeMap<String, Secret>,
}

impl Default for Grants {
    /// Nothing granted; the caps at their defaults for when a grant is added.
    fn default() -> Self {
        Grants {
            http: None,
            dirs: Vec::new(),
            kv: None,
            publish_to: Vec::new(),
            publish_max: DEFAULT_PUBLISH_MAX,
            config: BTreeMap::new(),
            secrets: BTreeMap::new(),
        }
    }
}

impl Grants {
    /// Whether anything at all is granted (a queue without grants runs as under 0.1.0).
    pub fn is_empty(&self) -> bool {
        self.http.is_none()
            && self.dirs.is_empty()
            && self.kv.is_none()
            && self.publish_to.is_empty()
            && self.config.is_empty()
            && self.secrets.is_empty()
    }
}

/// The `http` grant: where requests may go and how much one invocation may do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpGrant {
    /// Allowed destinations; a request must match one.
    pub allow: Vec<HttpRule>,
    /// Requests per invocation.
    pub max_requests: u32,
    /// Response body bytes per invocation, over all requests.
    pub max_response_bytes: u64,
    /// Per-request time limit (also bounded by the task's deadline).
    pub timeout: Duration,
}

/// The `kv` grant: how much the queue's key-value namespace may hold (the state store
/// enforces it, atomically with the write).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KvGrant {
    /// Keys in the namespace.
    pub max_keys: u64,
    /// Bytes of one value.
    pub max_value_bytes: u64,
    /// Bytes in the namespace, keys and values.
    pub max_total_bytes: u64,
}

impl Default for KvGrant {
    fn default() -> Self {
        KvGrant {
            max_keys: DEFAULT_KV_MAX_KEYS,
            max_value_bytes: DEFAULT_KV_MAX_VALUE_BYTES,
            max_total_bytes: DEFAULT_KV_QUOTA_BYTES,
        }
    }
}

/// One preopened directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirGrant {
    /// The directory on the host.
    pub host: PathBuf,
    /// Where the task sees it (an absolute guest path such as `/pages`).
    pub guest: String,
    /// Whether the task may create, write and remove files in it.
    pub writable: bool,
}

/// A secret's value. Its `Debug` and `Display` never show it, so no log line, record or error
/// built from a [`Grants`] can carry it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Arc<str>);

impl Secret {
    /// Wraps a value read from the environment or a file.
    pub fn new(value: impl Into<Arc<str>>) -> Self {
        Secret(value.into())
    }

    /// The value itself: only the `config.secret` import hands it out, to the guest.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// What one invocation may reach: the queue's grants and, for `kv` and `publish`, the host
/// services that carry them out.
#[derive(Debug, Clone, Default)]
pub struct Access {
    pub grants: Arc<Grants>,
    /// `None`: kv and publish calls are refused as `unavailable` even when granted (a runtime
    /// used without a worker, e.g. `wasmboost run`).
    pub services: Option<Arc<dyn TaskServices>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_never_print() {
        let secret = Secret::new("hunter2");
        assert_eq!(
            format!("{secret:?} {secret}"),
            "Secret(<redacted>) <redacted>"
        );
        let mut grants = Grants::default();
        grants.secrets.insert("API_KEY".into(), secret);
        assert!(!format!("{grants:?}").contains("hunter2"));
    }

    #[test]
    fn default_grants_are_empty() {
        assert!(Grants::default().is_empty());
    }
}

//! [`TaskServices`]: what the `kv` and `publish` imports need from the host around the runtime
//! (its state store and broker). The runtime names no broker; the worker implements this trait,
//! and tests give a double. The grant checks (is kv granted, may this queue publish there, how
//! many publishes) are done by the runtime before a call reaches it.

use std::time::Duration;

use async_trait::async_trait;

use crate::grants::KvGrant;

/// Why a service call failed; becomes the guest's `grant-error`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ServiceError {
    /// The namespace's quota would be passed.
    #[error("{0}")]
    Quota(String),
    /// An argument was refused (e.g. a payload that is not a JSON object).
    #[error("{0}")]
    Invalid(String),
    /// The store or broker could not be reached; trying again later may work.
    #[error("{0}")]
    Unavailable(String),
}

/// A follow-up message one task asks to publish.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FollowUp {
    /// Target queue (already checked against the grant).
    pub queue: String,
    /// The message, a JSON object.
    pub payload: String,
    pub countdown: Option<Duration>,
    pub priority: Option<u8>,
    pub task_id: Option<String>,
}

/// Host services behind the `kv` and `publish` imports. Every kv call names the queue whose
/// namespace it works in; the runtime passes the invocation's own queue, never a guest string.
#[async_trait]
pub trait TaskServices: Send + Sync + std::fmt::Debug {
    /// The value under `key`.
    async fn kv_get(&self, queue: &str, key: &str) -> Result<Option<Vec<u8>>, ServiceError>;
    /// Store `value` under `key`, within the namespace's `quota`.
    async fn kv_set(
        &self,
        queue: &str,
        key: &str,
        value: &[u8],
        ttl: Option<Duration>,
        quota: &KvGrant,
    ) -> Result<(), ServiceError>;
    /// Remove `key`; whether it existed.
    async fn kv_delete(&self, queue: &str, key: &str) -> Result<bool, ServiceError>;
    /// Add `delta` to the integer under `key`; the new value.
    async fn kv_increment(
        &self,
        queue: &str,
        key: &str,
        delta: i64,
        quota: &KvGrant,
    ) -> Result<i64, ServiceError>;
    /// Store `value` if the current value is `expected`; whether it was stored.
    async fn kv_compare_and_swap(
        &self,
        queue: &str,
        key: &str,
        expected: Option<&[u8]>,
        value: &[u8],
        quota: &KvGrant,
    ) -> Result<bool, ServiceError>;
    /// Publish a follow-up; the new task's id.
    async fn publish(&self, from_queue: &str, message: FollowUp) -> Result<String, ServiceError>;
}

//! The audit log: who changed what, when. Every deploy, rollback, pause/resume, dead-letter
//! replay/purge and token create/revoke is written to the state store (so `GET /v1/audit`
//! shows every host's actions on a shared store) and to `tracing` under the target `audit`.

use serde::{Deserialize, Serialize};
use wasmboost_broker::{StateStore, now_ms};

use crate::auth::Caller;

/// Entries kept in the state store; older ones are dropped as new ones come.
pub const AUDIT_KEEP: usize = 10_000;

/// One audited action.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// When it happened (ms since the Unix epoch).
    pub at_ms: u64,
    /// The token id that did it, or `local` in unauthenticated mode.
    pub who: String,
    /// `deploy`, `rollback`, `pause`, `resume`, `dlq.replay`, `dlq.purge`, `token.create`,
    /// `token.revoke`.
    pub action: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue: Option<String>,
    /// The module now current (deploy, rollback).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    /// Anything else worth knowing: a version number, a count, a token's id and scopes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

impl AuditEntry {
    pub fn new(caller: &Caller, action: &str) -> Self {
        AuditEntry {
            at_ms: now_ms(),
            who: caller.who().to_owned(),
            action: action.to_owned(),
            queue: None,
            sha256: None,
            detail: None,
        }
    }

    pub fn queue(mut self, queue: &str) -> Self {
        self.queue = Some(queue.to_owned());
        self
    }

    pub fn sha256(mut self, sha256: &str) -> Self {
        self.sha256 = Some(sha256.to_owned());
        self
    }

    pub fn detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }
}

/// Log and store `entry`. The action already happened, so a store failure is logged, not
/// returned: the request still succeeds, and the `audit` log line remains.
pub async fn record(store: &dyn StateStore, entry: AuditEntry) {
    tracing::info!(
        target: "audit",
        who = %entry.who,
        action = %entry.action,
        queue = entry.queue.as_deref().unwrap_or(""),
        sha256 = entry.sha256.as_deref().unwrap_or(""),
        detail = entry.detail.as_deref().unwrap_or(""),
        "audit"
    );
    let bytes = match serde_json::to_vec(&entry) {
        Ok(bytes) => bytes,
        Err(e) => {
            tracing::warn!("cannot encode an audit entry: {e}");
            return;
        }
    };
    if let Err(e) = store.append_audit(bytes.into(), AUDIT_KEEP).await {
        tracing::warn!(action = %entry.action, "cannot store an audit entry: {e}");
    }
}

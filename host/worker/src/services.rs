//! [`WorkerServices`]: what a running task's `publish` import reaches on this host, the same
//! publish path the API uses (validation, task id, record, broker). The runtime has already
//! checked the queue's `publish_to` grant and its per-task count.
//!
//! kv goes to the host's state store ([`StateStore::kv`](wasmboost_broker::StateStore::kv)),
//! always in the invocation's own queue's namespace, within the queue's quota.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use tracing::Instrument;
use wasmboost_broker::{KvError, KvOp, KvQuota, KvRefusal, KvReply};
use wasmboost_runtime::{FollowUp, KvGrant, ServiceError, TaskServices};

use crate::error::HostError;
use crate::host::publish_one;
use crate::publish::PublishOptions;
use crate::shared::Shared;

/// See the module docs.
#[derive(Debug)]
pub(crate) struct WorkerServices {
    shared: Arc<Shared>,
}

impl WorkerServices {
    pub(crate) fn new(shared: Arc<Shared>) -> Self {
        WorkerServices { shared }
    }
}

/// The state store's quota, from the queue's grant.
fn quota(grant: &KvGrant) -> KvQuota {
    KvQuota {
        max_keys: grant.max_keys,
        max_value_bytes: grant.max_value_bytes,
        max_total_bytes: grant.max_total_bytes,
    }
}

/// A kv error as the guest sees it: quotas as `quota`, the task's own bad values as `invalid`,
/// and a store that failed as `unavailable` (the task may retry).
fn service_error(err: KvError) -> ServiceError {
    match err {
        KvError::Refused(
            r @ (KvRefusal::ValueTooLarge { .. }
            | KvRefusal::TooManyKeys { .. }
            | KvRefusal::OverTotal { .. }),
        ) => ServiceError::Quota(r.to_string()),
        KvError::Refused(r) => ServiceError::Invalid(r.to_string()),
        KvError::Store(e) => ServiceError::Unavailable(e.to_string()),
    }
}

impl WorkerServices {
    async fn kv(
        &self,
        queue: &str,
        op: KvOp<'_>,
        grant: &KvGrant,
    ) -> Result<KvReply, ServiceError> {
        self.shared
            .store
            .kv(queue, op, &quota(grant))
            .await
            .map_err(service_error)
    }
}

/// A reply of another shape than the operation's: a broken store.
fn mismatch<T>(reply: KvReply) -> Result<T, ServiceError> {
    Err(ServiceError::Unavailable(format!(
        "the state store answered a kv call with {reply:?}"
    )))
}

/// kv_get/kv_delete need no quota: they never grow the namespace.
const READ_ONLY: KvGrant = KvGrant {
    max_keys: 0,
    max_value_bytes: 0,
    max_total_bytes: 0,
};

#[async_trait]
impl TaskServices for WorkerServices {
    async fn kv_get(&self, queue: &str, key: &str) -> Result<Option<Vec<u8>>, ServiceError> {
        match self.kv(queue, KvOp::Get { key }, &READ_ONLY).await? {
            KvReply::Value(v) => Ok(v.map(|b| b.to_vec())),
            other => mismatch(other),
        }
    }

    async fn kv_set(
        &self,
        queue: &str,
        key: &str,
        value: &[u8],
        ttl: Option<Duration>,
        quota: &KvGrant,
    ) -> Result<(), ServiceError> {
        match self.kv(queue, KvOp::Set { key, value, ttl }, quota).await? {
            KvReply::Stored => Ok(()),
            other => mismatch(other),
        }
    }

    async fn kv_delete(&self, queue: &str, key: &str) -> Result<bool, ServiceError> {
        match self.kv(queue, KvOp::Delete { key }, &READ_ONLY).await? {
            KvReply::Deleted(existed) => Ok(existed),
            other => mismatch(other),
        }
    }

    async fn kv_increment(
        &self,
        queue: &str,
        key: &str,
        delta: i64,
        quota: &KvGrant,
    ) -> Result<i64, ServiceError> {
        match self
            .kv(queue, KvOp::Increment { key, delta }, quota)
            .await?
        {
            KvReply::Counted(n) => Ok(n),
            other => mismatch(other),
        }
    }

    async fn kv_compare_and_swap(
        &self,
        queue: &str,
        key: &str,
        expected: Option<&[u8]>,
        value: &[u8],
        quota: &KvGrant,
    ) -> Result<bool, ServiceError> {
        let op = KvOp::CompareAndSwap {
            key,
            expected,
            value,
        };
        match self.kv(queue, op, quota).await? {
            KvReply::Swapped(done) => Ok(done),
            other => mismatch(other),
        }
    }

    async fn publish(&self, _from_queue: &str, message: FollowUp) -> Result<String, ServiceError> {
        if self.shared.stop.is_cancelled() {
            return Err(ServiceError::Unavailable(
                "the host is shutting down".into(),
            ));
        }
        if !self.shared.is_known(&message.queue) {
            return Err(ServiceError::Invalid(format!(
                "no queue named {:?} on this host",
                message.queue
            )));
        }
        let opts = PublishOptions {
            countdown: message.countdown,
            eta: None,
            priority: message.priority,
            task_id: message.task_id,
            // Nobody waits on a follow-up task: its record follows the queue's results policy.
            reply: false,
        };
        let traced = crate::trace::follow_up(&message.queue, message.payload.as_bytes());
        let published = match &traced {
            None => {
                publish_one(
                    &self.shared,
                    &message.queue,
                    message.payload.as_bytes(),
                    opts,
                )
                .await
            }
            Some((span, body)) => {
                let body = body.as_deref().unwrap_or(message.payload.as_bytes());
                let publish = publish_one(&self.shared, &message.queue, body, opts);
                publish.instrument(span.clone()).await
            }
        };
        published.map_err(|err| match err {
            HostError::BadMessage { .. }
            | HostError::OverBudget(_)
            | HostError::BadName(_)
            | HostError::TooLarge { .. } => ServiceError::Invalid(err.to_string()),
            other => ServiceError::Unavailable(other.to_string()),
        })
    }
}

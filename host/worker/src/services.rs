//! [`WorkerServices`]: what a running task's `publish` import reaches on this host, the same
//! publish path the API uses (validation, task id, record, broker). The runtime has already
//! checked the queue's `publish_to` grant and its per-task count.
//!
//! kv is not connected to the state stores yet: a granted kv call answers `unavailable`.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use wasmboost_runtime::{FollowUp, ServiceError, TaskServices};

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

fn kv_unavailable<T>() -> Result<T, ServiceError> {
    Err(ServiceError::Unavailable(
        "kv is not connected to this host's state store yet".into(),
    ))
}

#[async_trait]
impl TaskServices for WorkerServices {
    async fn kv_get(&self, _queue: &str, _key: &str) -> Result<Option<Vec<u8>>, ServiceError> {
        kv_unavailable()
    }

    async fn kv_set(
        &self,
        _queue: &str,
        _key: &str,
        _value: &[u8],
        _ttl: Option<Duration>,
        _quota: u64,
    ) -> Result<(), ServiceError> {
        kv_unavailable()
    }

    async fn kv_delete(&self, _queue: &str, _key: &str) -> Result<bool, ServiceError> {
        kv_unavailable()
    }

    async fn kv_increment(
        &self,
        _queue: &str,
        _key: &str,
        _delta: i64,
        _quota: u64,
    ) -> Result<i64, ServiceError> {
        kv_unavailable()
    }

    async fn kv_compare_and_swap(
        &self,
        _queue: &str,
        _key: &str,
        _expected: Option<&[u8]>,
        _value: &[u8],
        _quota: u64,
    ) -> Result<bool, ServiceError> {
        kv_unavailable()
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
        publish_one(
            &self.shared,
            &message.queue,
            message.payload.as_bytes(),
            opts,
        )
        .await
        .map_err(|err| match err {
            HostError::BadMessage { .. }
            | HostError::OverBudget(_)
            | HostError::BadName(_)
            | HostError::TooLarge { .. } => ServiceError::Invalid(err.to_string()),
            other => ServiceError::Unavailable(other.to_string()),
        })
    }
}

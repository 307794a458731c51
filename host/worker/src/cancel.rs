//! Cancel by id ([`Host::cancel`]): a durable mark in the state store that every host checks
//! before running the task, and that wakes the host running it, which stops the sandbox through
//! its [`Interrupt`](wasmboost_runtime::Interrupt) (`task.rs`). The record says `cancelled` once
//! a host has skipped or stopped the task; a cancelled task is acked, never retried.

use serde::{Deserialize, Serialize};

use crate::config::queue::DEFAULT_RESULT_TTL;
use crate::error::HostError;
use crate::host::Host;
use crate::record::TaskState;

/// What a cancel request found and did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CancelReply {
    pub task_id: String,
    /// The task's queue, when it has a record.
    pub queue: Option<String>,
    /// The task's state when the cancel was asked for (`None`: no record, e.g. a message a
    /// foreign producer pushed straight into the broker and no host has fetched yet).
    pub state: Option<TaskState>,
    /// False when the task had already ended: nothing was marked and its record stands.
    pub requested: bool,
}

impl Host {
    /// The queue of `task_id` as its record names it, and its current state.
    pub async fn task_queue(
        &self,
        task_id: &str,
    ) -> Result<Option<(String, TaskState)>, HostError> {
        Ok(self.record(task_id).await?.map(|r| (r.queue, r.state)))
    }

    /// Cancel `task_id`: a queued, delayed or retrying task is skipped when a host fetches it;
    /// a running one is stopped within milliseconds on whichever host runs it. A finished task
    /// is left as it is (`requested: false`).
    pub async fn cancel(&self, task_id: &str) -> Result<CancelReply, HostError> {
        wasmboost_policy::validate_task_id(task_id)?;
        let found = self.task_queue(task_id).await?;
        let (queue, state) = match found {
            Some((queue, state)) => (Some(queue), Some(state)),
            None => (None, None),
        };
        if state.is_some_and(TaskState::is_terminal) {
            return Ok(CancelReply {
                task_id: task_id.to_owned(),
                queue,
                state,
                requested: false,
            });
        }
        // The mark must outlive the message: as long as the task's record would live.
        let ttl = queue
            .as_deref()
            .map_or(DEFAULT_RESULT_TTL, |q| self.shared.settings(q).result_ttl);
        self.shared.store.request_cancel(task_id, ttl).await?;
        tracing::info!(
            task_id,
            queue = queue.as_deref().unwrap_or("?"),
            "cancel requested"
        );
        Ok(CancelReply {
            task_id: task_id.to_owned(),
            queue,
            state,
            requested: true,
        })
    }
}

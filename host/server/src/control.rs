//! [`Control`]: what the HTTP API needs from a host. `wasmboost_worker::Host` implements it; the
//! server's own tests use an in-memory fake, so the HTTP layer is tested on its own.
//!
//! Why a trait and not `Host` itself: the fake is the test double of every route test (status
//! codes, error bodies, auth) without a broker, a runtime or compiled guests; that is the seam's
//! whole purpose. Keep it one method per host operation, and `host_impl.rs` a plain forward.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use wasmboost_broker::StateStore;
use wasmboost_worker::metrics::Snapshot;

use crate::contract::{
    CancelReply, DeadLetter, History, HostInfo, PublishOptions, QueueStats, ScheduleConfig,
    ScheduleInfo, TaskRecord, Version, WorkflowInfo,
};
use crate::error::ApiError;

/// The host operations behind the routes, one method per operation of the host contract.
#[async_trait]
pub trait Control: Send + Sync + 'static {
    /// Largest module upload the host accepts, enforced while the body streams in.
    fn max_module_bytes(&self) -> u64;
    /// False once the host has begun shutting down (it still finishes running tasks):
    /// `/readyz` answers 503 from then on while `/healthz` stays 200.
    fn ready(&self) -> bool;
    /// Largest message a publish accepts (`host.max_message_bytes`), enforced while the body
    /// streams in.
    fn max_message_bytes(&self) -> u64;
    /// What this host measured since it started (task histograms, traps, rate waits, broker
    /// errors, registry counts), for `/metrics`.
    fn metrics(&self) -> Snapshot;
    /// The host's state store: API tokens and the audit log live there, so every host sharing
    /// the store accepts the same tokens.
    fn state(&self) -> Arc<dyn StateStore>;
    async fn publish(
        &self,
        queue: &str,
        body: &[u8],
        opts: PublishOptions,
    ) -> Result<String, ApiError>;
    async fn publish_batch(
        &self,
        queue: &str,
        bodies: Vec<Vec<u8>>,
        opts: PublishOptions,
    ) -> Result<Vec<String>, ApiError>;
    async fn record(&self, task_id: &str) -> Result<Option<TaskRecord>, ApiError>;
    async fn wait_result(
        &self,
        task_id: &str,
        timeout: Duration,
    ) -> Result<Option<TaskRecord>, ApiError>;
    async fn deploy(&self, queue: &str, wasm: Vec<u8>) -> Result<Version, ApiError>;
    async fn versions(&self, queue: &str) -> Result<Vec<Version>, ApiError>;
    async fn rollback(&self, queue: &str, to: Option<u32>) -> Result<Version, ApiError>;
    async fn set_paused(&self, queue: &str, paused: bool) -> Result<(), ApiError>;
    async fn stats(&self) -> Result<Vec<QueueStats>, ApiError>;
    async fn history(&self, queue: &str) -> Result<History, ApiError>;
    async fn dlq_list(&self, queue: &str, limit: usize) -> Result<Vec<DeadLetter>, ApiError>;
    async fn dlq_replay(&self, queue: &str) -> Result<u64, ApiError>;
    async fn dlq_purge(&self, queue: &str) -> Result<u64, ApiError>;
    /// Cancel a task by id (skipped when fetched, stopped when running).
    async fn cancel(&self, task_id: &str) -> Result<CancelReply, ApiError>;
    /// The live hosts sharing the state store, with their queues and last heartbeat.
    async fn hosts(&self) -> Result<Vec<HostInfo>, ApiError>;
    /// The configured schedules with their next and last ticks.
    async fn schedules(&self) -> Result<Vec<ScheduleInfo>, ApiError>;
    /// Add a schedule at run time (stored in the state store, fired by the leader).
    async fn add_schedule(&self, entry: ScheduleConfig) -> Result<(), ApiError> {
        let _ = entry;
        Err(no_schedules())
    }
    /// Pause or resume a schedule.
    async fn pause_schedule(&self, name: &str, paused: bool) -> Result<(), ApiError> {
        let _ = (name, paused);
        Err(no_schedules())
    }
    /// Remove a schedule added at run time.
    async fn remove_schedule(&self, name: &str) -> Result<(), ApiError> {
        let _ = name;
        Err(no_schedules())
    }
    /// Publish a schedule's message now; its task id.
    async fn run_schedule_now(&self, name: &str) -> Result<String, ApiError> {
        let _ = name;
        Err(no_schedules())
    }
    /// Check, store and start a workflow document (the default: this host has no workflows,
    /// which the server's route-test fake relies on).
    async fn submit_workflow(&self, doc: &[u8]) -> Result<WorkflowInfo, ApiError> {
        let _ = doc;
        Err(no_workflows())
    }
    /// A workflow and its steps; `None` when unknown.
    async fn workflow(&self, id: &str) -> Result<Option<WorkflowInfo>, ApiError> {
        let _ = id;
        Err(no_workflows())
    }
    /// Cancel a workflow's pending and running steps; `None` when unknown.
    async fn cancel_workflow(&self, id: &str) -> Result<Option<WorkflowInfo>, ApiError> {
        let _ = id;
        Err(no_workflows())
    }
}

fn no_schedules() -> ApiError {
    ApiError::new(
        axum::http::StatusCode::NOT_IMPLEMENTED,
        "unsupported",
        "this host does not manage schedules at run time",
    )
}

fn no_workflows() -> ApiError {
    ApiError::new(
        axum::http::StatusCode::NOT_IMPLEMENTED,
        "unsupported",
        "this host does not run workflows",
    )
}

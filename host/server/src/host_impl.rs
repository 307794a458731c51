//! [`Control`] for the real host, `wasmboost_worker::Host`: each call maps one-to-one, and a
//! `HostError` keeps its HTTP status and code.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use wasmboost_broker::StateStore;
use wasmboost_worker::{Host, HostError};

use crate::contract::{
    CancelReply, DeadLetter, History, HostInfo, PublishOptions, QueueStats, ScheduleConfig,
    ScheduleInfo, TaskRecord, Version, WorkflowInfo,
};
use crate::control::Control;
use crate::error::ApiError;

impl From<HostError> for ApiError {
    fn from(err: HostError) -> Self {
        ApiError::from_host(err.status_code(), err.code(), err.to_string())
    }
}

#[async_trait]
impl Control for Host {
    fn max_module_bytes(&self) -> u64 {
        self.config().runtime.max_component_bytes.0
    }
    fn ready(&self) -> bool {
        !self.is_stopping()
    }
    fn max_message_bytes(&self) -> u64 {
        self.config().host.max_message_bytes.0
    }
    fn state(&self) -> Arc<dyn StateStore> {
        self.store()
    }
    fn metrics(&self) -> wasmboost_worker::metrics::Snapshot {
        Host::metrics(self)
    }
    async fn publish(
        &self,
        queue: &str,
        body: &[u8],
        opts: PublishOptions,
    ) -> Result<String, ApiError> {
        Ok(Host::publish(self, queue, body, opts).await?)
    }
    async fn publish_batch(
        &self,
        queue: &str,
        bodies: Vec<Vec<u8>>,
        opts: PublishOptions,
    ) -> Result<Vec<String>, ApiError> {
        Ok(Host::publish_batch(self, queue, bodies, opts).await?)
    }
    async fn record(&self, task_id: &str) -> Result<Option<TaskRecord>, ApiError> {
        Ok(Host::record(self, task_id).await?)
    }
    async fn wait_result(
        &self,
        task_id: &str,
        timeout: Duration,
    ) -> Result<Option<TaskRecord>, ApiError> {
        Ok(Host::wait_result(self, task_id, timeout).await?)
    }
    async fn deploy(&self, queue: &str, wasm: Vec<u8>) -> Result<Version, ApiError> {
        Ok(Host::deploy(self, queue, wasm).await?)
    }
    async fn versions(&self, queue: &str) -> Result<Vec<Version>, ApiError> {
        Ok(Host::versions(self, queue).await?)
    }
    async fn rollback(&self, queue: &str, to: Option<u32>) -> Result<Version, ApiError> {
        Ok(Host::rollback(self, queue, to).await?)
    }
    async fn set_paused(&self, queue: &str, paused: bool) -> Result<(), ApiError> {
        Ok(Host::set_paused(self, queue, paused).await?)
    }
    async fn stats(&self) -> Result<Vec<QueueStats>, ApiError> {
        Ok(Host::stats(self).await?)
    }
    async fn history(&self, queue: &str) -> Result<History, ApiError> {
        Ok(Host::history(self, queue).await?)
    }
    async fn dlq_list(&self, queue: &str, limit: usize) -> Result<Vec<DeadLetter>, ApiError> {
        Ok(Host::dlq_list(self, queue, limit).await?)
    }
    async fn dlq_replay(&self, queue: &str) -> Result<u64, ApiError> {
        Ok(Host::dlq_replay(self, queue).await?)
    }
    async fn dlq_purge(&self, queue: &str) -> Result<u64, ApiError> {
        Ok(Host::dlq_purge(self, queue).await?)
    }
    async fn cancel(&self, task_id: &str) -> Result<CancelReply, ApiError> {
        Ok(Host::cancel(self, task_id).await?)
    }
    async fn hosts(&self) -> Result<Vec<HostInfo>, ApiError> {
        Ok(Host::hosts(self).await)
    }
    async fn schedules(&self) -> Result<Vec<ScheduleInfo>, ApiError> {
        Ok(Host::schedules(self).await?)
    }
    async fn add_schedule(&self, entry: ScheduleConfig) -> Result<(), ApiError> {
        Ok(Host::add_schedule(self, entry).await?)
    }
    async fn pause_schedule(&self, name: &str, paused: bool) -> Result<(), ApiError> {
        Ok(Host::pause_schedule(self, name, paused).await?)
    }
    async fn remove_schedule(&self, name: &str) -> Result<(), ApiError> {
        Ok(Host::remove_schedule(self, name).await?)
    }
    async fn run_schedule_now(&self, name: &str) -> Result<String, ApiError> {
        Ok(Host::run_schedule_now(self, name).await?)
    }
    async fn submit_workflow(&self, doc: &[u8]) -> Result<WorkflowInfo, ApiError> {
        Ok(Host::submit_workflow(self, doc).await?)
    }
    async fn workflow(&self, id: &str) -> Result<Option<WorkflowInfo>, ApiError> {
        Ok(Host::workflow(self, id).await?)
    }
    async fn cancel_workflow(&self, id: &str) -> Result<Option<WorkflowInfo>, ApiError> {
        Ok(Host::cancel_workflow(self, id).await?)
    }
}

//! The types the API speaks, as fixed in the host contract (`HOST_API.md`).
//!
//! Placeholder until `wasmboost_worker` lands: this file becomes re-exports of the worker's own
//! types (`wasmboost_worker::{record, stats, host}`), and nothing else in the server changes.

use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use wasmboost_broker::DeadLetter;

/// Where a task is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskState {
    Queued,
    Delayed,
    Running,
    Succeeded,
    Failed,
    Retrying,
    DeadLettered,
    Expired,
    SkippedDuplicate,
}

impl TaskState {
    /// True when the task will not change state again.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            TaskState::Succeeded
                | TaskState::Failed
                | TaskState::DeadLettered
                | TaskState::Expired
                | TaskState::SkippedDuplicate
        )
    }
}

/// Status and result of one task.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskRecord {
    pub task_id: String,
    pub queue: String,
    pub state: TaskState,
    pub attempts: u32,
    pub published_ms: u64,
    pub started_ms: Option<u64>,
    pub finished_ms: Option<u64>,
    pub duration_us: Option<u64>,
    pub fuel_used: Option<u64>,
    pub peak_memory_bytes: Option<u64>,
    pub result: Option<serde_json::Value>,
    pub error: Option<String>,
    pub module_version: Option<u32>,
}

/// One row of `wasmboost queues`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QueueStats {
    pub queue: String,
    pub paused: bool,
    pub version: Option<u32>,
    pub queued: u64,
    pub delayed: u64,
    pub running: u64,
    pub succeeded: u64,
    pub failed: u64,
    pub dead_lettered: u64,
    pub rate_per_sec_1m: f64,
    pub avg_duration_ms: f64,
    pub eta_drain_secs: Option<f64>,
    pub hosts: Vec<String>,
}

/// Time-bucketed history of a queue (opaque to the server: passed through as JSON).
pub type History = serde_json::Value;

/// A deployed module version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Version {
    pub number: u32,
    pub sha256: String,
    pub size: u64,
    pub deployed_ms: u64,
    pub current: bool,
}

/// Per-publish options (the query string of a publish request).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PublishOptions {
    pub countdown: Option<Duration>,
    pub eta: Option<jiff::Timestamp>,
    pub priority: Option<u8>,
    pub task_id: Option<String>,
}

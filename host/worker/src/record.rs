//! The status and result of one task, as stored (JSON, with a TTL) in the state store and printed
//! by `wasmboost result` / `status --json`.

use serde::{Deserialize, Serialize};

/// Where a task is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskState {
    /// Published, waiting in the queue.
    Queued,
    /// Published with a countdown or ETA that has not come yet.
    Delayed,
    /// An attempt is running.
    Running,
    /// Finished with a result.
    Succeeded,
    /// Finished with an error that is not retried.
    Failed,
    /// An attempt failed; the next one is scheduled.
    Retrying,
    /// Gave up (out of retries, asked by the task, or malformed); in the dead-letter queue.
    DeadLettered,
    /// Not run: older than its queue's `msg_ttl` or past its `expire_at`.
    Expired,
    /// Not run: the same arguments (or dedup key) succeeded recently.
    SkippedDuplicate,
    /// Cancelled by id: skipped when fetched, or stopped while running; never retried.
    Cancelled,
}

impl TaskState {
    /// True when nothing more will happen to the task.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            TaskState::Succeeded
                | TaskState::Failed
                | TaskState::DeadLettered
                | TaskState::Expired
                | TaskState::SkippedDuplicate
                | TaskState::Cancelled
        )
    }

    /// The snake_case name, as in JSON.
    pub fn name(self) -> &'static str {
        match self {
            TaskState::Queued => "queued",
            TaskState::Delayed => "delayed",
            TaskState::Running => "running",
            TaskState::Succeeded => "succeeded",
            TaskState::Failed => "failed",
            TaskState::Retrying => "retrying",
            TaskState::DeadLettered => "dead_lettered",
            TaskState::Expired => "expired",
            TaskState::SkippedDuplicate => "skipped_duplicate",
            TaskState::Cancelled => "cancelled",
        }
    }
}

impl std::fmt::Display for TaskState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Everything known about one task.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskRecord {
    pub task_id: String,
    pub queue: String,
    pub state: TaskState,
    /// Attempts started so far (1-based number of the latest one; 0 before the first).
    pub attempts: u32,
    /// ms since the Unix epoch.
    pub published_ms: u64,
    pub started_ms: Option<u64>,
    pub finished_ms: Option<u64>,
    /// Duration of the latest attempt.
    pub duration_us: Option<u64>,
    pub fuel_used: Option<u64>,
    pub peak_memory_bytes: Option<u64>,
    /// The task's result document when it succeeded.
    pub result: Option<serde_json::Value>,
    /// Why the latest attempt failed, or why the task was not run.
    pub error: Option<String>,
    /// The module version that ran the latest attempt.
    pub module_version: Option<u32>,
}

impl TaskRecord {
    /// A record for a task that has not started.
    pub fn new(task_id: &str, queue: &str, state: TaskState, published_ms: u64) -> TaskRecord {
        TaskRecord {
            task_id: task_id.to_owned(),
            queue: queue.to_owned(),
            state,
            attempts: 0,
            published_ms,
            started_ms: None,
            finished_ms: None,
            duration_us: None,
            fuel_used: None,
            peak_memory_bytes: None,
            result: None,
            error: None,
            module_version: None,
        }
    }

    /// Serialize for the state store.
    pub fn to_bytes(&self) -> bytes::Bytes {
        // A record holds only strings, numbers and a JSON value: serializing cannot fail.
        serde_json::to_vec(self)
            .expect("a task record always serializes")
            .into()
    }

    /// Read a stored record.
    pub fn from_bytes(bytes: &[u8]) -> Result<TaskRecord, serde_json::Error> {
        serde_json::from_slice(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_serialize_snake_case_and_know_terminal() {
        let mut r = TaskRecord::new("t1", "q", TaskState::SkippedDuplicate, 5);
        r.result = Some(serde_json::json!({"x": 1}));
        let text = String::from_utf8(r.to_bytes().to_vec()).expect("json is utf-8");
        assert!(text.contains("\"skipped_duplicate\""), "{text}");
        assert_eq!(
            TaskRecord::from_bytes(text.as_bytes()).expect("round trip"),
            r
        );
        assert!(TaskState::DeadLettered.is_terminal());
        assert!(!TaskState::Retrying.is_terminal());
        assert!(!TaskState::Running.is_terminal());
        assert_eq!(TaskState::DeadLettered.to_string(), "dead_lettered");
    }
}

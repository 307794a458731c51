//! What the host tells a task about the invocation in progress.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The invocation in progress: take it as the task function's first parameter,
/// `ctx: &wasmboost_guest::Context`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Context {
    task_id: String,
    queue: String,
    attempt: u32,
    publish_time_ms: u64,
    deadline_ms: u64,
}

impl Context {
    /// Build a context by hand, e.g. to call a task function in a native unit test.
    pub fn new(
        task_id: impl Into<String>,
        queue: impl Into<String>,
        attempt: u32,
        publish_time_ms: u64,
        deadline_ms: u64,
    ) -> Context {
        Context {
            task_id: task_id.into(),
            queue: queue.into(),
            attempt,
            publish_time_ms,
            deadline_ms,
        }
    }

    /// The task's id (a UUIDv7 unless the publisher chose one); the same across retries.
    pub fn task_id(&self) -> &str {
        &self.task_id
    }

    /// The queue the message was delivered from.
    pub fn queue(&self) -> &str {
        &self.queue
    }

    /// Which attempt this is, starting at 1 (retries count, requeues do not).
    pub fn attempt(&self) -> u32 {
        self.attempt
    }

    /// When the message was first published, in milliseconds since the Unix epoch.
    pub fn publish_time_ms(&self) -> u64 {
        self.publish_time_ms
    }

    /// When the message was first published.
    pub fn publish_time(&self) -> SystemTime {
        UNIX_EPOCH + Duration::from_millis(self.publish_time_ms)
    }

    /// When the host stops this invocation, in milliseconds since the Unix epoch.
    pub fn deadline_ms(&self) -> u64 {
        self.deadline_ms
    }

    /// When the host stops this invocation.
    pub fn deadline(&self) -> SystemTime {
        UNIX_EPOCH + Duration::from_millis(self.deadline_ms)
    }

    /// Time left before the deadline (zero once it has passed), by the guest's wall clock.
    pub fn remaining(&self) -> Duration {
        self.deadline()
            .duration_since(SystemTime::now())
            .unwrap_or(Duration::ZERO)
    }
}

impl From<crate::__private::WitContext> for Context {
    fn from(ctx: crate::__private::WitContext) -> Context {
        Context {
            task_id: ctx.task_id,
            queue: ctx.queue,
            attempt: ctx.attempt,
            publish_time_ms: ctx.publish_time_ms,
            deadline_ms: ctx.deadline_ms,
        }
    }
}

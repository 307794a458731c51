//! How a task reports that it did not produce a result.

use std::fmt;
use std::time::Duration;

/// What the host should do with a message whose task did not succeed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// Running it again will not help: record the failure, do not retry.
    Fail,
    /// The cause may pass: retry (within the queue's `max_retries`).
    Retry,
    /// Give up now: move the message to the queue's dead-letter queue.
    DeadLetter,
}

/// A task's typed error: return `Result<T, TaskError>` from a task function.
///
/// Any error that implements `Display` converts into a [`ErrorKind::Fail`] with `?`, so
/// `Result<T, TaskError>` works with `?` on `io::Error`, `serde_json::Error`, `String`, ...
/// Ask for a retry or a dead-letter explicitly:
///
/// ```
/// use std::time::Duration;
/// use wasmboost_guest::TaskError;
///
/// let busy = TaskError::retry("upstream busy").after(Duration::from_secs(5));
/// let bad = TaskError::dead_letter("account closed");
/// # let _ = (busy, bad);
/// ```
///
/// `TaskError` deliberately does not implement `Display` (use [`TaskError::reason`]): that is
/// what lets every `Display` type convert into it.
#[derive(Clone, PartialEq, Eq)]
pub struct TaskError {
    kind: ErrorKind,
    reason: String,
    delay: Option<Duration>,
}

impl TaskError {
    /// Fail without retrying.
    pub fn fail(reason: impl Into<String>) -> TaskError {
        TaskError::new(ErrorKind::Fail, reason.into())
    }

    /// Ask to be retried; the queue's backoff picks the delay unless [`TaskError::after`] sets it.
    pub fn retry(reason: impl Into<String>) -> TaskError {
        TaskError::new(ErrorKind::Retry, reason.into())
    }

    /// Give up now and dead-letter the message.
    pub fn dead_letter(reason: impl Into<String>) -> TaskError {
        TaskError::new(ErrorKind::DeadLetter, reason.into())
    }

    /// Retry after `delay` instead of the queue's backoff. Only a retry carries a delay: on a
    /// fail or dead-letter this has no effect.
    #[must_use]
    pub fn after(mut self, delay: Duration) -> TaskError {
        if self.kind == ErrorKind::Retry {
            self.delay = Some(delay);
        }
        self
    }

    /// Fail, retry or dead-letter.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// Why the task did not succeed; recorded with the task's status.
    pub fn reason(&self) -> &str {
        &self.reason
    }

    /// The delay a retry asked for, if any.
    pub fn delay(&self) -> Option<Duration> {
        self.delay
    }

    fn new(kind: ErrorKind, reason: String) -> TaskError {
        TaskError {
            kind,
            reason,
            delay: None,
        }
    }

    /// The WIT value handed back to the host.
    pub(crate) fn into_wit(self) -> crate::__private::WitTaskError {
        use crate::__private::WitTaskError as Wit;
        use crate::glue::bindings::wasmboost::task::types::RetryRequest;
        match self.kind {
            ErrorKind::Fail => Wit::Fail(self.reason),
            ErrorKind::DeadLetter => Wit::DeadLetter(self.reason),
            ErrorKind::Retry => Wit::Retry(RetryRequest {
                reason: self.reason,
                // u64 milliseconds last 584 million years: saturate rather than wrap.
                delay_ms: self
                    .delay
                    .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
            }),
        }
    }
}

impl fmt::Debug for TaskError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = f.debug_struct("TaskError");
        s.field("kind", &self.kind).field("reason", &self.reason);
        if let Some(delay) = self.delay {
            s.field("delay", &delay);
        }
        s.finish()
    }
}

/// Any displayable error fails the task with its message.
impl<E: fmt::Display> From<E> for TaskError {
    fn from(err: E) -> TaskError {
        TaskError::fail(err.to_string())
    }
}

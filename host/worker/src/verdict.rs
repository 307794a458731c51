//! How a delivery ends ([`Verdict`]) and everything that follows from it, decided in one place:
//! the task's state, how the delivery is settled, which counters move and the error it
//! records. Every ending goes through here: a finished run ([`judge`], with the retry decision
//! from the policy crate) and the three that end before running (malformed, expired,
//! duplicate).

use std::time::Duration;

use wasmboost_broker::{Message, Settlement};
use wasmboost_policy::retry::{Decision, FailureKind, RetryPolicy};
use wasmboost_runtime::{Outcome, Report, TaskError, TrapKind};

use crate::config::settings::QueueSettings;
use crate::record::TaskState;

/// How one delivery ended.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Verdict {
    Succeeded {
        result: serde_json::Value,
    },
    /// Failed and not retried (the failure kind is not in `retry_on`).
    Failed {
        error: String,
    },
    Retry {
        error: String,
        after: Duration,
    },
    DeadLetter {
        error: String,
        reason: String,
    },
    /// Not run: the body is not a valid message. Dead-lettered with the reason.
    Malformed {
        reason: String,
    },
    /// Not run: older than the queue's `msg_ttl` or past its `expire_at`.
    Expired,
    /// Not run: a task with the same dedup key succeeded recently.
    Duplicate {
        key: String,
    },
    /// Cancelled by id: skipped before running, or stopped while running. Acked, never retried.
    Cancelled,
}

impl Verdict {
    pub(crate) fn state(&self) -> TaskState {
        match self {
            Verdict::Succeeded { .. } => TaskState::Succeeded,
            Verdict::Failed { .. } => TaskState::Failed,
            Verdict::Retry { .. } => TaskState::Retrying,
            Verdict::DeadLetter { .. } | Verdict::Malformed { .. } => TaskState::DeadLettered,
            Verdict::Expired => TaskState::Expired,
            Verdict::Duplicate { .. } => TaskState::SkippedDuplicate,
            Verdict::Cancelled => TaskState::Cancelled,
        }
    }

    pub(crate) fn settlement(&self) -> Settlement {
        match self {
            Verdict::Succeeded { .. }
            | Verdict::Failed { .. }
            | Verdict::Expired
            | Verdict::Duplicate { .. }
            | Verdict::Cancelled => Settlement::Ack,
            Verdict::Retry { after, .. } => Settlement::Retry { after: *after },
            Verdict::DeadLetter { reason, .. } | Verdict::Malformed { reason } => {
                Settlement::DeadLetter {
                    reason: reason.clone(),
                }
            }
        }
    }

    /// The queue counters this ending adds to (every failed attempt counts as `failed`).
    pub(crate) fn counts(&self) -> &'static [(&'static str, i64)] {
        match self {
            Verdict::Succeeded { .. } => &[("succeeded", 1)],
            Verdict::Failed { .. } => &[("failed", 1)],
            Verdict::Retry { .. } => &[("failed", 1), ("retried", 1)],
            Verdict::DeadLetter { .. } => &[("failed", 1), ("dead_lettered", 1)],
            Verdict::Malformed { .. } => &[("dead_lettered", 1)],
            Verdict::Expired => &[("expired", 1)],
            Verdict::Duplicate { .. } => &[("skipped_duplicate", 1)],
            Verdict::Cancelled => &[("cancelled", 1)],
        }
    }

    /// The record's `error`: why it failed, or why it was not run.
    pub(crate) fn error(&self) -> Option<String> {
        match self {
            Verdict::Succeeded { .. } => None,
            Verdict::Failed { error } | Verdict::Retry { error, .. } => Some(error.clone()),
            Verdict::DeadLetter { reason, .. } => Some(reason.clone()),
            Verdict::Malformed { reason } => Some(reason.clone()),
            Verdict::Expired => Some("expired before it could run".to_owned()),
            Verdict::Duplicate { key } => {
                Some(format!("a task with dedup key {key} already succeeded"))
            }
            Verdict::Cancelled => Some("cancelled by request".to_owned()),
        }
    }

    /// The record's `result`.
    pub(crate) fn result(&self) -> Option<serde_json::Value> {
        match self {
            Verdict::Succeeded { result } => Some(result.clone()),
            _ => None,
        }
    }

    pub(crate) fn succeeded(&self) -> bool {
        matches!(self, Verdict::Succeeded { .. })
    }
}

/// The failure kind, its text and the guest's requested delay, for a task error.
fn task_failure(error: &TaskError) -> (FailureKind, String, Option<Duration>) {
    match error {
        TaskError::Fail { reason } => (FailureKind::Fail, reason.clone(), None),
        TaskError::Retry { reason, delay } => (FailureKind::Retry, reason.clone(), *delay),
        TaskError::DeadLetter { reason } => (FailureKind::DeadLetter, reason.clone(), None),
    }
}

fn trap_kind(trap: &TrapKind) -> FailureKind {
    match trap {
        TrapKind::OutOfFuel => FailureKind::OutOfFuel,
        TrapKind::Timeout => FailureKind::Timeout,
        TrapKind::MemoryLimit => FailureKind::MemoryLimit,
        TrapKind::StackOverflow => FailureKind::StackOverflow,
        TrapKind::Panic(_) => FailureKind::Panic,
        // The worker turns a cancelled run into `Verdict::Cancelled` before judging; were one
        // to reach here it is an ordinary trap.
        TrapKind::Other(_) | TrapKind::Cancelled => FailureKind::Trap,
    }
}

fn trap_text(trap: &TrapKind) -> String {
    match trap {
        TrapKind::Panic(msg) if !msg.is_empty() => format!("panic: {msg}"),
        TrapKind::Other(msg) => format!("trap: {msg}"),
        other => other.name().to_owned(),
    }
}

/// Judge one finished attempt under the queue's retry policy, with the task's `max_retries`
/// (from its budget).
pub(crate) fn judge(
    settings: &QueueSettings,
    max_retries: u32,
    msg: &Message,
    report: &Report,
) -> Verdict {
    let (kind, error, delay) = match &report.outcome {
        Outcome::Ok { result } => {
            // The runtime validated the JSON; keep the text if it somehow is not.
            let result = serde_json::from_str(result)
                .unwrap_or_else(|_| serde_json::Value::String(result.clone()));
            return Verdict::Succeeded { result };
        }
        Outcome::TaskError { error } => task_failure(error),
        Outcome::Trap { trap } => (trap_kind(trap), trap_text(trap), None),
    };
    let overridden;
    let policy: &RetryPolicy = if max_retries == settings.retry.max_retries {
        &settings.retry
    } else {
        overridden = RetryPolicy {
            max_retries,
            ..settings.retry.clone()
        };
        &overridden
    };
    let jitter: f64 = rand::random();
    match policy.decide_with_error(kind, msg.attempt, delay, jitter, &error) {
        Decision::Ack => Verdict::Failed { error },
        Decision::Retry { after } => Verdict::Retry { error, after },
        Decision::DeadLetter { reason } => Verdict::DeadLetter { error, reason },
    }
}

//! From an invocation's [`Report`] to a [`Verdict`]: what happened, how the delivery is settled,
//! and the task record that says so. The retry decision itself is the policy crate's.

use std::time::Duration;

use wasmboost_broker::{Message, Settlement, now_ms};
use wasmboost_policy::message::ParsedMessage;
use wasmboost_policy::retry::{Decision, FailureKind, RetryPolicy};
use wasmboost_runtime::{Outcome, Report, TaskError, TrapKind};

use crate::engine::Bound;
use crate::record::{TaskRecord, TaskState};
use crate::settings::QueueSettings;
use crate::task::TaskCx;

/// How one attempt ended, for the record and the settlement.
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
}

impl Verdict {
    pub(crate) fn settlement(&self) -> Settlement {
        match self {
            Verdict::Succeeded { .. } | Verdict::Failed { .. } => Settlement::Ack,
            Verdict::Retry { after, .. } => Settlement::Retry { after: *after },
            Verdict::DeadLetter { reason, .. } => Settlement::DeadLetter {
                reason: reason.clone(),
            },
        }
    }

    fn state(&self) -> TaskState {
        match self {
            Verdict::Succeeded { .. } => TaskState::Succeeded,
            Verdict::Failed { .. } => TaskState::Failed,
            Verdict::Retry { .. } => TaskState::Retrying,
            Verdict::DeadLetter { .. } => TaskState::DeadLettered,
        }
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
        TrapKind::Other(_) => FailureKind::Trap,
    }
}

fn trap_text(trap: &TrapKind) -> String {
    match trap {
        TrapKind::Panic(msg) if !msg.is_empty() => format!("panic: {msg}"),
        TrapKind::Other(msg) => format!("trap: {msg}"),
        other => other.name().to_owned(),
    }
}

/// Judge one finished attempt under the queue's retry policy (with the message's
/// `extra.max_retries` override).
pub(crate) fn judge(
    settings: &QueueSettings,
    parsed: &ParsedMessage,
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
    let policy: &RetryPolicy = match parsed.extra.max_retries {
        Some(max_retries) => {
            overridden = RetryPolicy {
                max_retries,
                ..settings.retry.clone()
            };
            &overridden
        }
        None => &settings.retry,
    };
    let jitter: f64 = rand::random();
    match policy.decide_with_error(kind, msg.attempt, delay, jitter, &error) {
        Decision::Ack => Verdict::Failed { error },
        Decision::Retry { after } => Verdict::Retry { error, after },
        Decision::DeadLetter { reason } => Verdict::DeadLetter { error, reason },
    }
}

/// The record of a finished attempt.
pub(crate) fn record_of(
    cx: &TaskCx,
    report: &Report,
    verdict: &Verdict,
    bound: &Bound,
    started_ms: u64,
) -> TaskRecord {
    let mut r = cx.record(verdict.state());
    r.started_ms = Some(started_ms);
    r.finished_ms = Some(now_ms());
    r.duration_us = Some(u64::try_from(report.duration.as_micros()).unwrap_or(u64::MAX));
    r.fuel_used = Some(report.fuel_used);
    r.peak_memory_bytes = Some(report.peak_memory_bytes);
    r.module_version = Some(bound.version.number);
    match verdict {
        Verdict::Succeeded { result } => r.result = Some(result.clone()),
        Verdict::Failed { error } | Verdict::Retry { error, .. } => r.error = Some(error.clone()),
        Verdict::DeadLetter { reason, .. } => r.error = Some(reason.clone()),
    }
    r
}

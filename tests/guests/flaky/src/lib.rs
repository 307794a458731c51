//! Ends the way `mode` asks, for retry and dead-letter tests:
//! - `ok`: returns `{"attempt": n}`;
//! - `fail`: `TaskError::fail`; `error`: a plain `Err(String)` (also a fail);
//! - `retry`: `TaskError::retry`, after `delay_ms` when given;
//! - `dead_letter`: `TaskError::dead_letter`.
//!
//! With `succeed_on: n`, attempts from `n` on succeed whatever the mode, so a retried message
//! eventually completes.

use std::time::Duration;

use serde_json::{Value, json};
use wasmboost_guest::{Context, TaskError};

/// See the crate docs.
#[wasmboost_guest::task]
fn flaky(
    ctx: &Context,
    mode: String,
    delay_ms: Option<u64>,
    succeed_on: Option<u32>,
) -> Result<Value, TaskError> {
    let attempt = ctx.attempt();
    if succeed_on.is_some_and(|n| attempt >= n) {
        return Ok(json!({ "attempt": attempt }));
    }
    let reason = format!("flaky {mode} on attempt {attempt}");
    match mode.as_str() {
        "ok" => Ok(json!({ "attempt": attempt })),
        "fail" => Err(TaskError::fail(reason)),
        "error" => Err(reason.into()),
        "retry" => match delay_ms {
            Some(ms) => Err(TaskError::retry(reason).after(Duration::from_millis(ms))),
            None => Err(TaskError::retry(reason)),
        },
        "dead_letter" => Err(TaskError::dead_letter(reason)),
        other => Err(TaskError::fail(format!("unknown mode `{other}`"))),
    }
}

//! Writes hostile text through every channel a guest has into the host: `log()` (one call of
//! `log_bytes` bytes, and `text` verbatim at warn), stderr (`text`), and an error reason of
//! `fail_bytes` bytes. The host must cap and escape all of it before it logs or records it.

use serde_json::{Value, json};
use wasmboost_guest::{Level, TaskError, log};

/// See the crate docs. `text` may hold newlines and ANSI escapes meant to forge host log lines.
#[wasmboost_guest::task]
fn noisy(log_bytes: u64, text: String, fail_bytes: Option<u64>) -> Result<Value, TaskError> {
    if log_bytes > 0 {
        let size = usize::try_from(log_bytes).unwrap_or(usize::MAX);
        log(Level::Info, &"x".repeat(size));
    }
    if !text.is_empty() {
        log(Level::Warn, &text);
        eprintln!("{text}");
    }
    if let Some(size) = fail_bytes.filter(|n| *n > 0) {
        let size = usize::try_from(size).unwrap_or(usize::MAX);
        return Err(TaskError::fail("y".repeat(size)));
    }
    Ok(json!({ "logged": log_bytes }))
}

//! Waits `ms` milliseconds on the WASI monotonic clock (the host suspends the call, no thread is
//! blocked there) and returns how long it slept: `{"ms": 50}` -> `{"slept_ms": 50}`.

use std::time::{Duration, Instant};

/// Sleeps `ms` milliseconds.
#[wasmboost_guest::task]
fn sleep(ms: u64) -> serde_json::Value {
    let start = Instant::now();
    std::thread::sleep(Duration::from_millis(ms));
    serde_json::json!({ "slept_ms": start.elapsed().as_millis() as u64 })
}

//! Increments a global counter and returns it. On a fresh instance per call it always returns
//! 1; anything else means state leaked between invocations.

use std::sync::atomic::{AtomicU64, Ordering};

/// Calls seen by this instance.
static CALLS: AtomicU64 = AtomicU64::new(0);

/// Returns how many times this instance has been called, this call included.
#[wasmboost_guest::task]
fn counter() -> u64 {
    CALLS.fetch_add(1, Ordering::Relaxed) + 1
}

//! Sleeps `ms` milliseconds in a WASI clock call (the host suspends it; the deadline still
//! applies) and returns `ms`.

/// Returns `ms` after sleeping that long.
#[wasmboost_guest::task]
fn sleep(ms: u64) -> u64 {
    std::thread::sleep(std::time::Duration::from_millis(ms));
    ms
}

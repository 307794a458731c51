//! The smallest task: `{"x": 1, "y": 2}` -> `3`.

/// Adds two integers.
#[wasmboost_guest::task]
fn add(x: i64, y: i64) -> i64 {
    x + y
}

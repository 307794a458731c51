//! Arithmetic for workflow tests, chosen by `op`:
//! - `add`: `x + y`; `double`: `2 * x`; `sum`: the sum of `values` (a chord's results);
//! - `weighted`: the sum of `i * values[i]` (members returning their index `0..n` give the
//!   largest possible value only in order, every member once);
//! - `fail`: fails with `"calc fail"`.
//!
//! With `sleep_ms` it first sleeps that long in a WASI clock call (a step that is still
//! running when a test kills the host).

use wasmboost_guest::TaskError;

/// See the crate docs.
#[wasmboost_guest::task]
fn calc(
    op: String,
    x: Option<i64>,
    y: Option<i64>,
    values: Option<Vec<i64>>,
    sleep_ms: Option<u64>,
) -> Result<i64, TaskError> {
    if let Some(ms) = sleep_ms {
        std::thread::sleep(std::time::Duration::from_millis(ms));
    }
    let need = |v: Option<i64>, name: &str| {
        v.ok_or_else(|| TaskError::fail(format!("calc {op}: missing {name}")))
    };
    match op.as_str() {
        "add" => Ok(need(x, "x")? + need(y, "y")?),
        "double" => Ok(2 * need(x, "x")?),
        "sum" => Ok(values.unwrap_or_default().iter().sum()),
        "weighted" => Ok((0..)
            .zip(values.unwrap_or_default())
            .map(|(i, v): (i64, i64)| i * v)
            .sum()),
        "fail" => Err(TaskError::fail("calc fail")),
        other => Err(TaskError::fail(format!("calc: unknown op {other:?}"))),
    }
}

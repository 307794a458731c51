//! Uses the invocation context and the host's log: `{"name": "Ada"}` ->
//! `{"greeting": "hello, Ada", "task_id": "...", "queue": "...", "attempt": 1}`.

use wasmboost_guest::{Context, TaskError, info, warn};

/// Greets `name` (default "world") and reports which invocation it ran in. A blank name is
/// a task failure, not a trap.
#[wasmboost_guest::task]
fn hello(ctx: &Context, name: Option<String>) -> Result<serde_json::Value, TaskError> {
    let name = name.unwrap_or_else(|| "world".to_owned());
    if name.trim().is_empty() {
        warn!("rejecting a blank name in task {}", ctx.task_id());
        return Err(TaskError::fail("name must not be blank"));
    }
    info!("greeting {name} (attempt {} on {})", ctx.attempt(), ctx.queue());
    Ok(serde_json::json!({
        "greeting": format!("hello, {name}"),
        "task_id": ctx.task_id(),
        "queue": ctx.queue(),
        "attempt": ctx.attempt(),
        "deadline_ms": ctx.deadline_ms(),
    }))
}

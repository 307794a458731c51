//! The code behind the component export that `#[task]` generates: kept out of the macro so
//! each task crate compiles one small shim.

use std::io::Write;
use std::panic::PanicHookInfo;

use serde::Serialize;

use crate::{Context, TaskError};

/// Bindings for the `wasmboost:task@0.2.0` world, generated from the released WIT contract. A
/// task that calls none of the 0.2.0 imports links none of them (unused imports are dropped
/// when the component is made).
#[allow(
    missing_docs,
    missing_debug_implementations,
    clippy::all,
    reason = "generated code"
)]
pub mod bindings {
    wit_bindgen::generate!({
        path: "../../wit/0.2.0",
        world: "task",
        pub_export_macro: true,
        default_bindings_module: "::wasmboost_guest::__private::bindings",
        runtime_path: "::wasmboost_guest::__private::wit_bindgen::rt",
    });
}

use bindings::wasmboost::task::types::{Context as WitContext, TaskError as WitTaskError};

/// Run one invocation: install the panic reporter, hand the task its context and payload, and
/// turn its error into the WIT value.
pub fn handle<F>(ctx: WitContext, payload: String, task: F) -> Result<String, WitTaskError>
where
    F: FnOnce(&Context, &str) -> Result<String, TaskError>,
{
    // wasm32 aborts on panic (no unwinding), so the message cannot become a `fail`: write it to
    // stderr where the host finds it when it maps the trap that follows.
    std::panic::set_hook(Box::new(report_panic));
    let ctx = Context::from(ctx);
    task(&ctx, &payload).map_err(TaskError::into_wit)
}

/// The JSON result of a task that returns a plain value.
pub fn output<T: Serialize + ?Sized>(value: &T) -> Result<String, TaskError> {
    serde_json::to_string(value)
        .map_err(|err| TaskError::fail(format!("the result cannot be written as JSON: {err}")))
}

/// The JSON result of a task that returns `Result<T, E>`.
pub fn output_result<T: Serialize, E: Into<TaskError>>(
    result: Result<T, E>,
) -> Result<String, TaskError> {
    output(&result.map_err(Into::into)?)
}

/// Writes `panicked at FILE:LINE:COL:` and the message on the next line(s), like std's own
/// report without the thread name: the host takes what follows the marker as the panic message.
fn report_panic(info: &PanicHookInfo<'_>) {
    let payload = info.payload();
    let message = payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("Box<dyn Any>");
    let mut stderr = std::io::stderr().lock();
    // A failed write cannot be reported anywhere: the trap still tells the host it panicked.
    let _ = match info.location() {
        Some(at) => writeln!(stderr, "{}{at}:\n{message}", crate::PANIC_MARKER),
        None => writeln!(stderr, "{}<unknown>:\n{message}", crate::PANIC_MARKER),
    };
}

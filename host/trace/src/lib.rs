//! OpenTelemetry traces of what a host does: a span per publish, per task run and per settle,
//! exported over OTLP/HTTP (JSON) when `[trace] endpoint` is set, and nothing at all when it
//! is not (the default).
//!
//! - [`config`]: the `[trace]` table of `wasmboost.toml`.
//! - [`export`]: the `tracing` layer that turns our spans into OpenTelemetry spans and the
//!   exporter behind it; installing it is what turns tracing on.
//! - `otlp`: spans as an OTLP/HTTP JSON export request.
//! - [`context`]: W3C `traceparent` in and out: a producer's trace continues into the task.
//! - [`traceparent`]: the strict reading of a `traceparent` value; a malformed one names nothing.
//!
//! The hot path pays one relaxed load while tracing is off: every span is made behind [`on`],
//! and a caller that finds it off runs its future bare, without a span to enter.

use std::sync::atomic::{AtomicBool, Ordering};

pub mod config;
pub mod context;
pub mod export;
mod otlp;
pub mod traceparent;

pub use config::TraceConfig;
pub use context::{
    TRACEPARENT, continue_trace, set_traceparent, stamp_body, traceparent_in, traceparent_of,
};
pub use export::{Exporting, TraceError, layer};

/// The `tracing` target of every span meant for export; the exporting layer sees nothing else.
pub const TARGET: &str = "wasmboost::trace";

/// Set once, when the exporting layer is installed.
static ON: AtomicBool = AtomicBool::new(false);

/// Whether spans are being exported: callers make spans only when this is true.
#[inline]
pub fn on() -> bool {
    ON.load(Ordering::Relaxed)
}

pub(crate) fn turn_on() {
    ON.store(true, Ordering::Relaxed);
}

//! The dashboard (issue 17) in a real headless Chromium against the real binary.
//!
//! - `dashboard`: log in with a token, watch a drain live, pause through the button, replay a
//!   dead letter, find a task, the hosts page, a read-only token's view, phone width; a
//!   screenshot of each page under `<target>/test-output/ui_dashboard/`.
//! - `assets`: the page and its files over plain HTTP: headers, no token needed for them, and
//!   the data routes still refusing a request without one.
//! - `metrics`: `/metrics` names and types, and counters moving with a success, a retry and a
//!   dead letter (the numbers the dashboard shows, for Prometheus); histograms, traps, rate
//!   waits, deploys and compiles.
//! - `trace`: OTLP/HTTP export to an in-test receiver; one task's span tree continues the
//!   producer's `traceparent` through publish, task run and settle.
//! - `trace_malformed`: malformed `traceparent` values (header, `extra`, single and batch) are
//!   ignored: the publish is accepted, the task starts a new trace, the value is never logged.
//! - `logs`: `serve --log-format json` writes one JSON object per line that guest text cannot
//!   forge.

mod assets;
mod dashboard;
mod logs;
mod metrics;
mod trace;
mod trace_malformed;

//! `GET /metrics` (Prometheus text exposition), `GET /healthz` (liveness) and `GET /readyz`
//! (readiness: unready from the first shutdown signal while running tasks drain).

use std::fmt::Write as _;

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use serde_json::json;

use super::AppState;
use crate::contract::QueueStats;
use crate::error::ApiError;

/// Liveness: answers as soon as the server accepts requests.
pub async fn healthz() -> Json<serde_json::Value> {
    Json(json!({ "status": "ok" }))
}

/// Readiness: 200 while the host takes new work, 503 once it is shutting down (it stays live
/// and finishes its running tasks within `shutdown_grace`).
pub async fn readyz(State(control): State<AppState>) -> (StatusCode, Json<serde_json::Value>) {
    if control.ready() {
        (StatusCode::OK, Json(json!({ "status": "ready" })))
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({ "status": "draining" })),
        )
    }
}

pub async fn metrics(State(control): State<AppState>) -> Result<impl IntoResponse, ApiError> {
    let stats = control.stats().await?;
    Ok((
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        render(&stats),
    ))
}

/// One metric family: name, type, help, and the value of each queue's sample.
struct Family {
    name: &'static str,
    kind: &'static str,
    help: &'static str,
    value: fn(&QueueStats) -> Option<f64>,
}

const FAMILIES: &[Family] = &[
    Family {
        name: "wasmboost_queue_queued",
        kind: "gauge",
        help: "Messages ready to run.",
        value: |s| Some(s.queued as f64),
    },
    Family {
        name: "wasmboost_queue_delayed",
        kind: "gauge",
        help: "Messages waiting for a countdown, eta or retry backoff.",
        value: |s| Some(s.delayed as f64),
    },
    Family {
        name: "wasmboost_queue_running",
        kind: "gauge",
        help: "Tasks running now.",
        value: |s| Some(s.running as f64),
    },
    Family {
        name: "wasmboost_queue_dead_lettered",
        kind: "gauge",
        help: "Messages in the dead-letter queue.",
        value: |s| Some(s.dead_lettered as f64),
    },
    Family {
        name: "wasmboost_tasks_succeeded_total",
        kind: "counter",
        help: "Tasks that succeeded.",
        value: |s| Some(s.succeeded as f64),
    },
    Family {
        name: "wasmboost_tasks_failed_total",
        kind: "counter",
        help: "Task attempts that failed.",
        value: |s| Some(s.failed as f64),
    },
    Family {
        name: "wasmboost_tasks_retried_total",
        kind: "counter",
        help: "Failed attempts scheduled to run again.",
        value: |s| Some(s.retried as f64),
    },
    Family {
        name: "wasmboost_tasks_dead_lettered_total",
        kind: "counter",
        help: "Tasks that ended in the dead-letter queue.",
        value: |s| Some(s.dead_lettered_total as f64),
    },
    Family {
        name: "wasmboost_tasks_expired_total",
        kind: "counter",
        help: "Tasks that expired before they could run.",
        value: |s| Some(s.expired as f64),
    },
    Family {
        name: "wasmboost_tasks_skipped_duplicate_total",
        kind: "counter",
        help: "Tasks skipped because their dedup key had already succeeded.",
        value: |s| Some(s.skipped_duplicate as f64),
    },
    Family {
        name: "wasmboost_queue_rate_per_second",
        kind: "gauge",
        help: "Tasks finished per second over the last minute.",
        value: |s| Some(s.rate_per_sec_1m),
    },
    Family {
        name: "wasmboost_queue_avg_duration_seconds",
        kind: "gauge",
        help: "Average task duration.",
        value: |s| Some(s.avg_duration_ms / 1000.0),
    },
    Family {
        name: "wasmboost_queue_drain_eta_seconds",
        kind: "gauge",
        help: "Estimated time to drain the backlog.",
        value: |s| s.eta_drain_secs,
    },
    Family {
        name: "wasmboost_queue_paused",
        kind: "gauge",
        help: "1 when the queue is paused.",
        value: |s| Some(if s.paused { 1.0 } else { 0.0 }),
    },
    Family {
        name: "wasmboost_queue_module_version",
        kind: "gauge",
        help: "Version number of the deployed module.",
        value: |s| s.version.map(f64::from),
    },
];

/// Render the stats in the Prometheus text format.
pub fn render(stats: &[QueueStats]) -> String {
    let mut out = String::new();
    for family in FAMILIES {
        // Writing to a String cannot fail.
        let _ = writeln!(out, "# HELP {} {}", family.name, family.help);
        let _ = writeln!(out, "# TYPE {} {}", family.name, family.kind);
        for row in stats {
            if let Some(value) = (family.value)(row) {
                let _ = writeln!(
                    out,
                    "{}{{queue=\"{}\"}} {value}",
                    family.name,
                    escape(&row.queue)
                );
            }
        }
    }
    out
}

/// Label values escape backslash, quote and newline.
fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

//! `GET /metrics` (Prometheus text exposition), `GET /healthz` (liveness) and `GET /readyz`
//! (readiness: unready from the first shutdown signal while running tasks drain).

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use serde_json::json;

use super::AppState;
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

/// The exposition (`crate::metrics`): the queue stats plus this host's own measurements.
pub async fn metrics(State(control): State<AppState>) -> Result<impl IntoResponse, ApiError> {
    let stats = control.stats().await?;
    Ok((
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        crate::metrics::render(&stats, &control.metrics()),
    ))
}

//! `PUT /v1/queues/{queue}/module`, `GET /v1/queues/{queue}/versions`,
//! `POST /v1/queues/{queue}/rollback`.

use axum::Json;
use axum::body::Body;
use axum::extract::{Extension, Path, State};
use axum::http::{HeaderMap, StatusCode};

use super::{App, AppState};
use crate::audit::{self, AuditEntry};
use crate::auth::Caller;
use crate::body::{self, Cap, SMALL_BODY_BYTES};
use crate::contract::Version;
use crate::error::ApiError;
use crate::params::RollbackBody;

/// Upload a component (raw bytes) as the queue's new version. The cap is checked against
/// `Content-Length` first and again while the body streams, so an oversized upload is cut off
/// without being buffered.
pub async fn deploy(
    State(app): State<App>,
    Extension(caller): Extension<Caller>,
    Path(queue): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<(StatusCode, Json<Version>), ApiError> {
    let cap = Cap {
        bytes: app.control.max_module_bytes(),
        what: "module upload",
        key: "runtime.max_component_bytes",
    };
    let wasm = body::read(body, &headers, cap, app.body_timeout).await?;
    let version = app.control.deploy(&queue, wasm.into()).await?;
    let entry = AuditEntry::new(&caller, "deploy")
        .queue(&queue)
        .sha256(&version.sha256)
        .detail(format!("version {}", version.number));
    audit::record(&*app.control.state(), entry).await;
    Ok((StatusCode::CREATED, Json(version)))
}

/// Every deployed version, the current one flagged.
pub async fn versions(
    State(control): State<AppState>,
    Path(queue): Path<String>,
) -> Result<Json<Vec<Version>>, ApiError> {
    Ok(Json(control.versions(&queue).await?))
}

/// Rebind to `{"version": N}`, or to the previous version with an empty body.
pub async fn rollback(
    State(app): State<App>,
    Extension(caller): Extension<Caller>,
    Path(queue): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<Version>, ApiError> {
    let cap = Cap {
        bytes: SMALL_BODY_BYTES,
        what: "rollback body",
        key: "a fixed cap",
    };
    let body = body::read(body, &headers, cap, app.body_timeout).await?;
    let request: RollbackBody = if body.iter().all(u8::is_ascii_whitespace) {
        RollbackBody::default()
    } else {
        serde_json::from_slice(&body)
            .map_err(|err| ApiError::bad_request(format!("invalid rollback body: {err}")))?
    };
    let version = app.control.rollback(&queue, request.version).await?;
    let entry = AuditEntry::new(&caller, "rollback")
        .queue(&queue)
        .sha256(&version.sha256)
        .detail(format!("version {}", version.number));
    audit::record(&*app.control.state(), entry).await;
    Ok(Json(version))
}

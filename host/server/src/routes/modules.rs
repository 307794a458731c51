//! `PUT /v1/queues/{queue}/module`, `GET /v1/queues/{queue}/versions`,
//! `POST /v1/queues/{queue}/rollback`.

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use bytes::Bytes;
use http_body_util::BodyExt;

use super::AppState;
use crate::contract::Version;
use crate::error::ApiError;
use crate::params::RollbackBody;

fn too_large(cap: u64) -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "too_large",
        format!("module upload exceeds the cap of {cap} bytes (runtime.max_component_bytes)"),
    )
}

/// Upload a component (raw bytes) as the queue's new version. The cap is checked against
/// `Content-Length` first and again while the body streams, so an oversized upload is cut off
/// without being buffered.
pub async fn deploy(
    State(control): State<AppState>,
    Path(queue): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<(StatusCode, Json<Version>), ApiError> {
    let cap = control.max_module_bytes();
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > cap) {
        return Err(too_large(cap));
    }
    let wasm = read_capped(body, cap).await?;
    let version = control.deploy(&queue, wasm).await?;
    Ok((StatusCode::CREATED, Json(version)))
}

async fn read_capped(mut body: Body, cap: u64) -> Result<Vec<u8>, ApiError> {
    let mut wasm = Vec::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|err| {
            ApiError::bad_request(format!("reading the module upload failed: {err}"))
        })?;
        if let Some(data) = frame.data_ref() {
            if (wasm.len() + data.len()) as u64 > cap {
                return Err(too_large(cap));
            }
            wasm.extend_from_slice(data);
        }
    }
    Ok(wasm)
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
    State(control): State<AppState>,
    Path(queue): Path<String>,
    body: Bytes,
) -> Result<Json<Version>, ApiError> {
    let request: RollbackBody = if body.iter().all(u8::is_ascii_whitespace) {
        RollbackBody::default()
    } else {
        serde_json::from_slice(&body)
            .map_err(|err| ApiError::bad_request(format!("invalid rollback body: {err}")))?
    };
    Ok(Json(control.rollback(&queue, request.version).await?))
}

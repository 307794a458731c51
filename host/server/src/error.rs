//! Errors: [`ServerError`] for running the server, [`ApiError`] for one request (rendered as
//! `{"error": {"code", "message"}}` with its HTTP status), and [`json_errors`], the layer that
//! rewrites every other rejection (axum's plain-text ones, an empty 405) into that shape.

use axum::Json;
use axum::extract::Request;
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use thiserror::Error;

/// Running the server failed.
#[derive(Debug, Error)]
pub enum ServerError {
    #[error("cannot read the listener's address: {0}")]
    Address(#[source] std::io::Error),
    #[error("cannot use TLS file {path}: {reason}")]
    Tls { path: String, reason: String },
}

/// A request failed: the status, a stable machine-readable code and a message for people.
#[derive(Debug, Clone, Error)]
#[error("{message}")]
pub struct ApiError {
    pub status: StatusCode,
    pub code: String,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code: code.to_owned(),
            message: message.into(),
        }
    }

    /// A bad query parameter or body (400).
    pub fn bad_request(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }

    /// Map a host error by its `status_code()` and `code()`.
    pub fn from_host(status: u16, code: &str, message: String) -> Self {
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        ApiError::new(status, code, message)
    }
}

/// The JSON error body every failing route returns.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorDetail {
    pub code: String,
    pub message: String,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if self.status.is_server_error() {
            tracing::warn!(code = %self.code, "request failed: {}", self.message);
        }
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code,
                message: self.message,
            },
        };
        (self.status, Json(body)).into_response()
    }
}

/// The stable code of a status whose rejection did not come from an [`ApiError`].
fn code_of(status: StatusCode) -> &'static str {
    match status.as_u16() {
        400 => "bad_request",
        401 => "unauthorized",
        403 => "forbidden",
        404 => "not_found",
        405 => "method_not_allowed",
        408 => "timeout",
        413 => "too_large",
        415 => "unsupported_media_type",
        422 => "unprocessable",
        500..=599 => "internal",
        _ => "error",
    }
}

/// Longest plain-text rejection kept as the message of its JSON rewrite.
const MAX_REWRITTEN_MESSAGE: usize = 1024;

/// Layer: an error response that is not JSON (axum's extractor rejections, an empty 405)
/// becomes `{"error": {...}}` with the same status, its text as the message.
pub async fn json_errors(request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    let status = response.status();
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return response;
    }
    let text = axum::body::to_bytes(response.into_body(), MAX_REWRITTEN_MESSAGE)
        .await
        .map(|b| String::from_utf8_lossy(&b).trim().to_owned())
        .unwrap_or_default();
    let message = if text.is_empty() {
        status
            .canonical_reason()
            .unwrap_or("request failed")
            .to_owned()
    } else {
        text
    };
    ApiError::new(status, code_of(status), message).into_response()
}

//! Reading a request body with a size cap and a deadline: a declared `Content-Length` over the
//! cap is refused before a byte of the body is read, a streamed one as soon as it passes the
//! cap, and a client that trickles its body is cut off at the deadline. Nothing is buffered
//! past the cap.

use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderMap, StatusCode, header};
use bytes::{Bytes, BytesMut};
use http_body_util::BodyExt;
use tokio::time::Instant;

use crate::error::ApiError;

/// Largest body of a small control request (rollback, token create).
pub const SMALL_BODY_BYTES: u64 = 64 << 10;

/// How much a body may hold, and how to name that limit in a 413.
#[derive(Debug, Clone, Copy)]
pub struct Cap {
    pub bytes: u64,
    /// What the body is: `message`, `batch`, `module upload`, `request body`.
    pub what: &'static str,
    /// Where the limit is set, e.g. `host.max_message_bytes`.
    pub key: &'static str,
}

impl Cap {
    fn exceeded(self) -> ApiError {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
            format!(
                "{} exceeds the cap of {} bytes ({})",
                self.what, self.bytes, self.key
            ),
        )
    }
}

/// The whole body, or 413 `too_large` / 408 `timeout` / 400 `bad_request`.
pub async fn read(
    body: Body,
    headers: &HeaderMap,
    cap: Cap,
    timeout: Duration,
) -> Result<Bytes, ApiError> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > cap.bytes) {
        return Err(cap.exceeded());
    }
    let capacity = declared.unwrap_or(0).min(cap.bytes);
    let mut buf = BytesMut::with_capacity(usize::try_from(capacity).unwrap_or(0));
    let deadline = Instant::now() + timeout;
    let mut body = body;
    loop {
        let frame = match tokio::time::timeout_at(deadline, body.frame()).await {
            Err(_) => return Err(too_slow(timeout)),
            Ok(None) => return Ok(buf.freeze()),
            Ok(Some(frame)) => frame.map_err(|e| {
                ApiError::bad_request(format!("reading the request body failed: {e}"))
            })?,
        };
        if let Some(data) = frame.data_ref() {
            if (buf.len() + data.len()) as u64 > cap.bytes {
                return Err(cap.exceeded());
            }
            buf.extend_from_slice(data);
        }
    }
}

fn too_slow(timeout: Duration) -> ApiError {
    ApiError::new(
        StatusCode::REQUEST_TIMEOUT,
        "timeout",
        format!("the request body did not arrive within {timeout:?} (host.body_timeout)"),
    )
}

//! `POST /v1/queues/{queue}/messages` and `POST /v1/queues/{queue}/messages:batch`.

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use tracing::Instrument;

use super::{App, AppState, MAX_BATCH_BYTES, Params};
use crate::body::{self, Cap};
use crate::contract::TaskRecord;
use crate::error::ApiError;
use crate::params::PublishQuery;

/// 202 body of a publish that did not wait, or whose wait ended before the task did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Published {
    pub task_id: String,
}

/// 202 body of a batch publish: the ids in line order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublishedBatch {
    pub task_ids: Vec<String>,
}

/// Publish one message; with `?wait=ms`, answer with the finished record (RPC).
pub async fn publish(
    State(app): State<App>,
    Path(queue): Path<String>,
    Params(query): Params<PublishQuery>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let options = query.options()?;
    let control = &app.control;
    let cap = Cap {
        bytes: control.max_message_bytes(),
        what: "message",
        key: "host.max_message_bytes",
    };
    let body = body::read(body, &headers, cap, app.body_timeout).await?;
    let (body, span) = crate::trace::publish_span(&queue, &headers, body);
    let task_id = match &span {
        None => control.publish(&queue, &body, options).await?,
        Some(span) => {
            let published = control.publish(&queue, &body, options);
            let task_id = published.instrument(span.clone()).await?;
            span.record("task_id", task_id.as_str());
            task_id
        }
    };
    let Some(wait) = query.wait() else {
        return Ok((StatusCode::ACCEPTED, Json(Published { task_id })).into_response());
    };
    let record = wait_or_latest(control, &task_id, wait).await?;
    Ok(record_response(task_id, record))
}

/// The terminal record if it comes within `wait`, else whatever record exists by then.
pub async fn wait_or_latest(
    control: &AppState,
    task_id: &str,
    wait: std::time::Duration,
) -> Result<Option<TaskRecord>, ApiError> {
    match control.wait_result(task_id, wait).await? {
        Some(record) => Ok(Some(record)),
        None => control.record(task_id).await,
    }
}

/// 200 with the record when it is terminal, else 202 with what is known (the client may wait
/// again on `GET /v1/tasks/{id}/result?wait=`).
pub fn record_response(task_id: String, record: Option<TaskRecord>) -> Response {
    match record {
        Some(record) if record.state.is_terminal() => {
            (StatusCode::OK, Json(record)).into_response()
        }
        Some(record) => (StatusCode::ACCEPTED, Json(record)).into_response(),
        None => (StatusCode::ACCEPTED, Json(Published { task_id })).into_response(),
    }
}

/// Publish every non-empty line of a JSON-lines body in one broker call (all or nothing).
pub async fn publish_batch(
    State(app): State<App>,
    Path(queue): Path<String>,
    Params(query): Params<PublishQuery>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    if query.wait.is_some() {
        return Err(ApiError::bad_request(
            "wait is not supported on a batch: wait on each task's result instead",
        ));
    }
    let options = query.options()?;
    let cap = Cap {
        bytes: MAX_BATCH_BYTES,
        what: "batch",
        key: "the batch cap: split the batch",
    };
    let body = body::read(body, &headers, cap, app.body_timeout).await?;
    let bodies = split_lines(&body);
    if bodies.is_empty() {
        return Err(ApiError::bad_request(
            "the batch is empty: send one JSON object per line",
        ));
    }
    let published = app.control.publish_batch(&queue, bodies, options);
    let task_ids = match crate::trace::batch_span(&queue, &headers) {
        None => published.await?,
        Some(span) => published.instrument(span).await?,
    };
    Ok((StatusCode::ACCEPTED, Json(PublishedBatch { task_ids })).into_response())
}

/// Lines of a JSON-lines body, blank lines (and a trailing newline) skipped.
fn split_lines(body: &[u8]) -> Vec<Vec<u8>> {
    body.split(|b| *b == b'\n')
        .map(|line| line.strip_suffix(b"\r").unwrap_or(line))
        .filter(|line| !line.iter().all(u8::is_ascii_whitespace))
        .map(<[u8]>::to_vec)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::split_lines;

    #[test]
    fn batch_lines_skip_blanks_and_crlf() {
        let lines = split_lines(b"{\"a\":1}\r\n\n  \n{\"b\":2}\n");
        assert_eq!(lines, vec![b"{\"a\":1}".to_vec(), b"{\"b\":2}".to_vec()]);
    }
}

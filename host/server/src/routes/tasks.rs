//! `GET /v1/tasks/{id}`, `GET /v1/tasks/{id}/result?wait=ms` and `DELETE /v1/tasks/{id}`
//! (cancel).

use axum::Json;
use axum::extract::{Extension, Path, State};
use axum::http::StatusCode;
use axum::response::Response;

use super::messages::record_response;
use super::{AppState, Params};
use crate::auth::Caller;
use crate::contract::{CancelReply, TaskRecord};
use crate::error::ApiError;
use crate::params::WaitQuery;

fn unknown_task(id: &str) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "unknown_task",
        format!(
            "no record of task {id:?}: it was never published here, is not picked up yet, its record expired, or its queue keeps no such records (its `results` policy)"
        ),
    )
}

/// A record the caller may see (a `publish` token sees only its queues' tasks; any other
/// record is as unknown to it as a missing one).
fn visible(caller: &Caller, record: Option<TaskRecord>) -> Option<TaskRecord> {
    record.filter(|r| caller.may_read_task(&r.queue))
}

/// The task's record in whatever state it is.
pub async fn status(
    State(control): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Json<TaskRecord>, ApiError> {
    match visible(&caller, control.record(&id).await?) {
        Some(record) => Ok(Json(record)),
        None => Err(unknown_task(&id)),
    }
}

/// 200 with the record once terminal; 202 with the record if still running after `wait`.
pub async fn result(
    State(control): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    Params(query): Params<WaitQuery>,
) -> Result<Response, ApiError> {
    let record = match query.wait() {
        Some(wait) => super::messages::wait_or_latest(&control, &id, wait).await?,
        None => control.record(&id).await?,
    };
    match visible(&caller, record) {
        Some(record) => Ok(record_response(id, Some(record))),
        None => Err(unknown_task(&id)),
    }
}

/// Cancel the task: 200 with what was found (`requested: false` when it had already ended). A
/// caller that may not cancel it gets 403 if it may see the record, else the same 404 as for an
/// unknown task.
pub async fn cancel(
    State(control): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Json<CancelReply>, ApiError> {
    let record = control.record(&id).await?;
    let queue = record.as_ref().map(|r| r.queue.as_str());
    if !caller.may_cancel_task(queue) {
        let seen = queue.is_some_and(|q| caller.may_read_task(q));
        return Err(if seen {
            ApiError::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                format!(
                    "this token may not cancel tasks of queue {:?}",
                    queue.unwrap_or_default()
                ),
            )
        } else {
            unknown_task(&id)
        });
    }
    Ok(Json(control.cancel(&id).await?))
}

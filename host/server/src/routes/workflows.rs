//! `POST /v1/workflows` (submit), `GET /v1/workflows/{id}` (every stage and step with its
//! state), `DELETE /v1/workflows/{id}` (cancel). Submitting or cancelling needs a token that may
//! publish to every queue the workflow names; showing it, `read` or that same right. A caller
//! without it gets the same 404 as for an unknown workflow.

use axum::Extension;
use axum::Json;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};

use super::{App, AppState, MAX_BATCH_BYTES};
use crate::auth::Caller;
use crate::body::{self, Cap};
use crate::contract::WorkflowInfo;
use crate::error::ApiError;

fn unknown(id: &str) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "not_found",
        format!("no workflow {id:?} (unknown, or expired)"),
    )
}

/// 201 with the new workflow (its id, and the first stage's steps).
pub async fn submit(
    State(app): State<App>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let cap = Cap {
        bytes: MAX_BATCH_BYTES,
        what: "workflow",
        key: "the workflow size limit (64 MiB)",
    };
    let body = body::read(body, &headers, cap, app.body_timeout).await?;
    // The queues are known only from the document: check the token against them before
    // anything is stored or published.
    let doc: serde_json::Value = serde_json::from_slice(&body).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_message",
            format!("a workflow is a JSON object: {e}"),
        )
    })?;
    let plan = wasmboost_policy::workflow::parse(&doc)
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "bad_workflow", e.to_string()))?;
    if !caller.may_publish_all(&plan.queues()) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            format!(
                "this token may not publish to every queue of the workflow ({})",
                plan.queues().join(", ")
            ),
        ));
    }
    let info = app.control.submit_workflow(&body).await?;
    Ok((StatusCode::CREATED, Json(info)).into_response())
}

fn visible(
    caller: &Caller,
    info: Option<WorkflowInfo>,
    id: &str,
) -> Result<WorkflowInfo, ApiError> {
    match info {
        Some(info) if caller.may_read_all() || caller.may_publish_all(&info.queues) => Ok(info),
        _ => Err(unknown(id)),
    }
}

pub async fn show(
    State(control): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Json<WorkflowInfo>, ApiError> {
    let info = control.workflow(&id).await?;
    visible(&caller, info, &id).map(Json)
}

/// Cancel: 200 with the workflow as it is after the cancel.
pub async fn cancel(
    State(control): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Json<WorkflowInfo>, ApiError> {
    let info = visible(&caller, control.workflow(&id).await?, &id)?;
    if !caller.may_publish_all(&info.queues) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            format!(
                "this token may not cancel a workflow on queues {}",
                info.queues.join(", ")
            ),
        ));
    }
    let after = control.cancel_workflow(&id).await?;
    after.map(Json).ok_or_else(|| unknown(&id))
}

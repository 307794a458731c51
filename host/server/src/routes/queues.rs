//! `GET /v1/queues`, `GET /v1/queues/{queue}/history`, pause/resume, and the dead-letter queue.

use axum::Json;
use axum::extract::{Extension, Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};

use super::{AppState, Params};
use crate::audit::{self, AuditEntry};
use crate::auth::Caller;
use crate::contract::{DeadLetter, History, QueueStats};
use crate::error::ApiError;
use crate::params::LimitQuery;

/// Body of pause/resume answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Paused {
    pub queue: String,
    pub paused: bool,
}

/// Body of replay/purge answers: how many dead letters moved or went.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Count {
    pub queue: String,
    pub count: u64,
}

/// One stats row per known queue.
pub async fn list(State(control): State<AppState>) -> Result<Json<Vec<QueueStats>>, ApiError> {
    Ok(Json(control.stats().await?))
}

pub async fn history(
    State(control): State<AppState>,
    Path(queue): Path<String>,
) -> Result<Json<History>, ApiError> {
    Ok(Json(control.history(&queue).await?))
}

pub async fn pause(
    State(control): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(queue): Path<String>,
) -> Result<Json<Paused>, ApiError> {
    set_paused(&control, &caller, queue, true).await
}

pub async fn resume(
    State(control): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(queue): Path<String>,
) -> Result<Json<Paused>, ApiError> {
    set_paused(&control, &caller, queue, false).await
}

async fn set_paused(
    control: &AppState,
    caller: &Caller,
    queue: String,
    paused: bool,
) -> Result<Json<Paused>, ApiError> {
    control.set_paused(&queue, paused).await?;
    let action = if paused { "pause" } else { "resume" };
    audit::record(
        &*control.state(),
        AuditEntry::new(caller, action).queue(&queue),
    )
    .await;
    Ok(Json(Paused { queue, paused }))
}

/// Up to `?limit=` (default 100) dead letters, oldest first.
pub async fn dlq_list(
    State(control): State<AppState>,
    Path(queue): Path<String>,
    Params(query): Params<LimitQuery>,
) -> Result<Json<Vec<DeadLetter>>, ApiError> {
    Ok(Json(control.dlq_list(&queue, query.limit).await?))
}

/// Move every dead letter back onto the queue.
pub async fn dlq_replay(
    State(control): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(queue): Path<String>,
) -> Result<(StatusCode, Json<Count>), ApiError> {
    let count = control.dlq_replay(&queue).await?;
    let entry = AuditEntry::new(&caller, "dlq.replay")
        .queue(&queue)
        .detail(format!("{count} replayed"));
    audit::record(&*control.state(), entry).await;
    Ok((StatusCode::OK, Json(Count { queue, count })))
}

pub async fn dlq_purge(
    State(control): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(queue): Path<String>,
) -> Result<Json<Count>, ApiError> {
    let count = control.dlq_purge(&queue).await?;
    let entry = AuditEntry::new(&caller, "dlq.purge")
        .queue(&queue)
        .detail(format!("{count} purged"));
    audit::record(&*control.state(), entry).await;
    Ok(Json(Count { queue, count }))
}

//! `GET /v1/schedules`: every schedule (config and run time) with its next tick, its last
//! tick, that tick's task id and state. Run-time management: `POST /v1/schedules` (add, body:
//! the fields of a `[[schedules]]` entry as JSON), `DELETE /v1/schedules/{name}`,
//! `POST /v1/schedules/{name}/pause|resume|run` (`run`: publish its message now).
//! `GET /v1/hosts`: the live hosts, their queues and last heartbeat.

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use serde::{Deserialize, Serialize};

use super::{App, AppState};
use crate::body::{self, Cap};
use crate::contract::{HostInfo, ScheduleConfig, ScheduleInfo};
use crate::error::ApiError;

/// Largest schedule document `POST /v1/schedules` reads.
const MAX_SCHEDULE_BYTES: u64 = 1 << 20;

/// Body of a schedule change: the schedule's name and what was done.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScheduleChanged {
    pub name: String,
    /// `added`, `removed`, `paused`, `resumed`, `run`.
    pub done: String,
    /// The task id a `run` published.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_id: Option<String>,
}

fn changed(name: String, done: &str) -> Json<ScheduleChanged> {
    Json(ScheduleChanged {
        name,
        done: done.to_owned(),
        task_id: None,
    })
}

pub async fn list(State(control): State<AppState>) -> Result<Json<Vec<ScheduleInfo>>, ApiError> {
    Ok(Json(control.schedules().await?))
}

pub async fn hosts(State(control): State<AppState>) -> Result<Json<Vec<HostInfo>>, ApiError> {
    Ok(Json(control.hosts().await?))
}

/// 201 once stored; 400 naming the bad field, 404 for an unknown queue.
pub async fn add(
    State(app): State<App>,
    headers: HeaderMap,
    body: Body,
) -> Result<(StatusCode, Json<ScheduleChanged>), ApiError> {
    let cap = Cap {
        bytes: MAX_SCHEDULE_BYTES,
        what: "schedule",
        key: "the schedule size limit (1 MiB)",
    };
    let body = body::read(body, &headers, cap, app.body_timeout).await?;
    let entry: ScheduleConfig = serde_json::from_slice(&body).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_schedule",
            format!("a schedule is a JSON object with the keys of a [[schedules]] entry: {e}"),
        )
    })?;
    let name = entry.name.clone();
    app.control.add_schedule(entry).await?;
    Ok((StatusCode::CREATED, changed(name, "added")))
}

pub async fn remove(
    State(control): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<ScheduleChanged>, ApiError> {
    control.remove_schedule(&name).await?;
    Ok(changed(name, "removed"))
}

pub async fn pause(
    State(control): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<ScheduleChanged>, ApiError> {
    control.pause_schedule(&name, true).await?;
    Ok(changed(name, "paused"))
}

pub async fn resume(
    State(control): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<ScheduleChanged>, ApiError> {
    control.pause_schedule(&name, false).await?;
    Ok(changed(name, "resumed"))
}

pub async fn run_now(
    State(control): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<ScheduleChanged>, ApiError> {
    let task_id = control.run_schedule_now(&name).await?;
    Ok(Json(ScheduleChanged {
        name,
        done: "run".to_owned(),
        task_id: Some(task_id),
    }))
}

//! `GET /v1/schedules`: every configured schedule with its next tick, its last tick, that tick's
//! task id and state; `GET /v1/hosts`: the live hosts, their queues and last heartbeat.

use axum::Json;
use axum::extract::State;

use super::AppState;
use crate::contract::{HostInfo, ScheduleInfo};
use crate::error::ApiError;

pub async fn list(State(control): State<AppState>) -> Result<Json<Vec<ScheduleInfo>>, ApiError> {
    Ok(Json(control.schedules().await?))
}

pub async fn hosts(State(control): State<AppState>) -> Result<Json<Vec<HostInfo>>, ApiError> {
    Ok(Json(control.hosts().await?))
}

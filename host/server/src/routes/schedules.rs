//! `GET /v1/schedules`: every configured schedule with its next tick, its last tick, that tick's
//! task id and state.

use axum::Json;
use axum::extract::State;

use super::AppState;
use crate::contract::ScheduleInfo;
use crate::error::ApiError;

pub async fn list(State(control): State<AppState>) -> Result<Json<Vec<ScheduleInfo>>, ApiError> {
    Ok(Json(control.schedules().await?))
}

//! The routes of the control API, by area:
//!
//! - [`messages`]: publish one (optionally waiting for the result: RPC) or a JSON-lines batch.
//! - [`tasks`]: a task's record, and its result with an optional wait.
//! - [`modules`]: deploy (size cap enforced while reading), versions, rollback.
//! - [`queues`]: stats, history, pause/resume, dead-letter queues.
//! - [`metrics`]: `/metrics` (Prometheus text), `/healthz` (liveness) and `/readyz` (readiness).

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::extract::{FromRequestParts, Query};
use axum::http::request::Parts;
use axum::routing::{get, post, put};
use serde::de::DeserializeOwned;

use crate::control::Control;
use crate::error::ApiError;

pub mod messages;
pub mod metrics;
pub mod modules;
pub mod queues;
pub mod tasks;

/// Largest JSON-lines batch body a publish accepts (the host checks each message's own cap).
pub const MAX_BATCH_BYTES: usize = 64 << 20;

/// Shared by every handler.
pub type AppState = Arc<dyn Control>;

/// The whole API on one router.
pub fn router(control: AppState) -> Router {
    Router::new()
        .route("/healthz", get(metrics::healthz))
        .route("/readyz", get(metrics::readyz))
        .route("/metrics", get(metrics::metrics))
        .route("/v1/queues", get(queues::list))
        .route("/v1/queues/{queue}/messages", post(messages::publish))
        .route(
            "/v1/queues/{queue}/messages:batch",
            post(messages::publish_batch),
        )
        .route("/v1/queues/{queue}/module", put(modules::deploy))
        .route("/v1/queues/{queue}/versions", get(modules::versions))
        .route("/v1/queues/{queue}/rollback", post(modules::rollback))
        .route("/v1/queues/{queue}/pause", post(queues::pause))
        .route("/v1/queues/{queue}/resume", post(queues::resume))
        .route("/v1/queues/{queue}/history", get(queues::history))
        .route(
            "/v1/queues/{queue}/dlq",
            get(queues::dlq_list).delete(queues::dlq_purge),
        )
        .route("/v1/queues/{queue}/dlq/replay", post(queues::dlq_replay))
        .route("/v1/tasks/{id}", get(tasks::status))
        .route("/v1/tasks/{id}/result", get(tasks::result))
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(MAX_BATCH_BYTES))
        .with_state(control)
}

async fn not_found(uri: axum::http::Uri) -> ApiError {
    // An empty queue name (`/v1/queues//messages`) matches no route; say what is wrong with it.
    if uri.path().starts_with("/v1/queues//")
        && let Err(err) = wasmboost_broker::validate_queue_name("")
    {
        return ApiError::new(
            axum::http::StatusCode::BAD_REQUEST,
            err.code(),
            err.to_string(),
        );
    }
    ApiError::new(
        axum::http::StatusCode::NOT_FOUND,
        "not_found",
        format!("no route {uri}: see the API list in host/server/README.md"),
    )
}

/// `Query` whose rejection is a JSON [`ApiError`] naming the bad parameter.
#[derive(Debug)]
pub struct Params<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for Params<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match Query::<T>::from_request_parts(parts, state).await {
            Ok(Query(value)) => Ok(Params(value)),
            Err(rejection) => Err(ApiError::bad_request(rejection.body_text())),
        }
    }
}

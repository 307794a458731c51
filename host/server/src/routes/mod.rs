//! The routes of the control API, by area:
//!
//! - [`messages`]: publish one (optionally waiting for the result: RPC) or a JSON-lines batch.
//! - [`tasks`]: a task's record, its result with an optional wait, and cancel by id.
//! - [`modules`]: deploy (size cap enforced while reading), versions, rollback.
//! - [`queues`]: stats, history, pause/resume, dead-letter queues.
//! - [`workflows`]: submit a workflow, show it with every step, cancel it.
//! - [`schedules`]: the schedules, their next and last ticks; the live hosts.
//! - [`tokens`]: create, list and revoke API tokens; the audit log.
//! - [`metrics`]: `/metrics` (Prometheus text), `/healthz` (liveness) and `/readyz` (readiness).
//! - [`crate::ui`]: the dashboard's static assets at `/ui` (its data comes from the routes above).
//!
//! Layers, outermost first: JSON errors (every non-JSON rejection rewritten), the browser
//! [`guard`](crate::guard), then, on routes only, [`auth`](crate::auth).

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{FromRef, FromRequestParts, Query};
use axum::http::request::Parts;
use axum::middleware;
use axum::routing::{delete, get, post, put};
use serde::de::DeserializeOwned;

use crate::auth::Auth;
use crate::control::Control;
use crate::error::ApiError;
use crate::guard::Guard;

pub mod messages;
pub mod metrics;
pub mod modules;
pub mod queues;
pub mod schedules;
pub mod tasks;
pub mod tokens;
pub mod workflows;

/// Largest JSON-lines batch body a publish accepts (the host checks each message's own cap).
pub const MAX_BATCH_BYTES: u64 = 64 << 20;

/// The host behind the routes.
pub type AppState = Arc<dyn Control>;

/// Everything a handler may need, shared by every request.
#[derive(Clone)]
pub struct App {
    pub control: AppState,
    pub auth: Arc<Auth>,
    /// A request body must arrive within this long.
    pub body_timeout: Duration,
}

impl std::fmt::Debug for App {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("App")
            .field("auth", &self.auth)
            .field("body_timeout", &self.body_timeout)
            .finish_non_exhaustive()
    }
}

impl FromRef<App> for AppState {
    fn from_ref(app: &App) -> AppState {
        Arc::clone(&app.control)
    }
}

/// The whole API on one router.
pub fn router(app: App, guard: Guard) -> Router {
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
        .route("/v1/tasks/{id}", get(tasks::status).delete(tasks::cancel))
        .route("/v1/tasks/{id}/result", get(tasks::result))
        .route("/v1/schedules", get(schedules::list).post(schedules::add))
        .route("/v1/schedules/{name}", delete(schedules::remove))
        .route("/v1/schedules/{name}/pause", post(schedules::pause))
        .route("/v1/schedules/{name}/resume", post(schedules::resume))
        .route("/v1/schedules/{name}/run", post(schedules::run_now))
        .route("/v1/hosts", get(schedules::hosts))
        .route("/v1/workflows", post(workflows::submit))
        .route(
            "/v1/workflows/{id}",
            get(workflows::show).delete(workflows::cancel),
        )
        .route(
            crate::auth::TOKENS_ROUTE,
            get(tokens::list).post(tokens::create),
        )
        .route("/v1/tokens/{id}", delete(tokens::revoke))
        .route("/v1/audit", get(tokens::audit))
        .route("/v1/whoami", get(tokens::whoami))
        .route("/ui", get(crate::ui::index))
        .route("/ui/", get(crate::ui::index))
        .route("/ui/{asset}", get(crate::ui::asset))
        .route_layer(middleware::from_fn_with_state(
            app.clone(),
            crate::auth::layer,
        ))
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(guard, crate::guard::layer))
        .layer(middleware::from_fn(crate::error::json_errors))
        .with_state(app)
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
        format!(
            "no route {:?}: see the API list in host/server/README.md",
            uri.path()
        ),
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

//! HTTP control API of a wasmboost host: JSON over HTTP/1.1 (optionally TLS) for the CLI and for
//! producers in any language, plus Prometheus metrics. The API, its auth and its limits are
//! documented in `host/server/README.md`.
//!
//! - [`contract`]: the types the API speaks (task records, queue stats, versions, options).
//! - [`control`]: the [`Control`] trait the routes call; `wasmboost_worker::Host` implements it.
//! - [`routes`]: the axum router, one module per area.
//! - [`auth`]: API tokens, scopes, and the check every route runs.
//! - [`guard`]: browser defence (`Host`, `Origin`, `Content-Type`), in every mode.
//! - [`body`]: request bodies read under a size cap and a deadline.
//! - [`audit`]: the audit log of state-changing actions.
//! - [`tls`]: the rustls config from PEM files.
//! - [`ui`]: the dashboard at `/ui`, assets embedded in the binary.
//! - [`metrics`]: the Prometheus exposition of `/metrics`.
//! - [`trace`]: the OpenTelemetry span of a publish and the `traceparent` it passes on.
//! - [`params`]: query parameters and the duration syntax shared with the CLI.
//! - [`error`]: [`ServerError`] and the JSON [`ApiError`].
//! - internal: `transport` (the accept loop: TLS, header timeout, graceful shutdown).

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;

pub mod audit;
pub mod auth;
pub mod body;
pub mod contract;
pub mod control;
pub mod error;
pub mod guard;
pub mod metrics;
pub mod params;
pub mod routes;
pub mod tls;
pub mod trace;
pub mod ui;

mod host_impl;
mod transport;

pub use control::Control;
pub use error::{ApiError, ErrorBody, ServerError};
pub use routes::messages::{Published, PublishedBatch};
pub use routes::queues::{Count, Paused};
pub use routes::schedules::ScheduleChanged;
pub use routes::tokens::{CreateToken, CreatedToken, Revoked};
pub use wasmboost_worker::config::{DEFAULT_BODY_TIMEOUT, DEFAULT_HEADER_TIMEOUT};

/// How to serve: timeouts, TLS, and whether the unauthenticated mode may leave loopback.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// A connection whose request head (or TLS handshake) is not complete after this long is
    /// closed.
    pub header_timeout: Duration,
    /// A request body not complete after this long is answered 408.
    pub body_timeout: Duration,
    /// Serve HTTPS with this config (see [`tls::load`]).
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// Allow the unauthenticated mode (no token exists) on a non-loopback listener, and accept
    /// any `Host` there (`serve --insecure`).
    pub insecure: bool,
}

impl Default for ServeOptions {
    fn default() -> Self {
        ServeOptions {
            header_timeout: DEFAULT_HEADER_TIMEOUT,
            body_timeout: DEFAULT_BODY_TIMEOUT,
            tls: None,
            insecure: false,
        }
    }
}

/// Serve the control API for `host` on `listener` until `shutdown` resolves, then stop accepting
/// and let open requests finish.
pub async fn serve<C: Control>(
    host: C,
    listener: TcpListener,
    options: ServeOptions,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServerError> {
    let addr = listener.local_addr().map_err(ServerError::Address)?;
    let loopback = addr.ip().is_loopback();
    let control: routes::AppState = Arc::new(host);
    let auth = auth::Auth::new(control.state(), loopback || options.insecure);
    let app = routes::App {
        control,
        auth: Arc::new(auth),
        body_timeout: options.body_timeout,
    };
    let guard = guard::Guard {
        loopback_host_only: loopback,
    };
    let router = routes::router(app, guard);
    let scheme = if options.tls.is_some() {
        "https"
    } else {
        "http"
    };
    tracing::info!(%addr, scheme, "control API listening");
    let transport = transport::Transport {
        header_timeout: options.header_timeout,
        tls: options.tls,
    };
    transport::run(listener, router, transport, shutdown).await;
    Ok(())
}

#[cfg(test)]
mod tests;

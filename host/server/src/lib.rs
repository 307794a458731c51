//! HTTP control API of a wasmboost host: JSON over HTTP/1.1 for the CLI and for producers in any
//! language, plus Prometheus metrics. The API is documented in `host/server/README.md`.
//!
//! - [`contract`]: the types the API speaks (task records, queue stats, versions, options).
//! - [`control`]: the [`Control`] trait the routes call; `wasmboost_worker::Host` implements it.
//! - [`routes`]: the axum router, one module per area.
//! - [`params`]: query parameters and the duration syntax shared with the CLI.
//! - [`error`]: [`ServerError`] and the JSON [`ApiError`].

use std::future::Future;
use std::sync::Arc;

use axum::serve::ListenerExt;
use tokio::net::TcpListener;

pub mod contract;
pub mod control;
pub mod error;
pub mod params;
pub mod routes;

mod host_impl;

pub use control::Control;
pub use error::{ApiError, ErrorBody, ServerError};
pub use routes::messages::{Published, PublishedBatch};
pub use routes::queues::{Count, Paused};

/// Serve the control API for `host` on `listener` until `shutdown` resolves, then stop accepting
/// and let open requests finish.
pub async fn serve<C: Control>(
    host: C,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServerError> {
    let addr = listener.local_addr().map_err(ServerError::Address)?;
    // RPC round trips are a few hundred bytes each way: Nagle would add up to 40 ms to each.
    let listener = listener.tap_io(|tcp| {
        if let Err(err) = tcp.set_nodelay(true) {
            tracing::debug!("cannot set TCP_NODELAY: {err}");
        }
    });
    tracing::info!(%addr, "control API listening");
    axum::serve(listener, routes::router(Arc::new(host)))
        .with_graceful_shutdown(shutdown)
        .await
        .map_err(|source| ServerError::Serve {
            addr: addr.to_string(),
            source,
        })
}

#[cfg(test)]
mod tests;

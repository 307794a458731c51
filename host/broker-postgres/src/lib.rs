//! PostgreSQL broker: one `wasmboost.jobs` table shared by every queue, fetched in batches with
//! `FOR UPDATE SKIP LOCKED`; `lease_until` is the lease (renewed while a task runs, and a job
//! whose lease ended is fetched again), `run_at` the delay, a `wasmboost.dead` table the
//! dead-letter queue; `LISTEN/NOTIFY` wakes idle fetchers. The schema is versioned and migrated
//! at start. Results, pause flags, dedup marks, modules and counters live in the host's embedded
//! store, or in Redis when `state_redis_url` is set (several hosts sharing the queues).
//!
//! - [`config`]: [`PostgresConfig`], the `[broker] type = "postgres"` settings.
//! - [`schema`]: the versioned migrations and the SQL producer function `wasmboost.publish`.
//! - [`broker`]: [`PostgresBroker`], the `Broker` implementation.
//! - `lease`: renewing and settling one fetched job, fenced by its lease token.
//! - `conn`: the shared connection (reconnects with backoff) and the LISTEN connection.
//! - [`error`]: setup errors ([`ConnectError`]) and how driver errors map onto the seam.

pub mod broker;
pub mod config;
mod conn;
pub mod error;
mod lease;
pub mod schema;

use std::sync::Arc;

pub use broker::PostgresBroker;
pub use config::PostgresConfig;
pub use error::ConnectError;
use wasmboost_broker::Opened;

/// The config `type` string that selects this broker.
pub const TYPE: &str = "postgres";

/// The `[broker] type = "postgres"` settings.
pub type Config = PostgresConfig;

/// The broker of `config` (its schema migrated), and the shared state store when
/// `state_redis_url` is set (`None`: the host keeps state in its embedded store).
pub async fn open(config: PostgresConfig) -> Result<Opened, ConnectError> {
    let store = wasmboost_broker_redis::shared_state(config.state_redis_url.as_deref())
        .await
        .map_err(wasmboost_broker::StateError::from)?;
    let broker = PostgresBroker::connect(config).await?;
    Ok((Arc::new(broker), store))
}

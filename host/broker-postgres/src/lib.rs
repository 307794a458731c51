//! PostgreSQL broker: one `wasmboost.jobs` table shared by every queue, fetched in batches with
//! `FOR UPDATE SKIP LOCKED`; `lease_until` is the lease (renewed while a task runs, and a job
//! whose lease ended is fetched again), `run_at` the delay, a `wasmboost.dead` table the
//! dead-letter queue; `LISTEN/NOTIFY` wakes idle fetchers. The schema is versioned and migrated
//! at start. Results, pause flags, dedup marks, modules, counters and the global rate live in
//! the same database ([`PostgresStore`]), shared by every host, unless `state_redis_url` puts
//! them in Redis: a Postgres-only deployment needs no other server.
//!
//! - [`config`]: [`PostgresConfig`], the `[broker] type = "postgres"` settings.
//! - [`schema`]: the versioned migrations and the SQL producer function `wasmboost.publish`.
//! - [`broker`]: [`PostgresBroker`], the `Broker` implementation.
//! - [`state`]: [`PostgresStore`], the `StateStore` implementation.
//! - `kv`: task key-value namespaces (one call of `wasmboost.kv` each).
//! - `lease`: renewing and settling one fetched job, fenced by its lease token.
//! - `pool`: the connections statements run on (round-robin, each reconnecting with backoff,
//!   every call bounded, statements prepared once per connection).
//! - `conn`: opening one connection, and the LISTEN connection.
//! - [`error`]: setup errors ([`ConnectError`]) and how driver errors map onto the seam.

pub mod broker;
pub mod config;
mod conn;
pub mod error;
mod kv;
mod lease;
mod pool;
pub mod schema;
pub mod state;

use std::sync::Arc;

pub use broker::PostgresBroker;
pub use config::PostgresConfig;
pub use error::ConnectError;
pub use state::PostgresStore;
use wasmboost_broker::{Opened, StateStore};

/// The config `type` string that selects this broker.
pub const TYPE: &str = "postgres";

/// The `[broker] type = "postgres"` settings.
pub type Config = PostgresConfig;

/// The broker of `config` (its schema migrated) and its state store: the same database, or
/// Redis when `state_redis_url` is set.
pub async fn open(config: PostgresConfig) -> Result<Opened, ConnectError> {
    let redis = wasmboost_broker_redis::shared_state(config.state_redis_url.as_deref())
        .await
        .map_err(wasmboost_broker::StateError::from)?;
    let store: Arc<dyn StateStore> = match redis {
        Some(store) => store,
        None => Arc::new(PostgresStore::connect(&config).await?),
    };
    let broker = PostgresBroker::connect(config).await?;
    Ok((Arc::new(broker), Some(store)))
}

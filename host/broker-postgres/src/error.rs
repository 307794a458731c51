//! Errors of setting the broker up, and the mapping of driver errors onto the seam's
//! [`BrokerError`]: a lost or refused connection is `Unavailable` (the worker backs off and
//! retries), anything the server refused is `Backend`.

use std::time::Duration;

use wasmboost_broker::BrokerError;

/// Errors of [`crate::open`].
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("invalid postgres config: {0}")]
    Config(String),
    #[error("cannot connect to postgres: {0}")]
    Connect(#[source] tokio_postgres::Error),
    #[error("cannot migrate the wasmboost schema: {0}")]
    Migrate(#[source] tokio_postgres::Error),
    /// Another (newer) binary migrated the database further than this one knows: running on it
    /// could misread its tables.
    #[error(
        "the database's wasmboost schema is at version {found}, newer than the {known} this \
         binary knows; upgrade this host"
    )]
    SchemaTooNew { found: i32, known: i32 },
    #[error("cannot open the state store: {0}")]
    State(#[from] wasmboost_broker::StateError),
}

impl From<ConnectError> for BrokerError {
    fn from(e: ConnectError) -> Self {
        match e {
            ConnectError::Connect(_) => BrokerError::Unavailable(e.to_string()),
            _ => BrokerError::Backend(e.to_string()),
        }
    }
}

/// Whether `e` means the connection is gone or the server cannot serve now (retry later),
/// rather than a statement the server refused.
pub(crate) fn is_connection(e: &tokio_postgres::Error) -> bool {
    if e.is_closed() {
        return true;
    }
    if let Some(code) = e.code() {
        // Class 08: connection exception; 57P01..57P03: shutting down, cannot connect now.
        let code = code.code();
        return code.starts_with("08") || matches!(code, "57P01" | "57P02" | "57P03");
    }
    // No server error: the socket failed (io) or the connection was never made.
    e.as_db_error().is_none()
        && std::error::Error::source(e).is_some_and(|s| s.is::<std::io::Error>())
}

/// A call on a pooled connection that failed: the driver's error, or no answer in time.
#[derive(Debug, thiserror::Error)]
pub(crate) enum DbError {
    #[error("{0}")]
    Pg(#[from] tokio_postgres::Error),
    /// The connection is retired: the server may be gone without closing it.
    #[error("no answer within {0:?}")]
    TimedOut(Duration),
}

impl DbError {
    /// Whether to retry later (the connection or server is the trouble, not the statement).
    pub(crate) fn is_connection(&self) -> bool {
        match self {
            DbError::Pg(e) => is_connection(e),
            DbError::TimedOut(_) => true,
        }
    }
}

/// A driver error as the seam sees it; `what` names the operation.
pub(crate) fn op(what: &str, e: DbError) -> BrokerError {
    let text = format!("postgres {what}: {e}");
    if e.is_connection() {
        BrokerError::Unavailable(text)
    } else {
        BrokerError::Backend(text)
    }
}

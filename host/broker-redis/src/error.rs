//! Mapping Redis errors onto the seam's error types: anything that means "the server cannot be
//! reached right now" becomes `Unavailable` (the worker retries with backoff), the rest
//! `Backend`.

use redis::{ErrorKind, RedisError, ServerErrorKind};
use wasmboost_broker::{BrokerError, StateError};

/// Errors of setting up the broker or store, before any queue operation.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("invalid redis config: {0}")]
    Config(String),
    #[error("invalid redis url {url:?}: {source}")]
    Url { url: String, source: RedisError },
    #[error("cannot connect to redis at {url}: {source}")]
    Connect { url: String, source: RedisError },
    /// The data under the prefix is in a key layout this version cannot read.
    #[error("{0}")]
    Layout(String),
    /// Migrating layout-1 keys failed; the next start resumes where it stopped.
    #[error("migrating the redis key layout failed (the next start resumes it): {source}")]
    Migrate { source: RedisError },
}

impl From<ConnectError> for BrokerError {
    fn from(e: ConnectError) -> Self {
        match e {
            ConnectError::Connect { .. } | ConnectError::Migrate { .. } => {
                BrokerError::Unavailable(e.to_string())
            }
            _ => BrokerError::Backend(e.to_string()),
        }
    }
}

impl From<ConnectError> for StateError {
    fn from(e: ConnectError) -> Self {
        match e {
            ConnectError::Connect { .. } | ConnectError::Migrate { .. } => {
                StateError::Unavailable(e.to_string())
            }
            _ => StateError::Backend(e.to_string()),
        }
    }
}

/// True when retrying later may succeed: the connection is down, timed out, or the server is
/// still loading its data after a restart.
pub(crate) fn is_transient(e: &RedisError) -> bool {
    e.is_io_error()
        || e.is_timeout()
        || e.is_connection_dropped()
        || e.is_connection_refusal()
        || e.is_unrecoverable_error()
        || matches!(
            e.kind(),
            ErrorKind::Server(
                ServerErrorKind::BusyLoading
                    | ServerErrorKind::TryAgain
                    | ServerErrorKind::MasterDown
            )
        )
}

pub(crate) fn broker_err(e: RedisError) -> BrokerError {
    if is_transient(&e) {
        BrokerError::Unavailable(format!("redis: {e}"))
    } else {
        BrokerError::Backend(format!("redis: {e}"))
    }
}

pub(crate) fn state_err(e: RedisError) -> StateError {
    if is_transient(&e) {
        StateError::Unavailable(format!("redis: {e}"))
    } else {
        StateError::Backend(format!("redis: {e}"))
    }
}

/// A reply that does not have the shape a script or command promises.
pub(crate) fn corrupt(what: impl Into<String>, detail: impl Into<String>) -> BrokerError {
    BrokerError::Corrupt {
        what: what.into(),
        detail: detail.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unreachable_server_is_unavailable_and_a_bad_config_is_not() {
        let refused = RedisError::from(std::io::Error::from(std::io::ErrorKind::ConnectionRefused));
        let connect = ConnectError::Connect {
            url: "redis://127.0.0.1:1".to_owned(),
            source: refused,
        };
        assert!(BrokerError::from(connect).is_transient());
        let config = ConnectError::Config("redis group \"\" must be non-empty".to_owned());
        assert!(matches!(StateError::from(config), StateError::Backend(m) if m.contains("group")));
        let io = RedisError::from(std::io::Error::from(std::io::ErrorKind::BrokenPipe));
        assert!(broker_err(io).is_transient());
    }
}

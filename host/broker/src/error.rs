//! Errors of brokers and state stores. Messages are lowercase and name the offending value.

use thiserror::Error;
/// The queue-name rule is policy's (`wasmboost_policy::names`): one rule for every broker,
/// the config and the HTTP API. Re-exported so broker crates need not name policy.
pub use wasmboost_policy::names::{NameError, validate_queue_name};

#[derive(Debug, Error)]
pub enum BrokerError {
    /// The backend could not be reached or the connection dropped; callers retry with backoff.
    #[error("broker unavailable: {0}")]
    Unavailable(String),
    /// The backend refused or failed an operation.
    #[error("broker error: {0}")]
    Backend(String),
    /// Stored data could not be read back.
    #[error("corrupt broker data for {what}: {detail}")]
    Corrupt { what: String, detail: String },
    /// A queue name that breaks the queue-name rule (`wasmboost_policy::names`).
    #[error(transparent)]
    InvalidQueue(#[from] NameError),
    /// The broker was closed.
    #[error("broker is closed")]
    Closed,
}

impl BrokerError {
    /// Transient errors are worth retrying after a backoff.
    pub fn is_transient(&self) -> bool {
        matches!(self, BrokerError::Unavailable(_))
    }
}

#[derive(Debug, Error)]
pub enum StateError {
    #[error("state store unavailable: {0}")]
    Unavailable(String),
    #[error("state store error: {0}")]
    Backend(String),
    #[error("this state store does not support {0}")]
    Unsupported(&'static str),
    /// A queue name that breaks the queue-name rule (`wasmboost_policy::names`).
    #[error(transparent)]
    InvalidQueue(#[from] NameError),
    #[error("state store is closed")]
    Closed,
}

impl StateError {
    pub fn is_transient(&self) -> bool {
        matches!(self, StateError::Unavailable(_))
    }
}

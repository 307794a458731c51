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
    /// The delivery's lease ended and the message was (or may have been) handed out again, so
    /// this renew or settle changed nothing: the new holder owns the message now and settles it.
    /// See "Late settles" on [`crate::Lease`]. Not transient: trying again cannot succeed.
    #[error(
        "lease of message {id:?} on queue {queue:?} was lost: it ended before being renewed or \
         settled and the message was delivered again; this settle changed nothing"
    )]
    LeaseLost { queue: String, id: String },
}

impl BrokerError {
    /// Transient errors are worth retrying after a backoff.
    pub fn is_transient(&self) -> bool {
        matches!(self, BrokerError::Unavailable(_))
    }

    /// The settle or renew came too late: another delivery of the message owns it now (the
    /// caller must not count or record this delivery's outcome as final).
    pub fn is_lease_lost(&self) -> bool {
        matches!(self, BrokerError::LeaseLost { .. })
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

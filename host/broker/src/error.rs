//! Errors of brokers and state stores. Messages are lowercase and name the offending value.

use thiserror::Error;

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
    /// A queue name the backend cannot represent.
    #[error("invalid queue name {0:?}: use letters, digits, '-', '_' and '.'")]
    InvalidQueue(String),
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
    #[error("state store is closed")]
    Closed,
}

impl StateError {
    pub fn is_transient(&self) -> bool {
        matches!(self, StateError::Unavailable(_))
    }
}

/// Queue names: 1..=128 chars of `[A-Za-z0-9_.-]`, so every backend can use them in keys.
pub fn validate_queue_name(name: &str) -> Result<(), BrokerError> {
    let ok = !name.is_empty()
        && name.len() <= 128
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'));
    if ok {
        Ok(())
    } else {
        Err(BrokerError::InvalidQueue(name.to_owned()))
    }
}

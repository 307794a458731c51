//! Errors of setting the broker up, and the mapping of connection errors onto the seam's
//! [`BrokerError`]: a lost or refused connection is `Unavailable` (the worker backs off and
//! retries), a reply we did not expect is `Backend`.

use wasmboost_broker::BrokerError;

use crate::proto::ProtoError;

/// Errors of [`crate::open`].
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("invalid beanstalkd config: {0}")]
    Config(String),
    #[error("cannot connect to beanstalkd at {addr}: {source}")]
    Connect {
        addr: String,
        source: std::io::Error,
    },
    #[error("cannot open the state store: {0}")]
    State(#[from] wasmboost_broker::StateError),
}

impl From<ConnectError> for BrokerError {
    fn from(e: ConnectError) -> Self {
        match e {
            ConnectError::Connect { .. } => BrokerError::Unavailable(e.to_string()),
            _ => BrokerError::Backend(e.to_string()),
        }
    }
}

impl From<ProtoError> for BrokerError {
    fn from(e: ProtoError) -> Self {
        match e {
            ProtoError::Io(_) => BrokerError::Unavailable(e.to_string()),
            ProtoError::Malformed(_) => BrokerError::Backend(e.to_string()),
        }
    }
}

/// A reply that does not fit the command it answers.
pub(crate) fn unexpected(what: &str, reply: &crate::proto::Reply) -> BrokerError {
    BrokerError::Backend(format!("beanstalkd answered {what} with {reply:?}"))
}

//! Errors of setting the broker up, and how client errors map onto the seam: with the
//! connection down (the client reconnects by itself) or an answer timed out, an operation is
//! `Unavailable` (the worker backs off and retries); an error the server answered is `Backend`.

use std::fmt::{Debug, Display};

use async_nats::connection::State;
use wasmboost_broker::{BrokerError, StateError};

/// Errors of [`crate::open`].
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("invalid nats config: {0}")]
    Config(String),
    #[error("cannot connect to nats: {0}")]
    Connect(String),
    #[error("cannot set up jetstream {what}: {detail}")]
    Setup { what: String, detail: String },
}

impl From<ConnectError> for BrokerError {
    fn from(e: ConnectError) -> Self {
        match e {
            ConnectError::Connect(_) => BrokerError::Unavailable(e.to_string()),
            _ => BrokerError::Backend(e.to_string()),
        }
    }
}

impl From<ConnectError> for StateError {
    fn from(e: ConnectError) -> Self {
        match e {
            ConnectError::Connect(_) => StateError::Unavailable(e.to_string()),
            _ => StateError::Backend(e.to_string()),
        }
    }
}

/// Whether a failed call is worth retrying later: the connection is down, or the server did
/// not answer in time (a restarting server), rather than an error it answered with.
fn transient<E: Debug>(client: &async_nats::Client, e: &E) -> bool {
    if client.connection_state() != State::Connected {
        return true;
    }
    // The client's error kinds differ per call; each names these cases the same way.
    let kind = format!("{e:?}");
    [
        "TimedOut",
        "NoResponders",
        "Disconnected",
        "ConnectionClosed",
    ]
    .iter()
    .any(|k| kind.contains(k))
}

/// A client error as the broker seam sees it; `what` names the operation.
pub(crate) fn op<E: Debug + Display>(client: &async_nats::Client, what: &str, e: E) -> BrokerError {
    let text = format!("nats {what}: {e}");
    if transient(client, &e) {
        BrokerError::Unavailable(text)
    } else {
        BrokerError::Backend(text)
    }
}

/// A client error as the state seam sees it.
pub(crate) fn state<E: Debug + Display>(
    client: &async_nats::Client,
    what: &str,
    e: E,
) -> StateError {
    let text = format!("nats {what}: {e}");
    if transient(client, &e) {
        StateError::Unavailable(text)
    } else {
        StateError::Backend(text)
    }
}

//! [`HostError`]: what the host's operations fail with, and how each maps to an HTTP status.

use thiserror::Error;
use wasmboost_broker::{BrokerError, StateError};
use wasmboost_policy::NameError;

use crate::budget::OverCeiling;
use crate::config::ConfigError;

#[derive(Debug, Error)]
pub enum HostError {
    /// Neither declared in config nor deployed.
    #[error("unknown queue {queue:?} (known queues: {})", known_list(.known))]
    UnknownQueue { queue: String, known: Vec<String> },
    /// The queue exists but has no module to run.
    #[error("no module deployed to queue {queue:?}")]
    NoModule { queue: String },
    /// A message that cannot be published as it is.
    #[error("bad message: {reason}")]
    BadMessage { reason: String },
    /// A message asking for more than its queue's budget allows (`extra.timeout_ms`, ...).
    #[error("bad message: {0}")]
    OverBudget(#[from] OverCeiling),
    /// A queue name or task id that breaks its rule (`wasmboost_policy::names`).
    #[error(transparent)]
    BadName(#[from] NameError),
    /// A message over the size cap.
    #[error("message of {size} bytes exceeds the limit of {max} bytes")]
    TooLarge { size: u64, max: u64 },
    /// An upload (deploy) that was refused; the previous version keeps serving.
    #[error("module rejected: {reason}")]
    Rejected { reason: String },
    /// A named thing (version, ...) that does not exist.
    #[error("{what} not found")]
    NotFound { what: String },
    #[error("invalid config: {0}")]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Broker(#[from] BrokerError),
    #[error(transparent)]
    State(#[from] StateError),
    /// The host is shutting down and takes no new work.
    #[error("the host is shutting down")]
    ShuttingDown,
    #[error("internal error: {0}")]
    Internal(String),
}

fn known_list(known: &[String]) -> String {
    if known.is_empty() {
        "none; declare it in the config or deploy a module to it".to_owned()
    } else {
        known.join(", ")
    }
}

impl HostError {
    /// The HTTP status this error maps to.
    pub fn status_code(&self) -> u16 {
        match self {
            HostError::UnknownQueue { .. }
            | HostError::NoModule { .. }
            | HostError::NotFound { .. } => 404,
            HostError::BadMessage { .. }
            | HostError::OverBudget(_)
            | HostError::Config(_)
            | HostError::BadName(_) => 400,
            HostError::Broker(BrokerError::InvalidQueue(_))
            | HostError::State(StateError::InvalidQueue(_)) => 400,
            HostError::TooLarge { .. } => 413,
            HostError::Rejected { .. } => 422,
            HostError::Broker(e) if e.is_transient() => 503,
            HostError::State(e) if e.is_transient() => 503,
            HostError::ShuttingDown => 503,
            HostError::Broker(_) | HostError::State(_) | HostError::Internal(_) => 500,
        }
    }

    /// A stable machine-readable code for JSON error bodies.
    pub fn code(&self) -> &'static str {
        match self {
            HostError::UnknownQueue { .. } => "unknown_queue",
            HostError::NoModule { .. } => "no_module",
            HostError::BadMessage { .. } => "bad_message",
            HostError::OverBudget(_) => "over_budget",
            HostError::BadName(e)
            | HostError::Broker(BrokerError::InvalidQueue(e))
            | HostError::State(StateError::InvalidQueue(e)) => e.code(),
            HostError::TooLarge { .. } => "too_large",
            HostError::Rejected { .. } => "rejected",
            HostError::NotFound { .. } => "not_found",
            HostError::Config(_) => "bad_config",
            HostError::Broker(_) => "broker_error",
            HostError::State(_) => "state_error",
            HostError::ShuttingDown => "shutting_down",
            HostError::Internal(_) => "internal",
        }
    }
}

impl From<wasmboost_registry::RegistryError> for HostError {
    fn from(err: wasmboost_registry::RegistryError) -> Self {
        use wasmboost_registry::RegistryError as R;
        match err {
            R::TooLarge { size, max } => HostError::TooLarge { size, max },
            R::InvalidQueue(e) => HostError::BadName(e),
            R::Rejected { .. }
            | R::CompileTimeout { .. }
            | R::CompileMemory { .. }
            | R::CompilerBusy { .. } => HostError::Rejected {
                reason: err.to_string(),
            },
            R::NoModule { queue } => HostError::NoModule { queue },
            R::NoSuchVersion { .. } | R::NoPreviousVersion { .. } => HostError::NotFound {
                what: err.to_string(),
            },
            R::State(e) => HostError::State(e),
            other => HostError::Internal(other.to_string()),
        }
    }
}

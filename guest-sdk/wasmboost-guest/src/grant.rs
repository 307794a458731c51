//! [`GrantError`]: why a call to a granted import (kv, publish, config) did not do what was
//! asked. It converts into a [`crate::TaskError`] with `?` (`unavailable` asks for a retry,
//! the rest fail the task).

use std::fmt;

use crate::glue::bindings::wasmboost::task::types::GrantError as Wit;

/// What kind of refusal a [`GrantError`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GrantErrorKind {
    /// The queue's grants do not allow the call (nothing is granted by default).
    Denied,
    /// The call would pass a quota of the grant.
    Quota,
    /// An argument was refused.
    Invalid,
    /// The host could not complete the call now; a retry may succeed.
    Unavailable,
}

/// A refused or failed call to a granted import.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrantError {
    kind: GrantErrorKind,
    message: String,
}

impl GrantError {
    /// What kind of refusal this is.
    pub fn kind(&self) -> GrantErrorKind {
        self.kind
    }

    /// The host's explanation.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// Whether the queue's grants refused the call.
    pub fn is_denied(&self) -> bool {
        self.kind == GrantErrorKind::Denied
    }
}

impl From<Wit> for GrantError {
    fn from(err: Wit) -> Self {
        let (kind, message) = match err {
            Wit::Denied(m) => (GrantErrorKind::Denied, m),
            Wit::Quota(m) => (GrantErrorKind::Quota, m),
            Wit::Invalid(m) => (GrantErrorKind::Invalid, m),
            Wit::Unavailable(m) => (GrantErrorKind::Unavailable, m),
        };
        GrantError { kind, message }
    }
}

impl fmt::Display for GrantError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self.kind {
            GrantErrorKind::Denied => "denied",
            GrantErrorKind::Quota => "over quota",
            GrantErrorKind::Invalid => "invalid",
            GrantErrorKind::Unavailable => "unavailable",
        };
        write!(f, "{kind}: {}", self.message)
    }
}

impl std::error::Error for GrantError {}

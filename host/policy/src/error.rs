//! Errors of policy configuration. Messages are lowercase and name the offending value, so the
//! config loader can prefix them with the key they came from.

use thiserror::Error;

#[derive(Debug, Clone, PartialEq, Error)]
pub enum PolicyError {
    /// A duration string that does not parse.
    #[error("invalid duration {value:?}: {why}")]
    Duration { value: String, why: String },
    /// A size string that does not parse.
    #[error("invalid size {value:?}: {why}")]
    Size { value: String, why: String },
    /// A rate that is not a positive finite number in the supported range.
    #[error("invalid rate {value} per second: must be between {min} and {max}")]
    Rate { value: f64, min: f64, max: f64 },
    /// A retry setting out of range.
    #[error("invalid retry setting {field} = {value}: {why}")]
    Retry {
        field: &'static str,
        value: String,
        why: String,
    },
    /// A failure kind name that is not known.
    #[error(
        "unknown failure kind {0:?}: expected one of timeout, out-of-fuel, memory-limit, \
         stack-overflow, panic, trap, fail"
    )]
    FailureKind(String),
    /// A run window that does not parse; `token` is the part that is wrong.
    #[error("invalid window {input:?}: {token:?} {why}")]
    Window {
        input: String,
        token: String,
        why: String,
    },
}

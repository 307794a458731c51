//! Follow-up tasks: publish a message to a queue the grants name (`grants.publish_to`).
//!
//! ```ignore
//! let id = wasmboost_guest::publish("index", &serde_json::json!({ "url": url }))?;
//! ```

use std::time::Duration;

use serde::Serialize;

use crate::glue::bindings::wasmboost::task::publish as wit;
use crate::grant::GrantError;

/// How a follow-up message is delivered.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PublishOptions {
    /// Run no earlier than this long from now.
    pub countdown: Option<Duration>,
    /// 0 (lowest) to 9 (highest).
    pub priority: Option<u8>,
    /// The new task's id (default: a fresh UUIDv7 from the host).
    pub task_id: Option<String>,
}

/// Publish `args` (serialised to a JSON object) to `queue`; the new task's id.
pub fn publish<T: Serialize + ?Sized>(queue: &str, args: &T) -> Result<String, GrantError> {
    publish_with(queue, args, &PublishOptions::default())
}

/// [`publish`] with delivery options.
pub fn publish_with<T: Serialize + ?Sized>(
    queue: &str,
    args: &T,
    options: &PublishOptions,
) -> Result<String, GrantError> {
    let payload = serde_json::to_string(args).map_err(|err| {
        GrantError::from(
            crate::glue::bindings::wasmboost::task::types::GrantError::Invalid(format!(
                "the message cannot be written as JSON: {err}"
            )),
        )
    })?;
    let options = wit::PublishOptions {
        countdown_ms: options
            .countdown
            .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
        priority: options.priority,
        task_id: options.task_id.clone(),
    };
    wit::publish(queue, &payload, &options).map_err(GrantError::from)
}

//! Named configuration values and secrets the queue was granted (`grants.config`,
//! `grants.secrets` in the host's `wasmboost.toml`).
//!
//! ```ignore
//! let agent = wasmboost_guest::config::get("USER_AGENT")?;
//! let key = wasmboost_guest::config::secret("API_KEY")?;
//! ```

use crate::glue::bindings::wasmboost::task::config as wit;
use crate::grant::GrantError;

/// The configuration value `name`; [`GrantError`] `denied` when it is not granted.
pub fn get(name: &str) -> Result<String, GrantError> {
    wit::get(name).map_err(GrantError::from)
}

/// The secret `name`; [`GrantError`] `denied` when it is not granted. Keep it out of the
/// task's result and error text: the host never records secrets, but it records what the task
/// returns.
pub fn secret(name: &str) -> Result<String, GrantError> {
    wit::secret(name).map_err(GrantError::from)
}

//! The queue's key-value namespace in the host's state store (`grants.kv = true`): shared by
//! every task of the queue on every host using the same store, never by another queue.
//!
//! ```ignore
//! use wasmboost_guest::kv;
//! let pages = kv::increment("pages", 1)?;
//! let first = kv::compare_and_swap("seen:/about", None, b"1")?;
//! ```

use std::time::Duration;

use crate::glue::bindings::wasmboost::task::kv as wit;
use crate::grant::GrantError;

/// The value under `key`, if any.
pub fn get(key: &str) -> Result<Option<Vec<u8>>, GrantError> {
    wit::get(key).map_err(GrantError::from)
}

/// Store `value` under `key`.
pub fn set(key: &str, value: &[u8]) -> Result<(), GrantError> {
    wit::set(key, value, None).map_err(GrantError::from)
}

/// Store `value` under `key` for `ttl`.
pub fn set_with_ttl(key: &str, value: &[u8], ttl: Duration) -> Result<(), GrantError> {
    let ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX);
    wit::set(key, value, Some(ms)).map_err(GrantError::from)
}

/// Remove `key`; whether it existed.
pub fn delete(key: &str) -> Result<bool, GrantError> {
    wit::delete(key).map_err(GrantError::from)
}

/// Add `delta` to the integer under `key` (absent counts as 0), atomically; the new value.
pub fn increment(key: &str, delta: i64) -> Result<i64, GrantError> {
    wit::increment(key, delta).map_err(GrantError::from)
}

/// Store `value` only if the current value is `expected` (`None`: only if absent); whether it
/// was stored.
pub fn compare_and_swap(
    key: &str,
    expected: Option<&[u8]>,
    value: &[u8],
) -> Result<bool, GrantError> {
    wit::compare_and_swap(key, expected, value).map_err(GrantError::from)
}

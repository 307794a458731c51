//! The one rule for queue names and the one rule for task ids (and dedup keys), used by every
//! entry point: config, the HTTP API, `extra`, each broker and foreign producers' messages.
//!
//! Both end up inside storage names (Redis keys, RabbitMQ queue names, embedded table keys), so
//! the rules are chosen so that no name can reach another object's storage:
//!
//! - **Queue name**: 1 to 128 of `A-Z a-z 0-9 _ - .`; not only dots (`.`, `..` are path
//!   segments to HTTP clients and proxies); not starting with `wasmboost.` (the host's own
//!   RabbitMQ objects: `wasmboost.<q>.dlq`, `wasmboost.<q>.delay.<ms>`) or `amq.` (reserved by
//!   RabbitMQ). No `:`, `{`, `}` or `/`, so a queue name is always exactly one segment of a
//!   Redis key (`<prefix>:q:{<queue>}:...`) and of a URL path.
//! - **Task id**: 1 to 128 printable ASCII characters (`!` to `~`): no whitespace, no control
//!   characters, and no non-ASCII. ASCII rather than "printable Unicode" because Unicode has
//!   invisible and look-alike characters that `char::is_control` lets through (U+200B zero
//!   width space, U+202E right-to-left override, U+2028 line separator, NFC/NFD twins), which
//!   would forge log lines or give two ids that look the same different keys; and because an id
//!   of 128 ASCII characters is 128 bytes, which fits every backend's key and AMQP's
//!   `message_id` (at most 255 bytes). UUIDs, ULIDs and numeric ids all fit.
//! - **Dedup key** (`extra.dedup_key`): 1 to 256 bytes without control characters. It is a
//!   business key (it may hold spaces) and always lives inside its own queue's dedup namespace,
//!   so only its size and log-safety need a rule.

use thiserror::Error;

/// Longest queue name, in characters (= bytes: the alphabet is ASCII).
pub const MAX_QUEUE_NAME_LEN: usize = 128;
/// Longest task id, in characters (= bytes: the alphabet is ASCII).
pub const MAX_TASK_ID_LEN: usize = 128;
/// Longest `extra.dedup_key`, in bytes.
pub const MAX_DEDUP_KEY_BYTES: usize = 256;
/// Queue-name prefixes that belong to the host's own objects (`wasmboost.`) and to RabbitMQ
/// (`amq.`, which RabbitMQ refuses to declare).
pub const RESERVED_QUEUE_PREFIXES: [&str; 2] = ["wasmboost.", "amq."];

/// The queue-name rule in words, for error messages and docs.
pub const QUEUE_NAME_RULE: &str = "1 to 128 of the characters A-Z a-z 0-9 _ - . \
     (not only dots, not starting with \"wasmboost.\" or \"amq.\")";
/// The task-id rule in words.
pub const TASK_ID_RULE: &str =
    "1 to 128 printable ASCII characters (no spaces, no control or non-ASCII characters)";
/// The dedup-key rule in words.
pub const DEDUP_KEY_RULE: &str = "1 to 256 bytes without control characters";

/// How much of a refused name an error message shows: enough to recognise it, bounded so a
/// 10 000-character name does not become a 10 000-character log line.
const SHOWN_CHARS: usize = 64;

/// A refused queue name, task id or dedup key. `shown` is a bounded preview of the value; the
/// messages print it with `{:?}`, which escapes control characters.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum NameError {
    #[error("invalid queue name {shown:?}: {why}; a queue name is {rule}", rule = QUEUE_NAME_RULE)]
    Queue { shown: String, why: &'static str },
    #[error("invalid task id {shown:?}: {why}; a task id is {rule}", rule = TASK_ID_RULE)]
    TaskId { shown: String, why: &'static str },
    #[error("invalid dedup key {shown:?}: {why}; a dedup key is {rule}", rule = DEDUP_KEY_RULE)]
    DedupKey { shown: String, why: &'static str },
}

impl NameError {
    /// The stable error code of the HTTP API for this error.
    pub fn code(&self) -> &'static str {
        match self {
            NameError::Queue { .. } => "bad_queue_name",
            NameError::TaskId { .. } => "bad_task_id",
            NameError::DedupKey { .. } => "bad_dedup_key",
        }
    }
}

/// The first [`SHOWN_CHARS`] characters of `value`, marked when cut.
fn preview(value: &str) -> String {
    match value.char_indices().nth(SHOWN_CHARS) {
        None => value.to_owned(),
        Some((at, _)) => format!("{}…[{} bytes]", &value[..at], value.len()),
    }
}

fn length_why(len: usize, max: usize) -> Option<&'static str> {
    if len == 0 {
        Some("it is empty")
    } else if len > max {
        Some("it is too long")
    } else {
        None
    }
}

/// Why `name` breaks the queue-name rule, if it does.
fn queue_name_problem(name: &str) -> Option<&'static str> {
    if let Some(why) = length_why(name.len(), MAX_QUEUE_NAME_LEN) {
        return Some(why);
    }
    if !name.bytes().all(is_queue_byte) {
        return Some("it has a character outside A-Z a-z 0-9 _ - .");
    }
    if name.bytes().all(|b| b == b'.') {
        return Some("it is only dots");
    }
    if RESERVED_QUEUE_PREFIXES.iter().any(|p| name.starts_with(p)) {
        return Some("names starting with \"wasmboost.\" or \"amq.\" are reserved");
    }
    None
}

fn is_queue_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.')
}

/// Check a queue name against [`QUEUE_NAME_RULE`].
pub fn validate_queue_name(name: &str) -> Result<(), NameError> {
    match queue_name_problem(name) {
        None => Ok(()),
        Some(why) => Err(NameError::Queue {
            shown: preview(name),
            why,
        }),
    }
}

/// True when `name` follows [`QUEUE_NAME_RULE`].
pub fn is_valid_queue_name(name: &str) -> bool {
    queue_name_problem(name).is_none()
}

fn task_id_problem(id: &str) -> Option<&'static str> {
    if let Some(why) = length_why(id.len(), MAX_TASK_ID_LEN) {
        return Some(why);
    }
    if !id.bytes().all(|b| b.is_ascii_graphic()) {
        return Some("it has whitespace, a control character or a non-ASCII character");
    }
    None
}

/// Check a task id against [`TASK_ID_RULE`].
pub fn validate_task_id(id: &str) -> Result<(), NameError> {
    match task_id_problem(id) {
        None => Ok(()),
        Some(why) => Err(NameError::TaskId {
            shown: preview(id),
            why,
        }),
    }
}

/// True when `id` follows [`TASK_ID_RULE`].
pub fn is_valid_task_id(id: &str) -> bool {
    task_id_problem(id).is_none()
}

/// Check an `extra.dedup_key` against [`DEDUP_KEY_RULE`].
pub fn validate_dedup_key(key: &str) -> Result<(), NameError> {
    let why = length_why(key.len(), MAX_DEDUP_KEY_BYTES).or_else(|| {
        key.chars()
            .any(char::is_control)
            .then_some("it has a control character")
    });
    match why {
        None => Ok(()),
        Some(why) => Err(NameError::DedupKey {
            shown: preview(key),
            why,
        }),
    }
}

#[cfg(test)]
mod tests;

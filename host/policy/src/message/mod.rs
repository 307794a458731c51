//! Task messages: plain JSON objects whose top-level keys are the task's arguments, plus an
//! optional `extra` object with the task id, publish time and per-message overrides.
//!
//! - [`parse`] checks a body (size, JSON, object, `extra` types) and splits it.
//! - [`ParsedMessage::stamp`] / [`stamp`] fill in `extra.task_id` and `extra.publish_time` on
//!   publish, keeping every key the user sent.
//! - `extra` fields are read in the `extra` submodule; unknown `extra` keys are ignored (and
//!   kept in the body, so newer publishers can talk to older hosts).

mod extra;

use std::time::Duration;

use serde_json::{Map, Value};
use thiserror::Error;

pub use extra::{Extra, MAX_PRIORITY};

/// Default cap on a message body, in bytes (1 MiB).
pub const DEFAULT_MAX_MESSAGE_BYTES: usize = 1 << 20;

/// Why a message body was refused. Messages name the offending value and where it is.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum MessageError {
    #[error("message is {size} bytes, over the limit of {max} bytes")]
    TooLarge { size: usize, max: usize },
    /// Not JSON; `detail` is serde_json's message, which ends with the line and column.
    #[error("malformed json: {detail}")]
    Malformed {
        line: usize,
        column: usize,
        detail: String,
    },
    #[error("message must be a json object of arguments like {{\"x\": 1}}, not {found}")]
    NotObject { found: &'static str },
    #[error("extra must be a json object, not {found}")]
    ExtraNotObject { found: &'static str },
    /// `extra.task_id` or `extra.dedup_key` breaks its rule in [`crate::names`].
    #[error("extra.{key}: {source}")]
    BadName {
        key: &'static str,
        source: crate::names::NameError,
    },
    /// An `extra` field with the wrong type or out of range.
    #[error("extra.{key} = {value}: {why}")]
    BadExtra {
        key: &'static str,
        value: String,
        why: &'static str,
    },
}

/// A checked message: its arguments and its `extra`.
#[derive(Debug, Clone, PartialEq)]
pub struct ParsedMessage {
    /// Every top-level key except `extra`: the task's keyword arguments.
    pub args: Map<String, Value>,
    /// The understood `extra` fields.
    pub extra: Extra,
    /// The `extra` object as sent, unknown keys included; `None` when there was none.
    pub raw_extra: Option<Map<String, Value>>,
}

/// Check and split a message body of at most `max_bytes`.
pub fn parse(body: &[u8], max_bytes: usize) -> Result<ParsedMessage, MessageError> {
    if body.len() > max_bytes {
        return Err(MessageError::TooLarge {
            size: body.len(),
            max: max_bytes,
        });
    }
    let value: Value = serde_json::from_slice(body).map_err(|err| MessageError::Malformed {
        line: err.line(),
        column: err.column(),
        detail: err.to_string(),
    })?;
    let Value::Object(mut args) = value else {
        return Err(MessageError::NotObject {
            found: json_kind(&value),
        });
    };
    let raw_extra = match args.remove("extra") {
        None => None,
        // Kept as present (and empty) so stamping replaces the null instead of adding a
        // second `extra` key.
        Some(Value::Null) => Some(Map::new()),
        Some(Value::Object(map)) => Some(map),
        Some(other) => {
            return Err(MessageError::ExtraNotObject {
                found: json_kind(&other),
            });
        }
    };
    let extra = raw_extra
        .as_ref()
        .map_or_else(|| Ok(Extra::default()), Extra::from_map)?;
    Ok(ParsedMessage {
        args,
        extra,
        raw_extra,
    })
}

/// Parse `body` (no size cap) and return it with `extra.task_id` set to `task_id` and
/// `extra.publish_time` set to `publish_time_ms` unless the publisher already gave one.
pub fn stamp(body: &[u8], task_id: &str, publish_time_ms: u64) -> Result<Vec<u8>, MessageError> {
    Ok(parse(body, usize::MAX)?.stamp(body, task_id, publish_time_ms))
}

impl ParsedMessage {
    /// The dedup key: `extra.dedup_key` if given, else the hash of the canonical arguments.
    pub fn dedup_key(&self) -> String {
        match &self.extra.dedup_key {
            Some(key) => key.clone(),
            None => crate::dedup::dedup_key_of_args(&self.args),
        }
    }

    /// When the message may first run, ms since the Unix epoch: `extra.eta`, else the publish
    /// time (or `now_ms`) plus `extra.countdown`; `None` when neither is set.
    pub fn not_before_ms(&self, now_ms: u64) -> Option<u64> {
        if let Some(eta) = self.extra.eta_ms {
            return Some(eta);
        }
        let countdown = self.extra.countdown?;
        let base = self.extra.publish_time_ms.unwrap_or(now_ms);
        Some(base.saturating_add(millis(countdown)))
    }

    /// `body` (the bytes this message was parsed from) with `extra.task_id` = `task_id` and
    /// `extra.publish_time` = `publish_time_ms` unless already present. A body without `extra`
    /// is kept byte for byte with `extra` spliced in first; otherwise it is re-serialized.
    pub fn stamp(&self, body: &[u8], task_id: &str, publish_time_ms: u64) -> Vec<u8> {
        self.stamp_reply(body, task_id, publish_time_ms, false)
    }

    /// [`stamp`](ParsedMessage::stamp), and with `reply` also `extra.reply = true`: a caller
    /// waits for the result, so it is stored whatever the queue's `results` policy.
    pub fn stamp_reply(
        &self,
        body: &[u8],
        task_id: &str,
        publish_time_ms: u64,
        reply: bool,
    ) -> Vec<u8> {
        let mut extra = self.raw_extra.clone().unwrap_or_default();
        if reply {
            extra.insert("reply".to_owned(), Value::Bool(true));
        }
        extra.insert("task_id".to_owned(), Value::String(task_id.to_owned()));
        extra
            .entry("publish_time")
            .or_insert_with(|| Value::from(publish_time_ms));
        let extra = Value::Object(extra);
        match (&self.raw_extra, splice_point(body)) {
            (None, Some(at)) => splice(body, at, &extra, self.args.is_empty()),
            _ => {
                let mut object = self.args.clone();
                object.insert("extra".to_owned(), extra);
                // Serializing a Value into a Vec cannot fail.
                serde_json::to_vec(&Value::Object(object)).unwrap_or_default()
            }
        }
    }
}

/// Index just after the opening `{` of a body known to be a JSON object.
fn splice_point(body: &[u8]) -> Option<usize> {
    let start = body.iter().position(|b| !b.is_ascii_whitespace())?;
    (body[start] == b'{').then_some(start + 1)
}

fn splice(body: &[u8], at: usize, extra: &Value, args_empty: bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len() + 96);
    out.extend_from_slice(&body[..at]);
    out.extend_from_slice(b"\"extra\":");
    // Serializing a Value into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut out, extra);
    if !args_empty {
        out.push(b',');
    }
    out.extend_from_slice(&body[at..]);
    out
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// "an array", "a string", ... for error messages.
pub(crate) fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests;

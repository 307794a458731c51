//! The understood fields of a message's `extra` object, each checked for type and range.

use std::time::Duration;

use jiff::Timestamp;
use serde_json::{Map, Value};

use super::MessageError;
use crate::names::{self, NameError};
use crate::retry::MAX_MAX_RETRIES;

/// Highest message priority; 0 is the lowest and the default.
pub const MAX_PRIORITY: u8 = 9;

const POSITIVE: &str = "must be a positive integer";

/// Per-message metadata and overrides. Every field is optional; `None` = not given (or `null`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Extra {
    /// `task_id`: the publisher's id for this task (the host makes a UUIDv7 when absent).
    pub task_id: Option<String>,
    /// `publish_time`: RFC 3339 text or ms since the Unix epoch.
    pub publish_time_ms: Option<u64>,
    /// `countdown`: how long to wait before running: a number of seconds, or duration text in
    /// the one grammar of [`crate::units`] (`"5m"`, `"1h30m"`; a bare number is seconds).
    pub countdown: Option<Duration>,
    /// `eta`: when to run, RFC 3339 text or ms since the epoch; wins over `countdown`.
    pub eta_ms: Option<u64>,
    /// `expire_at`: do not run after this instant (RFC 3339 or ms since the epoch).
    pub expire_at_ms: Option<u64>,
    /// `max_retries`: overrides the queue's.
    pub max_retries: Option<u32>,
    /// `timeout_ms`: the wall-clock budget, overriding the queue's.
    pub timeout: Option<Duration>,
    /// `fuel`: the fuel budget, overriding the queue's.
    pub fuel: Option<u64>,
    /// `memory_mb`: the memory budget in MiB, overriding the queue's.
    pub memory_mb: Option<u64>,
    /// `priority`: 0..=9, higher first.
    pub priority: Option<u8>,
    /// `dedup_key`: replaces the key computed from the arguments.
    pub dedup_key: Option<String>,
    /// `reply`: someone waits for this task's result (an RPC), so its final record is stored
    /// whatever the queue's `results` policy. Set by the host for `?wait=`; `false` when absent.
    pub reply: bool,
}

impl Extra {
    /// Read the understood keys of an `extra` object; other keys are ignored.
    pub fn from_map(map: &Map<String, Value>) -> Result<Extra, MessageError> {
        let field = |key: &'static str| Field {
            key,
            value: map.get(key).filter(|v| !v.is_null()),
        };
        Ok(Extra {
            task_id: field("task_id").name(names::validate_task_id)?,
            publish_time_ms: field("publish_time").instant_ms()?,
            countdown: field("countdown").seconds()?,
            eta_ms: field("eta").instant_ms()?,
            expire_at_ms: field("expire_at").instant_ms()?,
            max_retries: field("max_retries")
                .integer(
                    0,
                    u64::from(MAX_MAX_RETRIES),
                    "must be an integer from 0 to 1000",
                )?
                .map(|n| u32::try_from(n).unwrap_or(MAX_MAX_RETRIES)),
            timeout: field("timeout_ms")
                .integer(1, u64::MAX, POSITIVE)?
                .map(Duration::from_millis),
            fuel: field("fuel").integer(1, u64::MAX, POSITIVE)?,
            memory_mb: field("memory_mb").integer(1, u64::MAX >> 20, POSITIVE)?,
            priority: field("priority")
                .integer(0, u64::from(MAX_PRIORITY), "must be an integer from 0 to 9")?
                .map(|n| u8::try_from(n).unwrap_or(MAX_PRIORITY)),
            dedup_key: field("dedup_key").name(names::validate_dedup_key)?,
            reply: field("reply").flag()?,
        })
    }
}

/// One optional field being read, for error messages that name it.
struct Field<'a> {
    key: &'static str,
    value: Option<&'a Value>,
}

impl Field<'_> {
    fn bad<T>(&self, why: &'static str) -> Result<T, MessageError> {
        Err(MessageError::BadExtra {
            key: self.key,
            value: self.value.map_or_else(String::new, Value::to_string),
            why,
        })
    }

    /// A string that `check` (one of the [`names`] rules) accepts.
    fn name(
        &self,
        check: fn(&str) -> Result<(), NameError>,
    ) -> Result<Option<String>, MessageError> {
        match self.value {
            None => Ok(None),
            Some(Value::String(s)) => match check(s) {
                Ok(()) => Ok(Some(s.clone())),
                Err(source) => Err(MessageError::BadName {
                    key: self.key,
                    source,
                }),
            },
            Some(_) => self.bad("must be a string"),
        }
    }

    /// `true` or `false`; absent is `false`.
    fn flag(&self) -> Result<bool, MessageError> {
        match self.value {
            None => Ok(false),
            Some(Value::Bool(b)) => Ok(*b),
            Some(_) => self.bad("must be true or false"),
        }
    }

    fn integer(&self, min: u64, max: u64, why: &'static str) -> Result<Option<u64>, MessageError> {
        let Some(value) = self.value else {
            return Ok(None);
        };
        match value.as_u64() {
            Some(n) if (min..=max).contains(&n) => Ok(Some(n)),
            _ => self.bad(why),
        }
    }

    /// RFC 3339 text or a non-negative number of ms since the Unix epoch.
    fn instant_ms(&self) -> Result<Option<u64>, MessageError> {
        const WHY: &str = "must be RFC 3339 text (2026-01-31T09:00:00Z) or ms since the epoch";
        match self.value {
            None => Ok(None),
            Some(Value::Number(n)) => match n.as_u64() {
                Some(ms) => Ok(Some(ms)),
                None => self.bad(WHY),
            },
            Some(Value::String(text)) => match text.parse::<Timestamp>() {
                Ok(ts) => u64::try_from(ts.as_millisecond())
                    .map_or_else(|_| self.bad(WHY), |ms| Ok(Some(ms))),
                Err(_) => self.bad(WHY),
            },
            Some(_) => self.bad(WHY),
        }
    }

    /// A non-negative number of seconds, or duration text (`"90s"`, `"5m"`).
    fn seconds(&self) -> Result<Option<Duration>, MessageError> {
        const WHY: &str =
            "must be a number of seconds or duration text (250ms, 30s, 5m, 1h30m, 7d)";
        match self.value {
            None => Ok(None),
            Some(Value::Number(n)) => {
                match n.as_f64().and_then(|s| Duration::try_from_secs_f64(s).ok()) {
                    Some(d) => Ok(Some(d)),
                    None => self.bad(WHY),
                }
            }
            Some(Value::String(text)) => {
                crate::units::parse_duration(text).map_or_else(|_| self.bad(WHY), |d| Ok(Some(d)))
            }
            Some(_) => self.bad(WHY),
        }
    }
}

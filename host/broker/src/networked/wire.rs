//! The message ↔ wire-fields mapping every networked broker shares: which fields travel beside
//! the body, what they are called, and what a message from a foreign producer (body only)
//! defaults to. A broker decides only *where* the fields go (stream entry fields, AMQP headers,
//! a header line in a beanstalkd job).

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::message::{MAX_PRIORITY, Message};

/// Field names, one place: the task id.
pub const ID: &str = "id";
/// 0..=[`MAX_PRIORITY`].
pub const PRIORITY: &str = "priority";
/// 1-based attempt of the next delivery.
pub const ATTEMPT: &str = "attempt";
pub const REQUEUES: &str = "requeues";
pub const REDELIVERIES: &str = "redeliveries";
/// First publish, ms since the Unix epoch.
pub const PUBLISHED_MS: &str = "published_ms";
/// On dead letters: why, and when (ms since the Unix epoch).
pub const REASON: &str = "reason";
pub const DEAD_MS: &str = "dead_ms";

/// The host-owned fields of a message, each optional on the way in (a foreign producer sends
/// none). Serialises with the names above.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WireFields {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<u8>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attempt: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requeues: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redeliveries: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub published_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dead_ms: Option<u64>,
}

/// What a broker knows about a delivery when the wire carries no field for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fallback {
    /// A stable id derived from where the message is stored (same on every redelivery).
    pub id: String,
    /// The broker's own priority of the message, already mapped to 0..=MAX_PRIORITY.
    pub priority: u8,
    /// The broker's idea of when it was stored.
    pub published_ms: u64,
}

impl WireFields {
    /// Every field of `m` (no reason).
    pub fn of(m: &Message) -> Self {
        WireFields {
            id: Some(m.id.clone()),
            priority: Some(m.priority.min(MAX_PRIORITY)),
            attempt: Some(m.attempt),
            requeues: Some(m.requeues),
            redeliveries: Some(m.redeliveries),
            published_ms: Some(m.published_ms),
            reason: None,
            dead_ms: None,
        }
    }

    /// The fields as `(name, text)` pairs, for brokers that store strings (stream fields).
    pub fn to_pairs(&self) -> Vec<(&'static str, String)> {
        let mut pairs = Vec::new();
        let mut put = |name, value: Option<String>| {
            if let Some(v) = value {
                pairs.push((name, v));
            }
        };
        put(ID, self.id.clone());
        put(PRIORITY, self.priority.map(|v| v.to_string()));
        put(ATTEMPT, self.attempt.map(|v| v.to_string()));
        put(REQUEUES, self.requeues.map(|v| v.to_string()));
        put(REDELIVERIES, self.redeliveries.map(|v| v.to_string()));
        put(PUBLISHED_MS, self.published_ms.map(|v| v.to_string()));
        put(REASON, self.reason.clone());
        put(DEAD_MS, self.dead_ms.map(|v| v.to_string()));
        pairs
    }

    /// Read fields from `(name, text)` pairs; unknown names are ignored, and a value that does
    /// not parse counts as missing (a foreign producer's garbage must not poison the message).
    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        let mut f = WireFields::default();
        for (name, value) in pairs {
            let v = value.trim();
            match name {
                ID => f.id = Some(value.to_owned()).filter(|id| !id.is_empty()),
                PRIORITY => f.priority = v.parse().ok(),
                ATTEMPT => f.attempt = v.parse().ok(),
                REQUEUES => f.requeues = v.parse().ok(),
                REDELIVERIES => f.redeliveries = v.parse().ok(),
                PUBLISHED_MS => f.published_ms = v.parse().ok(),
                REASON => f.reason = Some(value.to_owned()),
                DEAD_MS => f.dead_ms = v.parse().ok(),
                _ => {}
            }
        }
        f
    }

    /// The message these fields describe; missing fields take `fallback` or the defaults of a
    /// first delivery (attempt 1, counters 0).
    pub fn to_message(&self, queue: &str, body: Bytes, fallback: Fallback) -> Message {
        Message {
            id: self
                .id
                .clone()
                .filter(|id| !id.is_empty())
                .unwrap_or(fallback.id),
            queue: queue.to_owned(),
            body,
            priority: self.priority.unwrap_or(fallback.priority).min(MAX_PRIORITY),
            attempt: self.attempt.unwrap_or(1).max(1),
            requeues: self.requeues.unwrap_or(0),
            redeliveries: self.redeliveries.unwrap_or(0),
            published_ms: self.published_ms.unwrap_or(fallback.published_ms),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message() -> Message {
        Message {
            id: "t1".to_owned(),
            queue: "q".to_owned(),
            body: Bytes::from_static(b"{}"),
            priority: 4,
            attempt: 3,
            requeues: 2,
            redeliveries: 1,
            published_ms: 42,
        }
    }

    fn fallback() -> Fallback {
        Fallback {
            id: "derived".to_owned(),
            priority: 0,
            published_ms: 7,
        }
    }

    #[test]
    fn pairs_round_trip() {
        let m = message();
        let pairs = WireFields::of(&m).to_pairs();
        let back = WireFields::from_pairs(pairs.iter().map(|(k, v)| (*k, v.as_str())));
        assert_eq!(back.to_message("q", m.body.clone(), fallback()), m);
    }

    #[test]
    fn json_round_trip_uses_the_field_names() {
        let m = message();
        let json = serde_json::to_string(&WireFields::of(&m)).expect("fields serialise");
        for name in [ID, PRIORITY, ATTEMPT, REQUEUES, REDELIVERIES, PUBLISHED_MS] {
            assert!(
                json.contains(&format!("\"{name}\"")),
                "{name} missing in {json}"
            );
        }
        let back: WireFields = serde_json::from_str(&json).expect("fields parse");
        assert_eq!(back.to_message("q", m.body.clone(), fallback()), m);
    }

    #[test]
    fn a_foreign_message_reads_as_a_first_attempt() {
        let m = WireFields::default().to_message("q", Bytes::new(), fallback());
        assert_eq!((m.id.as_str(), m.attempt, m.requeues), ("derived", 1, 0));
        assert_eq!((m.priority, m.published_ms), (0, 7));
    }

    #[test]
    fn garbage_values_count_as_missing() {
        let pairs = [
            (ATTEMPT, "zero"),
            (REQUEUES, "-3"),
            (PRIORITY, "300"),
            (ID, ""),
        ];
        let m = WireFields::from_pairs(pairs).to_message("q", Bytes::new(), fallback());
        assert_eq!((m.attempt, m.requeues, m.id.as_str()), (1, 0, "derived"));
        assert_eq!(m.priority, 0, "300 does not fit a u8 priority field");
    }
}

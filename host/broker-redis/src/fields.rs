//! The fields of a stream entry and how they map onto [`Message`].
//!
//! Only `body` is required, so a foreign producer may `XADD <prefix>:q:{<queue>}:stream * body
//! '{"x":1}'`. Missing fields take defaults: `attempt` 1, counters 0, `published_ms` the entry
//! id's time, and `id` a UUIDv7 derived from the entry id (stable across redeliveries, and
//! written into the entry on its first requeue, retry or dead-letter).

use bytes::Bytes;
use uuid::Builder;
use wasmboost_broker::{MAX_PRIORITY, Message};

/// The message fields share their names with every networked broker (one place:
/// `wasmboost_broker::networked::wire`); the Lua scripts spell the same names.
pub(crate) use wasmboost_broker::networked::wire::{
    ATTEMPT, DEAD_MS, ID, PRIORITY, PUBLISHED_MS, REASON, REDELIVERIES, REQUEUES,
};

pub(crate) const BODY: &str = "body";
/// On dead letters of entries that had no `id`: the stream entry id the id is derived from.
pub(crate) const ENTRY: &str = "entry";

/// A stream entry as read: its id and its field/value pairs in order.
#[derive(Debug, Clone, Default)]
pub(crate) struct Entry {
    pub id: String,
    pub fields: Vec<(Vec<u8>, Vec<u8>)>,
}

impl Entry {
    pub(crate) fn get(&self, name: &str) -> Option<&[u8]> {
        self.fields
            .iter()
            .find(|(k, _)| k == name.as_bytes())
            .map(|(_, v)| v.as_slice())
    }

    fn number<T: std::str::FromStr>(&self, name: &str) -> Option<T> {
        std::str::from_utf8(self.get(name)?)
            .ok()?
            .trim()
            .parse()
            .ok()
    }

    fn text(&self, name: &str) -> Option<String> {
        let v = self.get(name)?;
        Some(String::from_utf8_lossy(v).into_owned())
    }

    /// The message this entry carries, delivered from priority `level` of `queue`.
    /// `extra_redeliveries` counts the times this very entry was reclaimed after a lease ended.
    pub(crate) fn to_message(&self, queue: &str, level: u8, extra_redeliveries: u32) -> Message {
        let source = self.text(ENTRY).unwrap_or_else(|| self.id.clone());
        let id = self
            .text(ID)
            .filter(|id| !id.is_empty())
            .unwrap_or_else(|| derived_id(queue, level, &source));
        let redeliveries: u32 = self.number(REDELIVERIES).unwrap_or(0);
        Message {
            id,
            queue: queue.to_owned(),
            body: Bytes::copy_from_slice(self.get(BODY).unwrap_or_default()),
            priority: level,
            attempt: self.number(ATTEMPT).unwrap_or(1).max(1),
            requeues: self.number(REQUEUES).unwrap_or(0),
            redeliveries: redeliveries.saturating_add(extra_redeliveries),
            published_ms: self
                .number(PUBLISHED_MS)
                .unwrap_or_else(|| entry_ms(&source)),
        }
    }
}

/// The fields that store `m` (in this order: body first, for people reading with redis-cli).
pub(crate) fn to_fields(m: &Message) -> Vec<(&'static str, Bytes)> {
    let num = |n: u64| Bytes::from(n.to_string());
    vec![
        (BODY, m.body.clone()),
        (ID, Bytes::from(m.id.clone())),
        (PRIORITY, num(u64::from(m.priority.min(MAX_PRIORITY)))),
        (ATTEMPT, num(u64::from(m.attempt))),
        (REQUEUES, num(u64::from(m.requeues))),
        (REDELIVERIES, num(u64::from(m.redeliveries))),
        (PUBLISHED_MS, num(m.published_ms)),
    ]
}

/// Milliseconds part of a stream entry id (`<ms>-<seq>`), 0 if it has none.
pub(crate) fn entry_ms(entry_id: &str) -> u64 {
    split_id(entry_id).0
}

fn split_id(entry_id: &str) -> (u64, u64) {
    let (ms, seq) = entry_id.split_once('-').unwrap_or((entry_id, "0"));
    (ms.parse().unwrap_or(0), seq.parse().unwrap_or(0))
}

/// A UUIDv7 that is a pure function of where the entry was first stored: its time is the entry
/// id's, its other bits the sequence number, the level and a hash of the queue name.
pub(crate) fn derived_id(queue: &str, level: u8, entry_id: &str) -> String {
    let (ms, seq) = split_id(entry_id);
    let mut rest = [0u8; 10];
    rest[..8].copy_from_slice(&seq.to_be_bytes());
    rest[8] = level;
    rest[9] = fnv1a(queue.as_bytes()).to_be_bytes()[0];
    Builder::from_unix_timestamp_millis(ms, &rest)
        .into_uuid()
        .to_string()
}

/// FNV-1a: a hash that, unlike std's, is specified and so stable across Rust releases.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(id: &str, fields: &[(&str, &str)]) -> Entry {
        Entry {
            id: id.to_owned(),
            fields: fields
                .iter()
                .map(|(k, v)| (k.as_bytes().to_vec(), v.as_bytes().to_vec()))
                .collect(),
        }
    }

    #[test]
    fn a_bare_body_gets_defaults_and_a_stable_uuid_v7() {
        let e = entry("1795451387973-4", &[("body", "{\"x\":1}")]);
        let m = e.to_message("add", 0, 0);
        assert_eq!((m.attempt, m.requeues, m.redeliveries), (1, 0, 0));
        assert_eq!(m.published_ms, 1_795_451_387_973);
        assert_eq!(m.body, "{\"x\":1}".as_bytes());
        let uuid = uuid::Uuid::parse_str(&m.id).expect("derived ids are uuids");
        assert_eq!(uuid.get_version_num(), 7);
        assert_eq!(e.to_message("add", 0, 2).id, m.id, "same entry, same id");
        assert_ne!(
            e.to_message("other", 0, 0).id,
            m.id,
            "the queue is part of the id"
        );
    }

    #[test]
    fn fields_round_trip() {
        let m = Message {
            id: "t1".to_owned(),
            queue: "q".to_owned(),
            body: Bytes::from_static(b"\xff binary"),
            priority: 4,
            attempt: 3,
            requeues: 2,
            redeliveries: 1,
            published_ms: 42,
        };
        let e = Entry {
            id: "5-0".to_owned(),
            fields: to_fields(&m)
                .into_iter()
                .map(|(k, v)| (k.as_bytes().to_vec(), v.to_vec()))
                .collect(),
        };
        let mut back = e.to_message("q", 4, 1);
        assert_eq!(back.redeliveries, 2, "reclaims add to the stored count");
        back.redeliveries = 1;
        assert_eq!(back, m);
    }

    #[test]
    fn garbage_counters_fall_back_to_defaults() {
        let e = entry(
            "7-1",
            &[("body", "{}"), ("attempt", "zero"), ("requeues", "-3")],
        );
        let m = e.to_message("q", 0, 0);
        assert_eq!((m.attempt, m.requeues, m.published_ms), (1, 0, 7));
    }
}

//! The message fields beside the body, carried as headers `Wasmboost-<field>` (the shared names
//! of `wasmboost_broker::networked::wire`), plus the due time of a delayed message. A foreign
//! producer's message has none of them and reads as a first attempt of priority = its band.

use async_nats::HeaderMap;
use async_nats::jetstream::Message as JsMessage;
use bytes::Bytes;
use sha2::{Digest, Sha256};
use wasmboost_broker::networked::wire::{Fallback, WireFields};
use wasmboost_broker::{Message, now_ms};

/// The header name prefix of the wire fields.
const HEADER_PREFIX: &str = "Wasmboost-";
/// When a message on the delay subject becomes due (ms since the Unix epoch).
pub const NOT_BEFORE: &str = "Wasmboost-Not-Before";

/// Headers carrying `fields`, and `not_before` when set.
pub fn headers(fields: &WireFields, not_before: Option<u64>, msg_id: &str) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (name, value) in fields.to_pairs() {
        h.insert(format!("{HEADER_PREFIX}{name}").as_str(), value.as_str());
    }
    if let Some(t) = not_before {
        h.insert(NOT_BEFORE, t.to_string().as_str());
    }
    h.insert(async_nats::header::NATS_MESSAGE_ID, msg_id);
    h
}

/// The wire fields in `headers` (none: a foreign producer's message).
pub fn fields(headers: Option<&HeaderMap>) -> WireFields {
    let Some(h) = headers else {
        return WireFields::default();
    };
    let pairs: Vec<(String, String)> = h
        .iter()
        .filter_map(|(name, values)| {
            let name = name.to_string();
            let name = name.strip_prefix(HEADER_PREFIX)?;
            let value = values.first()?.as_str();
            Some((name.to_owned(), value.to_owned()))
        })
        .collect();
    WireFields::from_pairs(pairs.iter().map(|(n, v)| (n.as_str(), v.as_str())))
}

/// The due time of a message on the delay subject, if it carries one.
pub fn not_before(headers: Option<&HeaderMap>) -> Option<u64> {
    headers?.get(NOT_BEFORE)?.as_str().trim().parse().ok()
}

/// The id of a message that carries none (a foreign producer's): stable across redeliveries,
/// unique across queues (task records are keyed by id alone), within the task-id rule.
pub fn fallback_id(queue: &str, stream_seq: u64) -> String {
    let hash = Sha256::digest(queue.as_bytes());
    format!("nats-{}-{stream_seq}", hex::encode(&hash[..6]))
}

/// The message a delivery of `band`'s consumer carries.
pub fn message(queue: &str, band: u8, m: &JsMessage) -> Message {
    let (seq, delivered, published_ms) = match m.info() {
        Ok(info) => (
            info.stream_sequence,
            u32::try_from(info.delivered).unwrap_or(1),
            u64::try_from(info.published.unix_timestamp_nanos() / 1_000_000).unwrap_or(0),
        ),
        Err(_) => (0, 1, now_ms()),
    };
    let fields = fields(m.headers.as_ref());
    let mut message = fields.to_message(
        queue,
        Bytes::clone(&m.payload),
        Fallback {
            id: fallback_id(queue, seq),
            priority: band,
            published_ms,
        },
    );
    // Each copy starts at delivery 1: the later ones are lease ends (a host died or stalled).
    message.redeliveries = message
        .redeliveries
        .saturating_add(delivered.saturating_sub(1));
    message
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_round_trip_through_headers() {
        let f = WireFields {
            id: Some("t1".to_owned()),
            attempt: Some(3),
            reason: Some("boom: x".to_owned()),
            ..WireFields::default()
        };
        let h = headers(&f, Some(42), "t1");
        assert_eq!(fields(Some(&h)), f);
        assert_eq!(not_before(Some(&h)), Some(42));
        assert_eq!(fields(None), WireFields::default());
    }

    #[test]
    fn fallback_ids_differ_per_queue() {
        assert_ne!(fallback_id("a", 1), fallback_id("b", 1));
        assert!(fallback_id("a", 7).ends_with("-7"));
    }
}

//! The two state kinds kept as one value per name, changed by compare-and-set on its revision
//! (JetStream 2.9 key-value has no multi-key transaction): a workflow join (numbered slots,
//! each filled once) and a queue's task key-value namespace (`wasmboost:task/kv`, the rules of
//! `wasmboost_broker::kv`). Both are small by construction (a stage's members; a namespace
//! within its byte quota), so a whole-value rewrite per change is cheap and atomic.

use std::collections::BTreeMap;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use wasmboost_broker::kv::Namespace;
use wasmboost_broker::kv::namespace::Entry;

/// A join's slots (index → value), with the join's expiry (ms since the Unix epoch).
pub(crate) fn encode_join(expires_ms: u64, slots: &BTreeMap<u32, Bytes>) -> Bytes {
    let mut b = BytesMut::new();
    b.put_u64(expires_ms);
    for (slot, value) in slots {
        b.put_u32(*slot);
        put_bytes(&mut b, value);
    }
    b.freeze()
}

/// The live slots in `raw` (none when it is expired or does not parse).
pub(crate) fn decode_join(raw: &Bytes, now_ms: u64) -> BTreeMap<u32, Bytes> {
    let mut slots = BTreeMap::new();
    let mut b = raw.clone();
    if b.remaining() < 8 || b.get_u64() <= now_ms {
        return slots;
    }
    while b.remaining() >= 4 {
        let slot = b.get_u32();
        let Some(value) = get_bytes(&mut b) else {
            return BTreeMap::new();
        };
        slots.insert(slot, value);
    }
    slots
}

/// A namespace's entries: key, value, expiry (0: never).
pub(crate) fn encode_namespace(ns: &Namespace) -> Bytes {
    let mut b = BytesMut::new();
    for (key, entry) in ns.entries() {
        put_bytes(&mut b, key.as_bytes());
        put_bytes(&mut b, &entry.value);
        b.put_u64(entry.expires_ms.unwrap_or(0));
    }
    b.freeze()
}

/// The namespace stored in `raw` (its expired entries left out); empty when absent or when it
/// does not parse.
pub(crate) fn decode_namespace(raw: Option<&Bytes>, now_ms: u64) -> Namespace {
    let mut entries = Vec::new();
    if let Some(raw) = raw {
        let mut b = raw.clone();
        while b.has_remaining() {
            let (Some(key), Some(value)) = (get_bytes(&mut b), get_bytes(&mut b)) else {
                return Namespace::default();
            };
            if b.remaining() < 8 {
                return Namespace::default();
            }
            let expires_ms = Some(b.get_u64()).filter(|&at| at != 0);
            let Ok(key) = String::from_utf8(key.to_vec()) else {
                return Namespace::default();
            };
            entries.push((key, Entry { value, expires_ms }));
        }
    }
    Namespace::from_entries(entries, now_ms)
}

fn put_bytes(b: &mut BytesMut, v: &[u8]) {
    b.put_u32(u32::try_from(v.len()).unwrap_or(u32::MAX));
    b.put_slice(v);
}

fn get_bytes(b: &mut Bytes) -> Option<Bytes> {
    if b.remaining() < 4 {
        return None;
    }
    let n = usize::try_from(b.get_u32()).ok()?;
    (b.remaining() >= n).then(|| b.split_to(n))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;
    use wasmboost_broker::{KvOp, KvQuota};

    #[test]
    fn joins_and_namespaces_round_trip() {
        let mut slots = BTreeMap::new();
        slots.insert(3, Bytes::from_static(b"three"));
        slots.insert(0, Bytes::new());
        assert_eq!(decode_join(&encode_join(2_000, &slots), 1_000), slots);
        assert!(
            decode_join(&encode_join(2_000, &slots), 2_000).is_empty(),
            "expired"
        );

        let quota = KvQuota {
            max_keys: 10,
            max_value_bytes: 100,
            max_total_bytes: 1000,
        };
        let mut ns = Namespace::default();
        let set = KvOp::Set {
            key: "k",
            value: b"v",
            ttl: Some(Duration::from_secs(1)),
        };
        ns.apply(&set, &quota, 1_000).expect("set");
        let raw = encode_namespace(&ns);
        let back = decode_namespace(Some(&raw), 1_500);
        assert_eq!(back.entries().count(), 1);
        assert_eq!(
            decode_namespace(Some(&raw), 2_500).entries().count(),
            0,
            "expired"
        );
    }
}

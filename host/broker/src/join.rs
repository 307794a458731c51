//! A workflow join as one value (for stores that keep a join in a single key, the embedded
//! store): its filled slots, encoded as `slot (u32 LE) | length (u32 LE) | bytes`, repeated,
//! in slot order. See `StateStore::join_put`.

use std::collections::BTreeMap;

use bytes::Bytes;

/// The slots of an encoded join; a truncated tail (never written by [`encode`]) is ignored.
pub(crate) fn decode(mut raw: &[u8]) -> BTreeMap<u32, Bytes> {
    let mut slots = BTreeMap::new();
    while let Some((head, rest)) = raw.split_first_chunk::<8>() {
        let slot = u32::from_le_bytes([head[0], head[1], head[2], head[3]]);
        let len = u32::from_le_bytes([head[4], head[5], head[6], head[7]]) as usize;
        let Some(value) = rest.get(..len) else {
            break;
        };
        slots.insert(slot, Bytes::copy_from_slice(value));
        raw = &rest[len..];
    }
    slots
}

/// Encode `slots` (each value at most 4 GiB, which a task result never reaches).
pub(crate) fn encode(slots: &BTreeMap<u32, Bytes>) -> Vec<u8> {
    let size = slots.values().map(|v| 8 + v.len()).sum();
    let mut out = Vec::with_capacity(size);
    for (slot, value) in slots {
        out.extend_from_slice(&slot.to_le_bytes());
        let len = u32::try_from(value.len()).unwrap_or(u32::MAX);
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&value[..len as usize]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_ignores_a_torn_tail() {
        let mut slots = BTreeMap::new();
        slots.insert(3, Bytes::from_static(b"three"));
        slots.insert(0, Bytes::new());
        let raw = encode(&slots);
        assert_eq!(decode(&raw), slots);
        assert_eq!(decode(&raw[..raw.len() - 1]).len(), 1, "slot 3 torn");
    }
}

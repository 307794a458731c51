//! A value with its own expiry (JetStream 2.9 key-value has no per-key TTL): one flags byte,
//! the expiry in ms since the Unix epoch (8 bytes, big-endian), then the value. An expired
//! value reads as absent; the bucket's `max_age` bounds how long expired ones take space.

use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use wasmboost_broker::{ms_after, now_ms};

const HEADER: usize = 9;
const TERMINAL: u8 = 1;

/// A decoded value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Expiring {
    pub(crate) terminal: bool,
    pub(crate) expires_ms: u64,
    pub(crate) value: Bytes,
}

impl Expiring {
    /// `value`, expiring `ttl` from now.
    pub(crate) fn new(value: Bytes, terminal: bool, ttl: Duration) -> Self {
        Expiring {
            terminal,
            expires_ms: ms_after(ttl),
            value,
        }
    }

    pub(crate) fn encode(&self) -> Bytes {
        let mut b = BytesMut::with_capacity(HEADER + self.value.len());
        b.put_u8(if self.terminal { TERMINAL } else { 0 });
        b.put_u64(self.expires_ms);
        b.put_slice(&self.value);
        b.freeze()
    }

    /// The value stored in `raw`, if it parses and has not expired.
    pub(crate) fn live(raw: &Bytes) -> Option<Expiring> {
        let flags = *raw.first()?;
        let expires: [u8; 8] = raw.get(1..HEADER)?.try_into().ok()?;
        let e = Expiring {
            terminal: flags & TERMINAL != 0,
            expires_ms: u64::from_be_bytes(expires),
            value: raw.slice(HEADER..),
        };
        (e.expires_ms > now_ms()).then_some(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_expiry() {
        let e = Expiring::new(Bytes::from_static(b"v"), true, Duration::from_secs(60));
        assert_eq!(Expiring::live(&e.encode()), Some(e));
        let gone = Expiring {
            expires_ms: now_ms() - 1,
            ..Expiring::new(Bytes::new(), false, Duration::ZERO)
        };
        assert_eq!(Expiring::live(&gone.encode()), None);
        assert_eq!(Expiring::live(&Bytes::from_static(b"short")), None);
    }
}

//! The stored form of a queue entry: a fixed header, then queue, id, dead-letter reason and body.
//! Little-endian, versioned by the first byte so the layout can change later.

use bytes::Bytes;

use crate::error::BrokerError;
use crate::index::{Entry, State};
use crate::message::Message;

const VERSION: u8 = 1;
const HEADER: usize = 1 + 1 + 1 + 4 * 3 + 8 * 4;

/// Encode `entry` of `queue`. A leased entry is stored as ready: leases do not survive a restart.
pub(crate) fn encode(entry: &Entry) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER + 64 + entry.message.body.len());
    encode_into(entry, &mut out);
    out
}

/// Append the stored form of `entry` to `out`.
pub(crate) fn encode_into(entry: &Entry, out: &mut Vec<u8>) {
    let m = &entry.message;
    let (dead, reason, dead_ms) = match &entry.state {
        State::Dead { reason, dead_ms } => (1u8, reason.as_str(), *dead_ms),
        _ => (0, "", 0),
    };
    out.extend_from_slice(&[VERSION, m.priority, dead]);
    for n in [m.attempt, m.requeues, m.redeliveries] {
        out.extend_from_slice(&n.to_le_bytes());
    }
    for n in [m.published_ms, entry.order, entry.due_ms, dead_ms] {
        out.extend_from_slice(&n.to_le_bytes());
    }
    for s in [&m.queue, &m.id, reason] {
        let len = u32::try_from(s.len()).unwrap_or(u32::MAX);
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(s.as_bytes());
    }
    out.extend_from_slice(&m.body);
}

struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        if self.rest.len() < n {
            return Err(format!(
                "truncated: wanted {n} more bytes, {} left",
                self.rest.len()
            ));
        }
        let (head, rest) = self.rest.split_at(n);
        self.rest = rest;
        Ok(head)
    }

    fn u8(&mut self) -> Result<u8, String> {
        Ok(self.take(1)?[0])
    }

    fn u32(&mut self) -> Result<u32, String> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn u64(&mut self) -> Result<u64, String> {
        let mut a = [0u8; 8];
        a.copy_from_slice(self.take(8)?);
        Ok(u64::from_le_bytes(a))
    }

    fn string(&mut self) -> Result<String, String> {
        let len = usize::try_from(self.u32()?).map_err(|e| e.to_string())?;
        let raw = self.take(len)?;
        String::from_utf8(raw.to_vec()).map_err(|e| format!("not utf-8: {e}"))
    }
}

/// Decode what [`encode`] wrote; `key` names the entry in errors.
pub(crate) fn decode(key: u64, raw: &[u8]) -> Result<Entry, BrokerError> {
    decode_inner(raw).map_err(|detail| BrokerError::Corrupt {
        what: format!("stored message #{key}"),
        detail,
    })
}

fn decode_inner(raw: &[u8]) -> Result<Entry, String> {
    let mut r = Reader { rest: raw };
    let version = r.u8()?;
    if version != VERSION {
        return Err(format!("unknown layout version {version}"));
    }
    let (priority, dead) = (r.u8()?, r.u8()?);
    let (attempt, requeues, redeliveries) = (r.u32()?, r.u32()?, r.u32()?);
    let (published_ms, order, due_ms, dead_ms) = (r.u64()?, r.u64()?, r.u64()?, r.u64()?);
    let (queue, id, reason) = (r.string()?, r.string()?, r.string()?);
    let message = Message {
        id,
        queue,
        body: Bytes::copy_from_slice(r.rest),
        priority,
        attempt,
        requeues,
        redeliveries,
        published_ms,
    };
    let state = if dead == 1 {
        State::Dead { reason, dead_ms }
    } else {
        State::Ready
    };
    Ok(Entry {
        message,
        order,
        due_ms,
        state,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_corruption() {
        let entry = Entry {
            message: Message {
                id: "task-1".to_owned(),
                queue: "q".to_owned(),
                body: Bytes::from_static(b"{\"x\":1}"),
                priority: 7,
                attempt: 3,
                requeues: 2,
                redeliveries: 1,
                published_ms: 123,
            },
            order: 9,
            due_ms: 456,
            state: State::Dead {
                reason: "bad".to_owned(),
                dead_ms: 789,
            },
        };
        let raw = encode(&entry);
        assert_eq!(decode(1, &raw).expect("what encode wrote decodes"), entry);
        let err = decode(5, &raw[..20]).expect_err("truncated data is refused");
        assert!(err.to_string().contains("#5"), "{err}");
    }
}

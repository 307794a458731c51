//! Task key-value namespaces (`wasmboost:task/kv`): one namespace per queue in the state store,
//! reached through one [`StateStore::kv`](crate::StateStore::kv) call that takes a [`KvOp`].
//!
//! The rules every store follows are written here once: what each operation does
//! ([`decide`]), how a namespace's size is counted ([`entry_bytes`]) and when a write is
//! refused by its [`KvQuota`] ([`KvRefusal`]). In-process stores keep a [`Namespace`]; the
//! networked stores call [`decide`] inside their own atomic step (Redis mirrors it in a script).
//!
//! - [`namespace`]: [`Namespace`], the in-memory namespace of the memory and embedded stores.

pub mod namespace;

use std::time::Duration;

use bytes::Bytes;
use thiserror::Error;

use crate::error::StateError;

pub use namespace::Namespace;

/// One operation on a queue's namespace. The queue is passed beside it by the host (the
/// invocation's own queue), never by the task, so no key can name another queue's namespace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KvOp<'a> {
    /// The value under `key`, if any and not expired.
    Get { key: &'a str },
    /// Store `value` under `key`, replacing any value (and its expiry); it expires after `ttl`
    /// when given.
    Set {
        key: &'a str,
        value: &'a [u8],
        ttl: Option<Duration>,
    },
    /// Remove `key`.
    Delete { key: &'a str },
    /// Add `delta` to the decimal integer under `key` (absent counts as 0); the key keeps its
    /// expiry.
    Increment { key: &'a str, delta: i64 },
    /// Store `value` only if the current value is `expected` (`None`: only if absent); the key
    /// keeps its expiry.
    CompareAndSwap {
        key: &'a str,
        expected: Option<&'a [u8]>,
        value: &'a [u8],
    },
}

impl<'a> KvOp<'a> {
    /// The key the operation works on.
    pub fn key(&self) -> &'a str {
        match *self {
            KvOp::Get { key }
            | KvOp::Set { key, .. }
            | KvOp::Delete { key }
            | KvOp::Increment { key, .. }
            | KvOp::CompareAndSwap { key, .. } => key,
        }
    }
}

/// What a [`KvOp`] answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KvReply {
    /// [`KvOp::Get`]: the value.
    Value(Option<Bytes>),
    /// [`KvOp::Set`] stored its value.
    Stored,
    /// [`KvOp::Delete`]: whether the key existed.
    Deleted(bool),
    /// [`KvOp::Increment`]: the new value.
    Counted(i64),
    /// [`KvOp::CompareAndSwap`]: whether the value was stored.
    Swapped(bool),
}

/// The limits of one queue's namespace (from its `grants`). Sizes count keys and values
/// ([`entry_bytes`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KvQuota {
    /// Keys the namespace may hold.
    pub max_keys: u64,
    /// Bytes one value may have.
    pub max_value_bytes: u64,
    /// Bytes the namespace may hold, keys and values.
    pub max_total_bytes: u64,
}

/// Why an operation was refused; the namespace is unchanged.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum KvRefusal {
    #[error("a value of {size} bytes is over the kv limit of {max} bytes per value")]
    ValueTooLarge { size: u64, max: u64 },
    #[error("the kv namespace holds its quota of {max} keys")]
    TooManyKeys { max: u64 },
    #[error("the kv namespace would hold {would} bytes, over its quota of {max} bytes")]
    OverTotal { would: u64, max: u64 },
    #[error("the value under kv key {key:?} is not a decimal integer")]
    NotInteger { key: String },
    #[error("adding {delta} to kv key {key:?} overflows a 64-bit integer")]
    Overflow { key: String, delta: i64 },
}

/// Why [`StateStore::kv`](crate::StateStore::kv) did not answer.
#[derive(Debug, Error)]
pub enum KvError {
    /// The operation breaks a rule or a quota (the task's own doing).
    #[error(transparent)]
    Refused(#[from] KvRefusal),
    /// The store failed (unreachable, broken).
    #[error(transparent)]
    Store(#[from] StateError),
}

/// What a store must do after [`decide`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KvChange {
    /// Nothing to write.
    None,
    /// Store `value` under the key with `expiry`.
    Put { value: Bytes, expiry: Expiry },
    /// Remove the key.
    Delete,
}

/// The expiry a write gives its key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expiry {
    /// Keep the key's current expiry (none if it is new).
    Keep,
    /// Never expires.
    Never,
    /// Expires this long after the write.
    After(Duration),
}

/// How much a namespace holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    pub keys: u64,
    pub bytes: u64,
}

/// What one entry counts against the namespace's byte quota: its key and its value.
pub fn entry_bytes(key: &str, value: &[u8]) -> u64 {
    (key.len() as u64).saturating_add(value.len() as u64)
}

/// The answer to `op` and the change to make, given the key's current (live) value and the
/// namespace's usage (live entries only), or the refusal. Every store applies operations
/// through this function (or, for Redis, a script that mirrors it).
pub fn decide(
    op: &KvOp<'_>,
    current: Option<&[u8]>,
    usage: Usage,
    quota: &KvQuota,
) -> Result<(KvReply, KvChange), KvRefusal> {
    let key = op.key();
    match *op {
        KvOp::Get { .. } => Ok((
            KvReply::Value(current.map(Bytes::copy_from_slice)),
            KvChange::None,
        )),
        KvOp::Delete { .. } => {
            let change = if current.is_some() {
                KvChange::Delete
            } else {
                KvChange::None
            };
            Ok((KvReply::Deleted(current.is_some()), change))
        }
        KvOp::Set { value, ttl, .. } => {
            check_put(key, current, value, usage, quota)?;
            let expiry = ttl.map_or(Expiry::Never, Expiry::After);
            let value = Bytes::copy_from_slice(value);
            Ok((KvReply::Stored, KvChange::Put { value, expiry }))
        }
        KvOp::Increment { delta, .. } => {
            let now = match current {
                None => 0,
                Some(raw) => parse_integer(raw).ok_or_else(|| KvRefusal::NotInteger {
                    key: key.to_owned(),
                })?,
            };
            let next = now.checked_add(delta).ok_or_else(|| KvRefusal::Overflow {
                key: key.to_owned(),
                delta,
            })?;
            let value = Bytes::from(next.to_string());
            check_put(key, current, &value, usage, quota)?;
            let expiry = Expiry::Keep;
            Ok((KvReply::Counted(next), KvChange::Put { value, expiry }))
        }
        KvOp::CompareAndSwap {
            expected, value, ..
        } => {
            if current != expected {
                return Ok((KvReply::Swapped(false), KvChange::None));
            }
            check_put(key, current, value, usage, quota)?;
            let value = Bytes::copy_from_slice(value);
            let expiry = Expiry::Keep;
            Ok((KvReply::Swapped(true), KvChange::Put { value, expiry }))
        }
    }
}

/// A stored counter in the form increments write: `0`, or an optional `-` and digits without a
/// leading zero, within a 64-bit integer (the form Redis's own integer parsing accepts, so every
/// store agrees on which values count).
pub fn parse_integer(raw: &[u8]) -> Option<i64> {
    let text = std::str::from_utf8(raw).ok()?;
    let digits = text.strip_prefix('-').unwrap_or(text);
    let canonical = text == "0"
        || (digits
            .bytes()
            .next()
            .is_some_and(|b| (b'1'..=b'9').contains(&b))
            && digits.bytes().all(|b| b.is_ascii_digit()));
    if !canonical {
        return None;
    }
    text.parse().ok()
}

/// Whether writing `value` under `key` (replacing `current`) stays within `quota`. A write that
/// does not grow the namespace is always allowed (a quota lowered below the usage still lets
/// tasks shrink it).
fn check_put(
    key: &str,
    current: Option<&[u8]>,
    value: &[u8],
    usage: Usage,
    quota: &KvQuota,
) -> Result<(), KvRefusal> {
    let size = value.len() as u64;
    if size > quota.max_value_bytes {
        return Err(KvRefusal::ValueTooLarge {
            size,
            max: quota.max_value_bytes,
        });
    }
    if current.is_none() && usage.keys >= quota.max_keys {
        return Err(KvRefusal::TooManyKeys {
            max: quota.max_keys,
        });
    }
    let old = current.map_or(0, |c| entry_bytes(key, c));
    let new = entry_bytes(key, value);
    let would = usage.bytes.saturating_sub(old).saturating_add(new);
    if new > old && would > quota.max_total_bytes {
        return Err(KvRefusal::OverTotal {
            would,
            max: quota.max_total_bytes,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const QUOTA: KvQuota = KvQuota {
        max_keys: 2,
        max_value_bytes: 8,
        max_total_bytes: 20,
    };

    #[test]
    fn increments_parse_strictly() {
        assert_eq!(parse_integer(b"-12"), Some(-12));
        assert_eq!(parse_integer(b"0"), Some(0));
        for bad in [
            &b""[..],
            b"+1",
            b" 1",
            b"1.0",
            b"-",
            b"x",
            b"01",
            b"-0",
            b"99999999999999999999",
        ] {
            assert_eq!(parse_integer(bad), None, "{bad:?}");
        }
        let op = KvOp::Increment { key: "k", delta: 1 };
        let err = decide(&op, Some(b"abc"), Usage::default(), &QUOTA).expect_err("text");
        assert!(matches!(err, KvRefusal::NotInteger { .. }));
        let max = i64::MAX.to_string();
        let err = decide(&op, Some(max.as_bytes()), Usage::default(), &QUOTA).expect_err("max");
        assert!(matches!(err, KvRefusal::Overflow { .. }));
    }

    #[test]
    fn quotas_refuse_growth_only() {
        let set = |value: &'static [u8]| KvOp::Set {
            key: "k",
            value,
            ttl: None,
        };
        let full = Usage { keys: 2, bytes: 10 };
        let err = decide(&set(b"v"), None, full, &QUOTA).expect_err("keys");
        assert_eq!(err, KvRefusal::TooManyKeys { max: 2 });
        assert!(
            decide(&set(b"v"), Some(b"w"), full, &QUOTA).is_ok(),
            "replace"
        );
        let err = decide(&set(b"123456789"), None, Usage::default(), &QUOTA).expect_err("size");
        assert!(matches!(err, KvRefusal::ValueTooLarge { size: 9, .. }));
        let big = Usage { keys: 1, bytes: 20 };
        let err = decide(&set(b"ab"), Some(b"a"), big, &QUOTA).expect_err("total");
        assert_eq!(
            err,
            KvRefusal::OverTotal {
                would: 20 + 1,
                max: 20
            }
        );
        let over = Usage { keys: 1, bytes: 30 };
        assert!(
            decide(&set(b"a"), Some(b"abcd"), over, &QUOTA).is_ok(),
            "shrink"
        );
    }

    #[test]
    fn compare_and_swap_compares() {
        let op = KvOp::CompareAndSwap {
            key: "k",
            expected: None,
            value: b"v",
        };
        let (reply, _) = decide(&op, Some(b"x"), Usage::default(), &QUOTA).expect("ok");
        assert_eq!(reply, KvReply::Swapped(false));
        let (reply, change) = decide(&op, None, Usage::default(), &QUOTA).expect("ok");
        assert_eq!(reply, KvReply::Swapped(true));
        assert!(matches!(
            change,
            KvChange::Put {
                expiry: Expiry::Keep,
                ..
            }
        ));
    }
}

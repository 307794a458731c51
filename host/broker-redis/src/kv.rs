//! Task key-value namespaces on Redis: each operation is one run of the `KV` script
//! (`lua/kv.lua`), so increments and compare-and-swaps are atomic across every host sharing the
//! server, expiry is on the Redis clock, and a quota counts live keys only. The script mirrors
//! `wasmboost_broker::kv::decide`; this file only encodes its arguments and decodes its reply.

use redis::Value;
use wasmboost_broker::kv::KvRefusal;
use wasmboost_broker::{KvError, KvOp, KvQuota, KvReply, StateError};

use crate::conn::Conn;
use crate::error::state_err;
use crate::keys::Keys;
use crate::scripts::KV;

/// Run `op` on `queue`'s namespace.
pub(crate) async fn apply(
    conn: &Conn,
    keys: &Keys,
    queue: &str,
    op: KvOp<'_>,
    quota: &KvQuota,
) -> Result<KvReply, KvError> {
    let mut inv = KV.prepare_invoke();
    for key in keys.kv(queue) {
        inv.key(key);
    }
    let (name, value, ttl, expected, delta): (&str, &[u8], String, Vec<u8>, i64) = match op {
        KvOp::Get { .. } => ("get", b"", String::new(), Vec::new(), 0),
        KvOp::Delete { .. } => ("delete", b"", String::new(), Vec::new(), 0),
        KvOp::Set { value, ttl, .. } => {
            let ttl = ttl.map_or(String::new(), |t| t.as_millis().max(1).to_string());
            ("set", value, ttl, Vec::new(), 0)
        }
        KvOp::Increment { delta, .. } => ("incr", b"", String::new(), Vec::new(), delta),
        KvOp::CompareAndSwap {
            expected, value, ..
        } => {
            // `v` + bytes: an empty expected value stays apart from "absent" ('').
            let expected = expected.map_or(Vec::new(), |e| [b"v", e].concat());
            ("cas", value, String::new(), expected, 0)
        }
    };
    inv.arg(name)
        .arg(op.key())
        .arg(value)
        .arg(ttl)
        .arg(expected)
        .arg(delta)
        .arg(quota.max_keys)
        .arg(quota.max_value_bytes)
        .arg(quota.max_total_bytes);
    let reply: Vec<Value> = inv
        .invoke_async(&mut conn.manager())
        .await
        .map_err(state_err)?;
    decode(&reply, op.key(), delta)
}

fn text(v: Option<&Value>) -> Option<Vec<u8>> {
    match v? {
        Value::BulkString(b) => Some(b.clone()),
        Value::SimpleString(s) => Some(s.clone().into_bytes()),
        Value::Int(n) => Some(n.to_string().into_bytes()),
        _ => None,
    }
}

fn number(v: Option<&Value>) -> Option<i64> {
    wasmboost_broker::kv::parse_integer(&text(v)?)
}

fn decode(reply: &[Value], key: &str, delta: i64) -> Result<KvReply, KvError> {
    let bad = || {
        KvError::Store(StateError::Backend(format!(
            "redis: the kv script answered {reply:?} for key {key:?}"
        )))
    };
    let tag = text(reply.first()).ok_or_else(bad)?;
    let flag = || text(reply.get(1)).map(|f| f == b"1").ok_or_else(bad);
    let at = |i| number(reply.get(i)).and_then(|n| u64::try_from(n).ok());
    Ok(match &tag[..] {
        b"value" => KvReply::Value(Some(text(reply.get(1)).ok_or_else(bad)?.into())),
        b"none" => KvReply::Value(None),
        b"stored" => KvReply::Stored,
        b"deleted" => KvReply::Deleted(flag()?),
        b"swapped" => KvReply::Swapped(flag()?),
        b"counted" => KvReply::Counted(number(reply.get(1)).ok_or_else(bad)?),
        b"refused" => return Err(refusal(reply, key, delta, at).ok_or_else(bad)?.into()),
        _ => return Err(bad()),
    })
}

fn refusal(
    reply: &[Value],
    key: &str,
    delta: i64,
    at: impl Fn(usize) -> Option<u64>,
) -> Option<KvRefusal> {
    let key = key.to_owned();
    Some(match &text(reply.get(1))?[..] {
        b"value" => KvRefusal::ValueTooLarge {
            size: at(2)?,
            max: at(3)?,
        },
        b"keys" => KvRefusal::TooManyKeys { max: at(2)? },
        b"total" => KvRefusal::OverTotal {
            would: at(2)?,
            max: at(3)?,
        },
        b"integer" => KvRefusal::NotInteger { key },
        b"overflow" => KvRefusal::Overflow { key, delta },
        _ => return None,
    })
}

//! Task key-value namespaces on PostgreSQL: each operation is one call of the function
//! `wasmboost.kv` (schema version 4), atomic in the database and on its clock, so every host
//! sharing the database sees one namespace per queue. This file encodes the call and decodes
//! its answer.

use wasmboost_broker::kv::KvRefusal;
use wasmboost_broker::{KvError, KvOp, KvQuota, KvReply, StateError};

use crate::pool::Db;

const KV: &str = "SELECT tag, val, a, b FROM wasmboost.kv($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)";

/// The call's operation arguments: name, value, TTL in ms, expected value, delta.
type Args<'a> = (
    &'a str,
    Option<&'a [u8]>,
    Option<i64>,
    Option<&'a [u8]>,
    i64,
);

/// Bytes of a quota as the database's `bigint` (a quota past it is no limit anyway).
fn big(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// Run `op` on `queue`'s namespace.
pub(crate) async fn apply(
    db: &Db,
    queue: &str,
    op: KvOp<'_>,
    quota: &KvQuota,
) -> Result<KvReply, KvError> {
    let (name, value, ttl, expected, delta): Args<'_> = match op {
        KvOp::Get { .. } => ("get", None, None, None, 0),
        KvOp::Delete { .. } => ("delete", None, None, None, 0),
        KvOp::Set { value, ttl, .. } => {
            let ttl = ttl.map(|t| big(u64::try_from(t.as_millis()).unwrap_or(u64::MAX)).max(1));
            ("set", Some(value), ttl, None, 0)
        }
        KvOp::Increment { delta, .. } => ("incr", None, None, None, delta),
        KvOp::CompareAndSwap {
            expected, value, ..
        } => ("cas", Some(value), None, expected, 0),
    };
    let key = op.key().as_bytes();
    let (max_keys, max_value, max_total) = (
        big(quota.max_keys),
        big(quota.max_value_bytes),
        big(quota.max_total_bytes),
    );
    let client = db.client().await.map_err(StateError::from)?;
    let row = client
        .query_one(
            KV,
            &[
                &queue, &name, &key, &value, &ttl, &expected, &delta, &max_keys, &max_value,
                &max_total,
            ],
        )
        .await
        .map_err(|e| {
            let text = format!("postgres kv of queue {queue:?}: {e}");
            if e.is_connection() {
                StateError::Unavailable(text)
            } else {
                StateError::Backend(text)
            }
        })?;
    let tag: String = row.get(0);
    let val: Option<Vec<u8>> = row.get(1);
    let (a, b): (Option<i64>, Option<i64>) = (row.get(2), row.get(3));
    let n = |v: Option<i64>| v.and_then(|v| u64::try_from(v).ok()).unwrap_or(0);
    let key = op.key().to_owned();
    Ok(match tag.as_str() {
        "value" => KvReply::Value(val.map(Into::into)),
        "none" => KvReply::Value(None),
        "stored" => KvReply::Stored,
        "deleted" => KvReply::Deleted(a == Some(1)),
        "swapped" => KvReply::Swapped(a == Some(1)),
        "counted" => KvReply::Counted(a.unwrap_or(0)),
        "refused-value" => {
            return Err(KvRefusal::ValueTooLarge {
                size: n(a),
                max: n(b),
            }
            .into());
        }
        "refused-keys" => return Err(KvRefusal::TooManyKeys { max: n(a) }.into()),
        "refused-total" => {
            return Err(KvRefusal::OverTotal {
                would: n(a),
                max: n(b),
            }
            .into());
        }
        "refused-integer" => return Err(KvRefusal::NotInteger { key }.into()),
        "refused-overflow" => return Err(KvRefusal::Overflow { key, delta }.into()),
        other => {
            return Err(StateError::Backend(format!(
                "postgres kv answered {other:?} for key {key:?}"
            ))
            .into());
        }
    })
}

//! Task key-value namespaces of the embedded store. The process that owns the data directory
//! keeps each namespace in memory ([`Namespace`], loaded from the `task_kv` table on first use)
//! and writes every change through the writer. An operation is decided under one lock (so
//! increments and compare-and-swaps never interleave) and answered only once its change is
//! committed and fsynced, so an answer the task saw survives `kill -9`.
//!
//! Rows are keyed `queue \0 key` (a queue name has no NUL, so no key of one queue can spell a
//! row of another); a value is its expiry (u64 little-endian, [`NEVER`] for none), then the
//! bytes.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::sync::{Mutex, MutexGuard, PoisonError};

use bytes::Bytes;
use redb::ReadableDatabase;

use super::Shared;
use super::counters::row_key;
use super::tables::Kv;
use super::writer::Op;
use crate::error::StateError;
use crate::kv::namespace::{Entry as Stored, Written};
use crate::kv::{KvError, KvOp, KvQuota, KvReply, Namespace};
use crate::message::now_ms;

/// The stored expiry of a key that never expires.
const NEVER: u64 = u64::MAX;

/// Every namespace loaded so far, by queue.
#[derive(Debug, Default)]
pub(crate) struct Namespaces(Mutex<HashMap<String, Namespace>>);

impl Namespaces {
    fn lock(&self) -> MutexGuard<'_, HashMap<String, Namespace>> {
        // `Namespace::apply` changes its maps only after deciding: a panic leaves them whole.
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Apply `op` to `queue`'s namespace; see the module docs.
    pub(crate) async fn apply(
        &self,
        shared: &Shared,
        queue: &str,
        op: KvOp<'_>,
        quota: &KvQuota,
    ) -> Result<KvReply, KvError> {
        let (reply, durable) = {
            let mut all = self.lock();
            let ns = match all.entry(queue.to_owned()) {
                Entry::Occupied(slot) => slot.into_mut(),
                Entry::Vacant(slot) => slot.insert(load(shared, queue)?),
            };
            let (reply, written) = ns.apply(&op, quota, now_ms())?;
            let durable = written.iter().any(|(key, _)| key == op.key());
            // Sent under the lock: the writer commits changes in the order they were decided.
            for change in written {
                shared.send(op_for(queue, change));
            }
            (reply, durable)
        };
        if durable {
            shared.barrier().await.map_err(StateError::Backend)?;
        }
        Ok(reply)
    }
}

fn op_for(queue: &str, (key, entry): Written) -> Op {
    let (table, key) = (Kv::Namespaces, row_key(queue, &key));
    match entry {
        None => Op::DeleteKv { table, key },
        Some(entry) => Op::PutKv {
            table,
            key,
            value: encode(&entry),
        },
    }
}

fn encode(entry: &Stored) -> Vec<u8> {
    let mut value = Vec::with_capacity(8 + entry.value.len());
    value.extend_from_slice(&entry.expires_ms.unwrap_or(NEVER).to_le_bytes());
    value.extend_from_slice(&entry.value);
    value
}

fn decode(raw: &[u8]) -> Option<Stored> {
    let (head, value) = raw.split_first_chunk::<8>()?;
    let at = u64::from_le_bytes(*head);
    Some(Stored {
        value: Bytes::copy_from_slice(value),
        expires_ms: (at != NEVER).then_some(at),
    })
}

/// `queue`'s committed rows. Changes are only ever made through the loaded namespace, so
/// nothing of this queue is pending in the writer while it was not loaded.
fn load(shared: &Shared, queue: &str) -> Result<Namespace, StateError> {
    let fail = |e: redb::Error| {
        StateError::Backend(format!(
            "embedded database: reading kv of queue {queue:?}: {e}"
        ))
    };
    let txn = shared.db.begin_read().map_err(|e| fail(e.into()))?;
    let rows = txn
        .open_table(Kv::Namespaces.table())
        .map_err(|e| fail(e.into()))?;
    let (start, end) = (row_key(queue, ""), format!("{queue}\u{1}"));
    let mut entries = Vec::new();
    for row in rows
        .range(start.as_str()..end.as_str())
        .map_err(|e| fail(e.into()))?
    {
        let (key, value) = row.map_err(|e| fail(e.into()))?;
        let Some(key) = key.value().strip_prefix(start.as_str()) else {
            continue;
        };
        if let Some(entry) = decode(value.value()) {
            entries.push((key.to_owned(), entry));
        }
    }
    Ok(Namespace::from_entries(entries, now_ms()))
}

//! [`EmbeddedStore`]: the state store in the embedded broker's database.
//!
//! Task records and dedup marks are written lazily (visible at once through the pending
//! overlay, committed with the writer's next batch); pause flags, modules and bindings are
//! durable before their call returns, and so are API tokens and audit entries. Counters are kept in memory and written through; host
//! heartbeats are in memory only (one process owns the directory).

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use redb::{ReadableDatabase, ReadableTable};

use super::Shared;
use super::counters::{Count, Counters, row_key};
use super::kv::Namespaces;
use super::tables::{Kv, NOT_TERMINAL, PROGRESS, TERMINAL, audit_key, expires_ms};
use super::writer::Op;
use crate::error::StateError;
use crate::kv::{KvError, KvOp, KvQuota, KvReply};
use crate::message::{ms_after, now_ms};
use crate::state::StateStore;
use crate::waiters::Waiters;

/// The state store of a data directory; see [`super::open`].
#[derive(Debug)]
pub struct EmbeddedStore {
    pub(super) shared: Arc<Shared>,
    counters: Arc<Counters>,
    hosts: Mutex<HashMap<String, (Bytes, u64)>>,
    waiters: Waiters,
    /// Orders audit entries appended within the same millisecond.
    audit_seq: AtomicU64,
    /// Task key-value namespaces (see `embedded::kv`).
    kv: Namespaces,
    /// Makes a join's read-fill-write one step (one process owns the directory).
    joins: Mutex<()>,
}

/// The record key of a workflow join (a space keeps it apart from every task id).
fn join_key(join: &str) -> String {
    format!("join {join}")
}

/// Dedup marks are keyed `queue \0 key`, like counter rows.
fn dedup_key(queue: &str, key: &str) -> String {
    row_key(queue, key)
}

fn backend(e: impl Into<redb::Error>) -> StateError {
    StateError::Backend(format!("embedded database read failed: {}", e.into()))
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Plain map updates: a panic elsewhere cannot leave them half-done.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl EmbeddedStore {
    pub(crate) fn new(shared: Arc<Shared>, counters: Arc<Counters>) -> Self {
        EmbeddedStore {
            shared,
            counters,
            hosts: Mutex::new(HashMap::new()),
            waiters: Waiters::default(),
            audit_seq: AtomicU64::new(0),
            kv: Namespaces::default(),
            joins: Mutex::new(()),
        }
    }

    /// The value of `key`: pending if written lately, else committed.
    fn read(&self, table: Kv, key: &str) -> Result<Option<Vec<u8>>, StateError> {
        if let Some(value) = self.shared.pending.get(table, key) {
            return Ok(Some(value.to_vec()));
        }
        let txn = self.shared.db.begin_read().map_err(backend)?;
        let rows = txn.open_table(table.table()).map_err(backend)?;
        Ok(rows.get(key).map_err(backend)?.map(|v| v.value().to_vec()))
    }

    /// Every key of `table`, committed.
    fn keys(&self, table: Kv) -> Result<Vec<String>, StateError> {
        let txn = self.shared.db.begin_read().map_err(backend)?;
        let rows = txn.open_table(table.table()).map_err(backend)?;
        let mut keys = Vec::new();
        for row in rows.iter().map_err(backend)? {
            keys.push(row.map_err(backend)?.0.value().to_owned());
        }
        Ok(keys)
    }

    /// Every row of `table`, committed, in key order.
    fn rows(&self, table: Kv) -> Result<Vec<(String, Vec<u8>)>, StateError> {
        let txn = self.shared.db.begin_read().map_err(backend)?;
        let rows = txn.open_table(table.table()).map_err(backend)?;
        let mut all = Vec::new();
        for row in rows.iter().map_err(backend)? {
            let (key, value) = row.map_err(backend)?;
            all.push((key.value().to_owned(), value.value().to_vec()));
        }
        Ok(all)
    }

    /// Write lazily: readers see it now, the writer commits it with its next batch.
    fn put_lazy(&self, table: Kv, key: &str, value: Vec<u8>) {
        self.shared.pending.set(table, key, value);
        self.shared.send(Op::Flush {
            table,
            key: key.to_owned(),
        });
    }

    async fn put_durable(&self, op: Op) -> Result<(), StateError> {
        self.shared.send(op);
        self.shared.barrier().await.map_err(StateError::Backend)
    }

    fn put_record_with(
        &self,
        task_id: &str,
        record: Bytes,
        kind: u8,
        ttl: Duration,
        count: Option<Count>,
    ) {
        let terminal = kind == TERMINAL;
        let mut value = Vec::with_capacity(9 + record.len());
        value.extend_from_slice(&ms_after(ttl).to_le_bytes());
        value.push(kind);
        value.extend_from_slice(&record);
        let table = Kv::Records;
        self.shared
            .pending
            .set_counted(table, task_id, value, count);
        self.shared.send(Op::Flush {
            table,
            key: task_id.to_owned(),
        });
        if terminal {
            self.waiters.wake(task_id, &record);
        }
    }

    /// The slots of the join stored under record key `key` (none once it expired).
    fn join_slots(&self, key: &str) -> Result<BTreeMap<u32, Bytes>, StateError> {
        match self.read(Kv::Records, key)? {
            Some(raw) if expires_ms(&raw) > now_ms() && raw.len() >= 9 => {
                Ok(crate::join::decode(&raw[9..]))
            }
            _ => Ok(BTreeMap::new()),
        }
    }

    /// A record that has not expired, and whether it is terminal.
    fn record(&self, task_id: &str) -> Result<Option<(Bytes, bool)>, StateError> {
        let Some(raw) = self.read(Kv::Records, task_id)? else {
            return Ok(None);
        };
        if expires_ms(&raw) <= now_ms() || raw.len() < 9 {
            return Ok(None);
        }
        let terminal = raw[8] == TERMINAL;
        Ok(Some((Bytes::copy_from_slice(&raw[9..]), terminal)))
    }
}

#[async_trait]
impl StateStore for EmbeddedStore {
    fn is_shared(&self) -> bool {
        false
    }

    async fn put_record(
        &self,
        task_id: &str,
        record: Bytes,
        terminal: bool,
        ttl: Duration,
    ) -> Result<(), StateError> {
        self.put_record_with(task_id, record, kind(terminal), ttl, None);
        Ok(())
    }

    /// One pending-map lock and one writer message for the whole batch.
    async fn put_records(
        &self,
        records: &[(String, Bytes)],
        ttl: Duration,
    ) -> Result<(), StateError> {
        let expires = ms_after(ttl).to_le_bytes();
        let values = records.iter().map(|(id, record)| {
            let mut value = Vec::with_capacity(9 + record.len());
            value.extend_from_slice(&expires);
            value.push(NOT_TERMINAL);
            value.extend_from_slice(record);
            (id.as_str(), value)
        });
        let table = Kv::Records;
        let keys = self.shared.pending.set_many(table, values);
        self.shared.send(Op::FlushMany { table, keys });
        Ok(())
    }

    /// Not written over a terminal record, in the writer's transaction (see `writer::flush`).
    async fn put_progress(
        &self,
        task_id: &str,
        record: Bytes,
        ttl: Duration,
    ) -> Result<(), StateError> {
        self.put_record_with(task_id, record, PROGRESS, ttl, None);
        Ok(())
    }

    /// The counts commit in the writer's transaction that stores the record, unless the stored
    /// record is terminal already (see `writer`).
    async fn put_record_counted(
        &self,
        task_id: &str,
        record: Bytes,
        terminal: bool,
        ttl: Duration,
        queue: &str,
        deltas: &[(&str, i64)],
    ) -> Result<bool, StateError> {
        let count = Count::new(queue, deltas);
        self.put_record_with(task_id, record, kind(terminal), ttl, Some(count));
        Ok(true)
    }

    async fn get_record(&self, task_id: &str) -> Result<Option<Bytes>, StateError> {
        Ok(self.record(task_id)?.map(|(record, _)| record))
    }

    async fn wait_terminal(
        &self,
        task_id: &str,
        timeout: Duration,
    ) -> Result<Option<Bytes>, StateError> {
        let lookup = || async { self.record(task_id) };
        self.waiters.wait(task_id, timeout, lookup).await
    }

    async fn dedup_seen(&self, queue: &str, key: &str) -> Result<bool, StateError> {
        let raw = self.read(Kv::Dedup, &dedup_key(queue, key))?;
        Ok(raw.is_some_and(|raw| expires_ms(&raw) > now_ms()))
    }

    async fn dedup_mark(&self, queue: &str, key: &str, ttl: Duration) -> Result<(), StateError> {
        let value = ms_after(ttl).to_le_bytes().to_vec();
        self.put_lazy(Kv::Dedup, &dedup_key(queue, key), value);
        Ok(())
    }

    async fn set_paused(&self, queue: &str, paused: bool) -> Result<(), StateError> {
        let (table, key) = (Kv::Paused, queue.to_owned());
        let op = if paused {
            Op::PutKv {
                table,
                key,
                value: Vec::new(),
            }
        } else {
            Op::DeleteKv { table, key }
        };
        self.put_durable(op).await
    }

    async fn paused_queues(&self) -> Result<Vec<String>, StateError> {
        self.keys(Kv::Paused)
    }

    async fn put_module(&self, sha256: &str, wasm: Bytes) -> Result<(), StateError> {
        let (table, key) = (Kv::Modules, sha256.to_owned());
        self.put_durable(Op::PutKv {
            table,
            key,
            value: wasm.to_vec(),
        })
        .await
    }

    async fn get_module(&self, sha256: &str) -> Result<Option<Bytes>, StateError> {
        Ok(self.read(Kv::Modules, sha256)?.map(Bytes::from))
    }

    async fn delete_module(&self, sha256: &str) -> Result<(), StateError> {
        let (table, key) = (Kv::Modules, sha256.to_owned());
        self.put_durable(Op::DeleteKv { table, key }).await
    }

    async fn put_binding(&self, queue: &str, binding: Bytes) -> Result<(), StateError> {
        let (table, key) = (Kv::Bindings, queue.to_owned());
        self.put_durable(Op::PutKv {
            table,
            key,
            value: binding.to_vec(),
        })
        .await
    }

    async fn get_binding(&self, queue: &str) -> Result<Option<Bytes>, StateError> {
        Ok(self.read(Kv::Bindings, queue)?.map(Bytes::from))
    }

    async fn bound_queues(&self) -> Result<Vec<String>, StateError> {
        self.keys(Kv::Bindings)
    }

    async fn add_counters(&self, queue: &str, deltas: &[(&str, i64)]) -> Result<(), StateError> {
        let count = Count::new(queue, deltas);
        self.counters.add(&count);
        self.shared.send(Op::AddCounters(count));
        Ok(())
    }

    async fn counters(&self, queue: &str) -> Result<BTreeMap<String, i64>, StateError> {
        Ok(self.counters.get(queue))
    }

    async fn heartbeat(&self, host_id: &str, info: Bytes, ttl: Duration) -> Result<(), StateError> {
        let mut hosts = lock(&self.hosts);
        let now = now_ms();
        hosts.retain(|_, (_, at)| *at > now);
        hosts.insert(host_id.to_owned(), (info, ms_after(ttl)));
        Ok(())
    }

    async fn live_hosts(&self) -> Result<Vec<Bytes>, StateError> {
        let now = now_ms();
        let hosts = lock(&self.hosts);
        let mut live: Vec<_> = hosts.iter().filter(|(_, (_, at))| *at > now).collect();
        live.sort_by(|a, b| a.0.cmp(b.0));
        Ok(live
            .into_iter()
            .map(|(_, (info, _))| info.clone())
            .collect())
    }

    async fn put_token(&self, id: &str, doc: Bytes) -> Result<(), StateError> {
        let (table, key) = (Kv::Tokens, id.to_owned());
        self.put_durable(Op::PutKv {
            table,
            key,
            value: doc.to_vec(),
        })
        .await
    }

    async fn delete_token(&self, id: &str) -> Result<bool, StateError> {
        if self.read(Kv::Tokens, id)?.is_none() {
            return Ok(false);
        }
        let (table, key) = (Kv::Tokens, id.to_owned());
        self.put_durable(Op::DeleteKv { table, key }).await?;
        Ok(true)
    }

    async fn tokens(&self) -> Result<BTreeMap<String, Bytes>, StateError> {
        let rows = self.rows(Kv::Tokens)?;
        Ok(rows.into_iter().map(|(k, v)| (k, Bytes::from(v))).collect())
    }

    async fn append_audit(&self, entry: Bytes, keep: usize) -> Result<(), StateError> {
        let seq = self.audit_seq.fetch_add(1, Ordering::Relaxed);
        let key = audit_key(now_ms(), seq);
        self.shared.send(Op::PutKv {
            table: Kv::Audit,
            key,
            value: entry.to_vec(),
        });
        self.shared.barrier().await.map_err(StateError::Backend)?;
        // Audit entries are rare (deploys, token changes): trimming by listing keys is cheap.
        let keys = self.keys(Kv::Audit)?;
        let excess = keys.len().saturating_sub(keep.max(1));
        if excess > 0 {
            for key in keys.into_iter().take(excess) {
                self.shared.send(Op::DeleteKv {
                    table: Kv::Audit,
                    key,
                });
            }
            self.shared.barrier().await.map_err(StateError::Backend)?;
        }
        Ok(())
    }

    /// Read, fill and write under one lock; the value is written lazily like a task record and
    /// so commits before anything the caller does after it through the same writer (the next
    /// stage's publish, the step's settle).
    async fn join_put(
        &self,
        join: &str,
        slot: u32,
        value: Bytes,
        ttl: Duration,
    ) -> Result<u32, StateError> {
        let key = join_key(join);
        let _one = lock(&self.joins);
        let mut slots = self.join_slots(&key)?;
        slots.entry(slot).or_insert(value);
        let mut stored = Vec::new();
        stored.extend_from_slice(&ms_after(ttl).to_le_bytes());
        stored.push(NOT_TERMINAL);
        stored.extend_from_slice(&crate::join::encode(&slots));
        self.put_lazy(Kv::Records, &key, stored);
        Ok(u32::try_from(slots.len()).unwrap_or(u32::MAX))
    }

    async fn join_values(&self, join: &str) -> Result<BTreeMap<u32, Bytes>, StateError> {
        self.join_slots(&join_key(join))
    }

    async fn audit(&self, limit: usize) -> Result<Vec<Bytes>, StateError> {
        let txn = self.shared.db.begin_read().map_err(backend)?;
        let rows = txn.open_table(Kv::Audit.table()).map_err(backend)?;
        let mut newest = Vec::new();
        for row in rows.iter().map_err(backend)?.rev().take(limit) {
            newest.push(Bytes::copy_from_slice(row.map_err(backend)?.1.value()));
        }
        Ok(newest)
    }

    async fn kv(&self, queue: &str, op: KvOp<'_>, quota: &KvQuota) -> Result<KvReply, KvError> {
        crate::validate_queue_name(queue).map_err(StateError::from)?;
        self.kv.apply(&self.shared, queue, op, quota).await
    }
}

/// The kind byte of a record that is terminal or not.
fn kind(terminal: bool) -> u8 {
    if terminal { TERMINAL } else { NOT_TERMINAL }
}

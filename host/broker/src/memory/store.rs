//! [`MemoryStore`]: the state store of the memory broker. Expiry is lazy on read plus a sweep
//! every few thousand writes, so memory stays bounded by what is live.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;

use crate::error::StateError;
use crate::kv::{KvError, KvOp, KvQuota, KvReply, Namespace};
use crate::message::{ms_after, now_ms};
use crate::state::StateStore;
use crate::waiters::Waiters;

/// Writes between two sweeps of expired records and dedup marks.
const SWEEP_EVERY: usize = 4096;

#[derive(Debug)]
struct Record {
    bytes: Bytes,
    terminal: bool,
    expires_ms: u64,
}

#[derive(Debug, Default)]
struct Inner {
    records: HashMap<String, Record>,
    dedup: HashMap<(String, String), u64>,
    paused: BTreeSet<String>,
    modules: HashMap<String, Bytes>,
    bindings: BTreeMap<String, Bytes>,
    counters: HashMap<String, BTreeMap<String, i64>>,
    hosts: HashMap<String, (Bytes, u64)>,
    tokens: BTreeMap<String, Bytes>,
    /// Newest first.
    audit: VecDeque<Bytes>,
    /// Task key-value namespaces by queue.
    kv: HashMap<String, Namespace>,
    /// Workflow joins: filled slots and expiry.
    joins: HashMap<String, (BTreeMap<u32, Bytes>, u64)>,
    writes: usize,
}

impl Inner {
    fn wrote(&mut self) {
        self.writes += 1;
        if self.writes.is_multiple_of(SWEEP_EVERY) {
            let now = now_ms();
            self.records.retain(|_, r| r.expires_ms > now);
            self.dedup.retain(|_, &mut at| at > now);
            self.hosts.retain(|_, (_, at)| *at > now);
            self.joins.retain(|_, (_, at)| *at > now);
        }
    }
}

/// A state store in process memory.
#[derive(Debug, Default)]
pub struct MemoryStore {
    inner: Mutex<Inner>,
    waiters: Waiters,
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // Each method leaves the maps consistent at every step; keep serving after a panic.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn record(&self, task_id: &str) -> Option<(Bytes, bool)> {
        let inner = self.lock();
        let r = inner.records.get(task_id)?;
        (r.expires_ms > now_ms()).then(|| (r.bytes.clone(), r.terminal))
    }
}

#[async_trait]
impl StateStore for MemoryStore {
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
        {
            let mut inner = self.lock();
            let stored = Record {
                bytes: record.clone(),
                terminal,
                expires_ms: ms_after(ttl),
            };
            inner.records.insert(task_id.to_owned(), stored);
            inner.wrote();
        }
        if terminal {
            self.waiters.wake(task_id, &record);
        }
        Ok(())
    }

    async fn get_record(&self, task_id: &str) -> Result<Option<Bytes>, StateError> {
        Ok(self.record(task_id).map(|(bytes, _)| bytes))
    }

    async fn wait_terminal(
        &self,
        task_id: &str,
        timeout: Duration,
    ) -> Result<Option<Bytes>, StateError> {
        let lookup = || async { Ok(self.record(task_id)) };
        self.waiters.wait(task_id, timeout, lookup).await
    }

    async fn dedup_seen(&self, queue: &str, key: &str) -> Result<bool, StateError> {
        let inner = self.lock();
        let at = inner.dedup.get(&(queue.to_owned(), key.to_owned()));
        Ok(at.is_some_and(|&at| at > now_ms()))
    }

    async fn dedup_mark(&self, queue: &str, key: &str, ttl: Duration) -> Result<(), StateError> {
        let mut inner = self.lock();
        let until = ms_after(ttl);
        inner
            .dedup
            .insert((queue.to_owned(), key.to_owned()), until);
        inner.wrote();
        Ok(())
    }

    async fn set_paused(&self, queue: &str, paused: bool) -> Result<(), StateError> {
        let mut inner = self.lock();
        if paused {
            inner.paused.insert(queue.to_owned());
        } else {
            inner.paused.remove(queue);
        }
        Ok(())
    }

    async fn paused_queues(&self) -> Result<Vec<String>, StateError> {
        Ok(self.lock().paused.iter().cloned().collect())
    }

    async fn put_module(&self, sha256: &str, wasm: Bytes) -> Result<(), StateError> {
        self.lock().modules.insert(sha256.to_owned(), wasm);
        Ok(())
    }

    async fn get_module(&self, sha256: &str) -> Result<Option<Bytes>, StateError> {
        Ok(self.lock().modules.get(sha256).cloned())
    }

    async fn delete_module(&self, sha256: &str) -> Result<(), StateError> {
        self.lock().modules.remove(sha256);
        Ok(())
    }

    async fn put_binding(&self, queue: &str, binding: Bytes) -> Result<(), StateError> {
        self.lock().bindings.insert(queue.to_owned(), binding);
        Ok(())
    }

    async fn get_binding(&self, queue: &str) -> Result<Option<Bytes>, StateError> {
        Ok(self.lock().bindings.get(queue).cloned())
    }

    async fn bound_queues(&self) -> Result<Vec<String>, StateError> {
        Ok(self.lock().bindings.keys().cloned().collect())
    }

    async fn add_counters(&self, queue: &str, deltas: &[(&str, i64)]) -> Result<(), StateError> {
        let mut inner = self.lock();
        let counters = inner.counters.entry(queue.to_owned()).or_default();
        for (name, delta) in deltas {
            let value = counters.entry((*name).to_owned()).or_default();
            *value = value.saturating_add(*delta);
        }
        Ok(())
    }

    async fn counters(&self, queue: &str) -> Result<BTreeMap<String, i64>, StateError> {
        Ok(self.lock().counters.get(queue).cloned().unwrap_or_default())
    }

    async fn heartbeat(&self, host_id: &str, info: Bytes, ttl: Duration) -> Result<(), StateError> {
        let mut inner = self.lock();
        inner
            .hosts
            .insert(host_id.to_owned(), (info, ms_after(ttl)));
        inner.wrote();
        Ok(())
    }

    async fn live_hosts(&self) -> Result<Vec<Bytes>, StateError> {
        let now = now_ms();
        let inner = self.lock();
        let mut live: Vec<_> = inner
            .hosts
            .iter()
            .filter(|(_, (_, at))| *at > now)
            .collect();
        live.sort_by(|a, b| a.0.cmp(b.0));
        Ok(live
            .into_iter()
            .map(|(_, (info, _))| info.clone())
            .collect())
    }

    async fn put_token(&self, id: &str, doc: Bytes) -> Result<(), StateError> {
        self.lock().tokens.insert(id.to_owned(), doc);
        Ok(())
    }

    async fn delete_token(&self, id: &str) -> Result<bool, StateError> {
        Ok(self.lock().tokens.remove(id).is_some())
    }

    async fn tokens(&self) -> Result<BTreeMap<String, Bytes>, StateError> {
        Ok(self.lock().tokens.clone())
    }

    async fn append_audit(&self, entry: Bytes, keep: usize) -> Result<(), StateError> {
        let mut inner = self.lock();
        inner.audit.push_front(entry);
        inner.audit.truncate(keep.max(1));
        Ok(())
    }

    async fn join_put(
        &self,
        join: &str,
        slot: u32,
        value: Bytes,
        ttl: Duration,
    ) -> Result<u32, StateError> {
        let mut inner = self.lock();
        let now = now_ms();
        let entry = inner
            .joins
            .entry(join.to_owned())
            .or_insert_with(|| (BTreeMap::new(), 0));
        if entry.1 <= now {
            entry.0.clear();
        }
        entry.0.entry(slot).or_insert(value);
        entry.1 = ms_after(ttl);
        let filled = u32::try_from(entry.0.len()).unwrap_or(u32::MAX);
        inner.wrote();
        Ok(filled)
    }

    async fn join_values(&self, join: &str) -> Result<BTreeMap<u32, Bytes>, StateError> {
        let inner = self.lock();
        Ok(match inner.joins.get(join) {
            Some((slots, at)) if *at > now_ms() => slots.clone(),
            _ => BTreeMap::new(),
        })
    }

    async fn audit(&self, limit: usize) -> Result<Vec<Bytes>, StateError> {
        Ok(self.lock().audit.iter().take(limit).cloned().collect())
    }

    /// Atomic under the store's one lock.
    async fn kv(&self, queue: &str, op: KvOp<'_>, quota: &KvQuota) -> Result<KvReply, KvError> {
        crate::validate_queue_name(queue).map_err(StateError::from)?;
        let mut inner = self.lock();
        let ns = inner.kv.entry(queue.to_owned()).or_default();
        let (reply, _) = ns.apply(&op, quota, now_ms())?;
        Ok(reply)
    }
}

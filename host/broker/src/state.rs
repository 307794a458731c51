//! The `StateStore` seam: what hosts keep next to their queues and a plain queue cannot hold.
//! Task records (status + result), dedup marks, pause flags, deployed modules and their bindings,
//! counters, host heartbeats, API tokens and the audit log and, for stores shared by several
//! hosts, a global rate limiter.
//!
//! Values are opaque bytes (the host serialises JSON); the store only keeps, expires and
//! notifies. The embedded store keeps them in the embedded broker's database; the Redis store in
//! Redis, so every host pointing at it shares them.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;

use crate::error::StateError;
use crate::kv::{KvError, KvOp, KvQuota, KvReply};

/// The record id under which the cancel mark of `task_id` is kept. A task id has no space
/// (`wasmboost_policy::names::TASK_ID_RULE`), so no task can own, overwrite or read this id
/// as its own record.
pub fn cancel_mark_id(task_id: &str) -> String {
    format!("cancel {task_id}")
}

/// The record id under which a single-host store keeps a schedule's last tick (a space keeps
/// it apart from every task id, as for [`cancel_mark_id`]).
fn schedule_last_id(schedule: &str) -> String {
    format!("schedule-last {schedule}")
}

/// How long a schedule's last tick is kept without a new one (a schedule firing less often
/// than this forgets its misfires).
pub const SCHEDULE_STATE_TTL: Duration = Duration::from_secs(400 * 86_400);

#[async_trait]
pub trait StateStore: Send + Sync + fmt::Debug + 'static {
    /// True when several hosts share this store (then `reserve_rate` is global and must be used
    /// for QPS instead of a host-local limiter).
    fn is_shared(&self) -> bool;

    // ---- task records -------------------------------------------------------------------

    /// Store the record of `task_id`, replacing any previous one, expiring after `ttl`. When
    /// `terminal` is true, wake every `wait_terminal` waiting on this task.
    async fn put_record(
        &self,
        task_id: &str,
        record: Bytes,
        terminal: bool,
        ttl: Duration,
    ) -> Result<(), StateError>;

    /// Many non-terminal records at once (a batch publish): by default each through
    /// [`StateStore::put_record`], concurrently; a store that can write them in one step does.
    async fn put_records(
        &self,
        records: &[(String, Bytes)],
        ttl: Duration,
    ) -> Result<(), StateError> {
        let puts = records
            .iter()
            .map(|(id, record)| self.put_record(id, record.clone(), false, ttl));
        futures::future::try_join_all(puts).await.map(|_| ())
    }

    /// A non-terminal progress record (`running`) that never replaces a terminal one: a task
    /// that runs again after a crash (its ending durable, its ack not) must not undo that ending,
    /// or the rerun's ending would be counted a second time. Stores that count in the record's
    /// step (see [`put_record_counted`](StateStore::put_record_counted)) must honour it; the
    /// default just puts the record.
    async fn put_progress(
        &self,
        task_id: &str,
        record: Bytes,
        ttl: Duration,
    ) -> Result<(), StateError> {
        self.put_record(task_id, record, false, ttl).await
    }

    /// [`put_record`](StateStore::put_record), and add `deltas` to `queue`'s counters **in the
    /// same durable step**, unless the stored record of `task_id` is terminal already (a task
    /// that ran again after a crash is counted once). Then the counters agree with the records
    /// after any crash. Returns `false` when this store cannot do that (the default: it only
    /// puts the record); the caller then counts through [`add_counters`](StateStore::add_counters).
    async fn put_record_counted(
        &self,
        task_id: &str,
        record: Bytes,
        terminal: bool,
        ttl: Duration,
        queue: &str,
        deltas: &[(&str, i64)],
    ) -> Result<bool, StateError> {
        let _ = (queue, deltas);
        self.put_record(task_id, record, terminal, ttl)
            .await
            .map(|()| false)
    }

    /// The current record of `task_id`, if any (and not expired).
    async fn get_record(&self, task_id: &str) -> Result<Option<Bytes>, StateError>;

    /// The record of `task_id` once it is terminal: at once if it already is, else as soon as a
    /// terminal record is put (by any host sharing the store), or `None` after `timeout`. Must
    /// not poll with sleeps.
    async fn wait_terminal(
        &self,
        task_id: &str,
        timeout: Duration,
    ) -> Result<Option<Bytes>, StateError>;

    // ---- dedup ----------------------------------------------------------------------------

    /// Whether `key` was marked on `queue` and has not expired.
    async fn dedup_seen(&self, queue: &str, key: &str) -> Result<bool, StateError>;

    /// Mark `key` on `queue` for `ttl`.
    async fn dedup_mark(&self, queue: &str, key: &str, ttl: Duration) -> Result<(), StateError>;

    // ---- pause flags (persisted) ----------------------------------------------------------

    async fn set_paused(&self, queue: &str, paused: bool) -> Result<(), StateError>;

    /// Every queue currently paused.
    async fn paused_queues(&self) -> Result<Vec<String>, StateError>;

    // ---- modules and bindings -------------------------------------------------------------

    /// Store a module's bytes under its sha256 (hex). Idempotent.
    async fn put_module(&self, sha256: &str, wasm: Bytes) -> Result<(), StateError>;

    /// A module's bytes by sha256 (hex). The caller verifies the hash.
    async fn get_module(&self, sha256: &str) -> Result<Option<Bytes>, StateError>;

    // ---- module collection (registry garbage collection) ---------------------------------

    /// Remove a module's bytes (no binding names it any more). Removing a missing module is
    /// not an error.
    async fn delete_module(&self, sha256: &str) -> Result<(), StateError>;

    /// Replace the binding document of `queue` (which versions exist, which one is current).
    /// Atomic: readers see the old or the new document, never a mix.
    async fn put_binding(&self, queue: &str, binding: Bytes) -> Result<(), StateError>;

    async fn get_binding(&self, queue: &str) -> Result<Option<Bytes>, StateError>;

    /// Every queue with a binding.
    async fn bound_queues(&self) -> Result<Vec<String>, StateError>;

    // ---- counters and hosts ---------------------------------------------------------------

    /// Add to named counters of `queue` (e.g. `succeeded`, `failed`). Counters never expire.
    async fn add_counters(&self, queue: &str, deltas: &[(&str, i64)]) -> Result<(), StateError>;

    /// All counters of `queue`.
    async fn counters(&self, queue: &str) -> Result<BTreeMap<String, i64>, StateError>;

    /// Record that `host_id` is alive, with an opaque description, for `ttl`.
    async fn heartbeat(&self, host_id: &str, info: Bytes, ttl: Duration) -> Result<(), StateError>;

    /// Descriptions of hosts whose heartbeat has not expired.
    async fn live_hosts(&self) -> Result<Vec<Bytes>, StateError>;

    // ---- API tokens and the audit log ------------------------------------------------------

    /// Store (or replace) the document of API token `id`. The host serialises it (it holds only
    /// a hash of the secret, never the secret). Durable before it returns, and visible to every
    /// host sharing the store.
    async fn put_token(&self, id: &str, doc: Bytes) -> Result<(), StateError>;

    /// Delete token `id`. Returns whether it existed.
    async fn delete_token(&self, id: &str) -> Result<bool, StateError>;

    /// Every token document, by id.
    async fn tokens(&self) -> Result<BTreeMap<String, Bytes>, StateError>;

    /// Append one audit entry (opaque bytes), then keep only the newest `keep` entries (at
    /// least the one just appended).
    async fn append_audit(&self, entry: Bytes, keep: usize) -> Result<(), StateError>;

    /// Up to `limit` audit entries, newest first.
    async fn audit(&self, limit: usize) -> Result<Vec<Bytes>, StateError>;

    // ---- cancel by id ----------------------------------------------------------------------
    //
    // A cancel mark is a terminal record under a reserved id (see [`cancel_mark_id`]), so every
    // store keeps it, expires it and notifies its waiters with the machinery it already has for
    // task records; on a shared store the host running the task hears about it through the
    // store's notification channel (Redis pub/sub).

    /// Ask for `task_id` to be cancelled: a mark kept for `ttl` that every host sharing the
    /// store checks before running the task, and that wakes [`wait_cancel`](StateStore::wait_cancel).
    async fn request_cancel(&self, task_id: &str, ttl: Duration) -> Result<(), StateError> {
        let mark = cancel_mark_id(task_id);
        self.put_record(&mark, Bytes::from_static(b"{}"), true, ttl)
            .await
    }

    /// Whether a cancel of `task_id` was requested (and its mark has not expired).
    async fn cancel_requested(&self, task_id: &str) -> Result<bool, StateError> {
        let mark = cancel_mark_id(task_id);
        Ok(self.get_record(&mark).await?.is_some())
    }

    /// For each of `task_ids`, whether a cancel of it was requested: the one look a fetched batch
    /// needs before its tasks start (a networked store answers in one round trip; the default
    /// asks for each, which suits the in-process stores).
    async fn cancels_among(&self, task_ids: &[&str]) -> Result<Vec<bool>, StateError> {
        let mut out = Vec::with_capacity(task_ids.len());
        for id in task_ids {
            out.push(self.cancel_requested(id).await?);
        }
        Ok(out)
    }

    /// True as soon as a cancel of `task_id` is requested (at once if it already was), by any
    /// host sharing the store; `false` after `timeout`. Must not poll with sleeps.
    async fn wait_cancel(&self, task_id: &str, timeout: Duration) -> Result<bool, StateError> {
        let mark = cancel_mark_id(task_id);
        Ok(self.wait_terminal(&mark, timeout).await?.is_some())
    }

    // ---- schedules: one firing host ------------------------------------------------------

    /// Hold (acquire, or renew while held) the leader lease `lease` as `holder` for `ttl`.
    /// Returns the fencing token of the holder's tenure while it holds the lease (each new
    /// tenure's token is greater than every earlier one), `None` while another holder does.
    /// The default suits a store only one host uses: that host always leads.
    async fn lead(
        &self,
        lease: &str,
        holder: &str,
        ttl: Duration,
    ) -> Result<Option<u64>, StateError> {
        let _ = (lease, holder, ttl);
        Ok(Some(1))
    }

    /// Record that `schedule` fired its tick `tick_ms`, in one atomic step, only if `token`
    /// still holds `lease` and the schedule's last tick is older. `false` means: do not fire
    /// (a fenced-out leader, or the tick was fired already). The default suits a store only one
    /// host uses (one firing loop, so read-then-write is not raced).
    async fn claim_tick(
        &self,
        lease: &str,
        token: u64,
        schedule: &str,
        tick_ms: u64,
    ) -> Result<bool, StateError> {
        let _ = (lease, token);
        if self
            .last_tick(schedule)
            .await?
            .is_some_and(|last| last >= tick_ms)
        {
            return Ok(false);
        }
        let id = schedule_last_id(schedule);
        let value = Bytes::from(tick_ms.to_string());
        self.put_record(&id, value, false, SCHEDULE_STATE_TTL)
            .await?;
        Ok(true)
    }

    /// The last tick `schedule` fired or passed over (ms since the Unix epoch), if any.
    async fn last_tick(&self, schedule: &str) -> Result<Option<u64>, StateError> {
        let stored = self.get_record(&schedule_last_id(schedule)).await?;
        Ok(stored.and_then(|b| std::str::from_utf8(&b).ok()?.parse().ok()))
    }

    // ---- task key-value namespaces ----------------------------------------------------------

    /// Apply `op` to `queue`'s key-value namespace (`wasmboost:task/kv`), atomically (an
    /// increment or compare-and-swap is never lost to a concurrent one, by any host sharing the
    /// store), within `quota`. Keys of different queues never meet: `queue` is the host's (the
    /// invocation's own queue), whatever bytes the key holds. Expired keys read as absent and
    /// count against no quota. The rules are [`crate::kv::decide`]'s. The default refuses, for
    /// a store that does not keep namespaces yet.
    async fn kv(&self, queue: &str, op: KvOp<'_>, quota: &KvQuota) -> Result<KvReply, KvError> {
        let _ = (queue, op, quota);
        Err(StateError::Unsupported("task key-value namespaces").into())
    }

    // ---- workflow joins --------------------------------------------------------------------
    //
    // A join is a small set of numbered slots, each written once: the results of a workflow
    // stage's members (slot = member index), or the marks of what a workflow has done. Filling
    // a slot and counting the filled ones is one atomic step, so exactly one writer sees the
    // join complete, and a second write of a slot (a step delivered twice) changes nothing.

    /// Put `value` in slot `slot` of join `join` unless that slot is filled already (the first
    /// value stays), and return how many slots are filled, in one atomic step. The join expires
    /// `ttl` after its last write.
    async fn join_put(
        &self,
        join: &str,
        slot: u32,
        value: Bytes,
        ttl: Duration,
    ) -> Result<u32, StateError> {
        let _ = (join, slot, value, ttl);
        Err(StateError::Unsupported("workflow joins"))
    }

    /// Every filled slot of `join` (none when it never existed or expired).
    async fn join_values(&self, join: &str) -> Result<BTreeMap<u32, Bytes>, StateError> {
        let _ = join;
        Err(StateError::Unsupported("workflow joins"))
    }

    // ---- global rate ----------------------------------------------------------------------

    /// Reserve one slot of `queue`'s global rate of `per_second` (GCRA: slots are evenly
    /// spaced, no bursts). Returns how long the caller must wait before using its slot (zero =
    /// now). The slot is reserved either way. Only shared stores need a real implementation.
    async fn reserve_rate(&self, queue: &str, per_second: f64) -> Result<Duration, StateError> {
        let _ = (queue, per_second);
        Err(StateError::Unsupported("global rate limiting"))
    }
}

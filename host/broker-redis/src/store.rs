//! [`RedisStore`]: the `StateStore` seam on Redis, shared by every host using the same server
//! and prefix: task records with TTLs and terminal notifications, dedup marks, pause flags,
//! modules and bindings, counters, host heartbeats, API tokens, the audit log and a global rate
//! limiter (GCRA in Lua).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use redis::AsyncCommands;
use tokio::time::Instant;
use wasmboost_broker::{
    KvError, KvOp, KvQuota, KvReply, StateError, StateStore, cancel_mark_id, now_ms,
    validate_queue_name,
};

use crate::config::RedisConfig;
use crate::conn::Conn;
use crate::error::{ConnectError, state_err};
use crate::keys::Keys;
use crate::notify::Notifier;
use crate::records::{Durable, RecordWrite, RecordWriter, WriteMode};
use crate::scripts::{CLAIM, LEAD, RATE};

/// First byte of a stored record: whether it is terminal.
pub(crate) const TERMINAL: u8 = b'T';
const RUNNING: u8 = b'R';
/// Pauses between attempts while `wait_terminal` waits out an outage.
const RECONNECT_BACKOFF_MIN: Duration = Duration::from_millis(20);
const RECONNECT_BACKOFF_MAX: Duration = Duration::from_millis(500);
/// Heartbeat index entries are dropped this long after their key expired (clock skew margin).
const HOST_INDEX_GRACE_MS: u64 = 60_000;

/// Shared state for every host pointing at one Redis.
pub struct RedisStore {
    conn: Arc<Conn>,
    keys: Keys,
    notifier: Notifier,
    records: RecordWriter,
    /// On Sentinel and Cluster: a record that has not ended never replaces one that has (see
    /// `write_record`).
    guard_endings: bool,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore")
            .field("conn", &self.conn)
            .finish_non_exhaustive()
    }
}

impl RedisStore {
    /// Validate `config` and connect (see `RedisBroker::connect` for outages).
    pub async fn connect(config: RedisConfig) -> Result<Self, ConnectError> {
        let conn = Arc::new(Conn::open(&config).await?);
        let keys = Keys::on(&config.prefix, conn.is_cluster());
        crate::layout::ensure(conn.manager(), &keys).await?;
        let notifier = Notifier::new(Arc::clone(&conn));
        let records = RecordWriter::spawn(conn.manager(), conn.is_cluster(), Durable::of(&config));
        Ok(RedisStore {
            guard_endings: !conn.is_single(),
            keys,
            conn,
            notifier,
            records,
        })
    }

    async fn get(&self, key: String) -> Result<Option<Vec<u8>>, StateError> {
        self.conn.manager().get(key).await.map_err(state_err)
    }

    /// One subscription's worth of `wait_terminal`.
    async fn wait_once(&self, task_id: &str, deadline: Instant) -> Result<Wait, StateError> {
        let mut waiter = self
            .notifier
            .watch(&self.keys.done_channel(task_id))
            .await?;
        // Subscribed first, read second: a terminal put in between is seen by the read.
        let now = self.terminal(task_id).await;
        if !matches!(now, Ok(None)) {
            self.notifier.unwatch(waiter).await;
            return now.map(Wait::Done);
        }
        let got = tokio::time::timeout_at(deadline, waiter.recv()).await;
        self.notifier.unwatch(waiter).await;
        match got {
            Ok(Some(record)) => Ok(Wait::Done(Some(record))),
            Ok(None) if Instant::now() < deadline => Ok(Wait::Lost),
            _ => self.terminal(task_id).await.map(Wait::Done),
        }
    }

    /// The terminal record of `task_id`, if it has one now.
    async fn terminal(&self, task_id: &str) -> Result<Option<Bytes>, StateError> {
        Ok(self
            .get(self.keys.task(task_id))
            .await?
            .and_then(|v| decode(&v).filter(|(t, _)| *t).map(|(_, r)| r)))
    }
}

impl RedisStore {
    async fn write_record(
        &self,
        task_id: &str,
        record: Bytes,
        terminal: bool,
        ttl: Duration,
        mode: WriteMode,
    ) -> Result<(), StateError> {
        let mut stored = Vec::with_capacity(record.len() + 1);
        stored.push(if terminal { TERMINAL } else { RUNNING });
        stored.extend_from_slice(&record);
        let publish = terminal.then(|| (self.keys.done_channel(task_id), record));
        // A publish writes its `queued` record alongside the message, on the store's own
        // connection. One server sees the two in order; a cluster node or a new master after a
        // failover may not, and a fast worker's ending could be overwritten by the late
        // `queued`. There, such a record is written only over one that has not ended (the
        // progress rule; one script run instead of a `SET`). A dead-letter replay's `queued`
        // record then shows only once the task runs again.
        let mode = match mode {
            WriteMode::Plain if self.guard_endings && !terminal => WriteMode::Progress,
            other => other,
        };
        self.records
            .write(RecordWrite {
                key: self.keys.task(task_id),
                value: stored,
                ttl_ms: ttl_ms(ttl),
                publish,
                mode,
            })
            .await
    }
}

/// How one subscription's wait ended.
enum Wait {
    /// With the terminal record, or `None` at the deadline.
    Done(Option<Bytes>),
    /// The subscription connection dropped before anything arrived.
    Lost,
}

fn ttl_ms(ttl: Duration) -> u64 {
    u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1)
}

fn decode(stored: &[u8]) -> Option<(bool, Bytes)> {
    let (flag, record) = stored.split_first()?;
    Some((*flag == TERMINAL, Bytes::copy_from_slice(record)))
}

#[async_trait]
impl StateStore for RedisStore {
    fn is_shared(&self) -> bool {
        true
    }

    async fn put_record(
        &self,
        task_id: &str,
        record: Bytes,
        terminal: bool,
        ttl: Duration,
    ) -> Result<(), StateError> {
        self.write_record(task_id, record, terminal, ttl, WriteMode::Plain)
            .await
    }

    /// Not over an ended record, atomically in Redis (the `RECORD` script).
    async fn put_progress(
        &self,
        task_id: &str,
        record: Bytes,
        ttl: Duration,
    ) -> Result<(), StateError> {
        self.write_record(task_id, record, false, ttl, WriteMode::Progress)
            .await
    }

    /// The record and its counts in one script run, so the counters agree with the records
    /// after any crash of a host.
    async fn put_record_counted(
        &self,
        task_id: &str,
        record: Bytes,
        terminal: bool,
        ttl: Duration,
        queue: &str,
        deltas: &[(&str, i64)],
    ) -> Result<bool, StateError> {
        validate_queue_name(queue)?;
        let mode = WriteMode::Counted {
            counters: self.keys.counters(queue),
            deltas: deltas.iter().map(|(n, d)| ((*n).to_owned(), *d)).collect(),
            ended: self
                .keys
                .is_cluster()
                .then(|| self.keys.ended(queue, task_id)),
        };
        self.write_record(task_id, record, terminal, ttl, mode)
            .await
            .map(|()| true)
    }

    async fn cancels_among(&self, task_ids: &[&str]) -> Result<Vec<bool>, StateError> {
        if task_ids.is_empty() {
            return Ok(Vec::new());
        }
        // One MGET for a whole fetched batch: a round trip per batch, not per task.
        let keys: Vec<String> = task_ids
            .iter()
            .map(|id| self.keys.task(&cancel_mark_id(id)))
            .collect();
        let marks: Vec<Option<Vec<u8>>> = redis::cmd("MGET")
            .arg(&keys)
            .query_async(&mut self.conn.manager())
            .await
            .map_err(state_err)?;
        Ok(marks.iter().map(Option::is_some).collect())
    }

    async fn get_record(&self, task_id: &str) -> Result<Option<Bytes>, StateError> {
        let stored = self.get(self.keys.task(task_id)).await?;
        Ok(stored.and_then(|v| decode(&v)).map(|(_, record)| record))
    }

    async fn wait_terminal(
        &self,
        task_id: &str,
        timeout: Duration,
    ) -> Result<Option<Bytes>, StateError> {
        let deadline = Instant::now() + timeout;
        let mut backoff = RECONNECT_BACKOFF_MIN;
        loop {
            match self.wait_once(task_id, deadline).await {
                Ok(Wait::Done(record)) => return Ok(record),
                // The subscription dropped: subscribe again (the next round re-reads the record).
                Ok(Wait::Lost) => {}
                // Redis is restarting: keep the caller's wait alive until its deadline.
                Err(e) if e.is_transient() && Instant::now() + backoff < deadline => {
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(RECONNECT_BACKOFF_MAX);
                }
                Err(e) => return Err(e),
            }
        }
    }

    async fn dedup_seen(&self, queue: &str, key: &str) -> Result<bool, StateError> {
        validate_queue_name(queue)?;
        self.conn
            .manager()
            .exists(self.keys.dedup(queue, key))
            .await
            .map_err(state_err)
    }

    async fn dedup_mark(&self, queue: &str, key: &str, ttl: Duration) -> Result<(), StateError> {
        validate_queue_name(queue)?;
        redis::cmd("SET")
            .arg(self.keys.dedup(queue, key))
            .arg(1)
            .arg("PX")
            .arg(ttl_ms(ttl))
            .query_async(&mut self.conn.manager())
            .await
            .map_err(state_err)
    }

    async fn set_paused(&self, queue: &str, paused: bool) -> Result<(), StateError> {
        validate_queue_name(queue)?;
        let mut m = self.conn.manager();
        let key = self.keys.paused();
        let r: redis::RedisResult<i64> = if paused {
            m.sadd(key, queue).await
        } else {
            m.srem(key, queue).await
        };
        r.map(drop).map_err(state_err)
    }

    async fn paused_queues(&self) -> Result<Vec<String>, StateError> {
        let mut queues: Vec<String> = self
            .conn
            .manager()
            .smembers(self.keys.paused())
            .await
            .map_err(state_err)?;
        queues.sort();
        Ok(queues)
    }

    async fn put_module(&self, sha256: &str, wasm: Bytes) -> Result<(), StateError> {
        // NX: content-addressed, so an existing value is already the same bytes.
        redis::cmd("SET")
            .arg(self.keys.module(sha256))
            .arg(wasm.as_ref())
            .arg("NX")
            .query_async::<()>(&mut self.conn.manager())
            .await
            .map_err(state_err)
    }

    async fn get_module(&self, sha256: &str) -> Result<Option<Bytes>, StateError> {
        Ok(self.get(self.keys.module(sha256)).await?.map(Bytes::from))
    }

    async fn delete_module(&self, sha256: &str) -> Result<(), StateError> {
        redis::cmd("DEL")
            .arg(self.keys.module(sha256))
            .query_async::<()>(&mut self.conn.manager())
            .await
            .map_err(state_err)
    }

    async fn put_binding(&self, queue: &str, binding: Bytes) -> Result<(), StateError> {
        validate_queue_name(queue)?;
        if self.keys.is_cluster() {
            // Two slots: the binding first, so a listed queue always has one.
            let mut m = self.conn.manager();
            m.set::<_, _, ()>(self.keys.binding(queue), binding.as_ref())
                .await
                .map_err(state_err)?;
            return m
                .sadd::<_, _, ()>(self.keys.bound(), queue)
                .await
                .map_err(state_err);
        }
        redis::pipe()
            .atomic()
            .set(self.keys.binding(queue), binding.as_ref())
            .ignore()
            .sadd(self.keys.bound(), queue)
            .ignore()
            .query_async::<()>(&mut self.conn.manager())
            .await
            .map_err(state_err)
    }

    async fn get_binding(&self, queue: &str) -> Result<Option<Bytes>, StateError> {
        validate_queue_name(queue)?;
        Ok(self.get(self.keys.binding(queue)).await?.map(Bytes::from))
    }

    async fn bound_queues(&self) -> Result<Vec<String>, StateError> {
        let mut queues: Vec<String> = self
            .conn
            .manager()
            .smembers(self.keys.bound())
            .await
            .map_err(state_err)?;
        queues.sort();
        Ok(queues)
    }

    async fn add_counters(&self, queue: &str, deltas: &[(&str, i64)]) -> Result<(), StateError> {
        validate_queue_name(queue)?;
        if deltas.is_empty() {
            return Ok(());
        }
        let key = self.keys.counters(queue);
        let mut pipe = redis::pipe();
        pipe.atomic();
        for (name, delta) in deltas {
            pipe.hincr(&key, *name, *delta).ignore();
        }
        pipe.query_async::<()>(&mut self.conn.manager())
            .await
            .map_err(state_err)
    }

    async fn counters(&self, queue: &str) -> Result<BTreeMap<String, i64>, StateError> {
        validate_queue_name(queue)?;
        self.conn
            .manager()
            .hgetall(self.keys.counters(queue))
            .await
            .map_err(state_err)
    }

    async fn heartbeat(&self, host_id: &str, info: Bytes, ttl: Duration) -> Result<(), StateError> {
        let ttl = ttl_ms(ttl);
        if self.keys.is_cluster() {
            // Two slots: the description first, so an indexed host always has one.
            let mut m = self.conn.manager();
            redis::cmd("SET")
                .arg(self.keys.host(host_id))
                .arg(info.as_ref())
                .arg("PX")
                .arg(ttl)
                .query_async::<()>(&mut m)
                .await
                .map_err(state_err)?;
            return m
                .zadd::<_, _, _, ()>(self.keys.hosts(), host_id, now_ms().saturating_add(ttl))
                .await
                .map_err(state_err);
        }
        redis::pipe()
            .cmd("SET")
            .arg(self.keys.host(host_id))
            .arg(info.as_ref())
            .arg("PX")
            .arg(ttl)
            .ignore()
            .zadd(self.keys.hosts(), host_id, now_ms().saturating_add(ttl))
            .ignore()
            .query_async::<()>(&mut self.conn.manager())
            .await
            .map_err(state_err)
    }

    async fn live_hosts(&self) -> Result<Vec<Bytes>, StateError> {
        let mut m = self.conn.manager();
        let index = self.keys.hosts();
        let stale = now_ms().saturating_sub(HOST_INDEX_GRACE_MS);
        let ((), ids): ((), Vec<String>) = redis::pipe()
            .zrembyscore(&index, "-inf", stale)
            .zrange(&index, 0, -1)
            .query_async(&mut m)
            .await
            .map_err(state_err)?;
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let keys: Vec<String> = ids.iter().map(|id| self.keys.host(id)).collect();
        let infos: Vec<Option<Vec<u8>>> = redis::cmd("MGET")
            .arg(&keys)
            .query_async(&mut m)
            .await
            .map_err(state_err)?;
        Ok(infos.into_iter().flatten().map(Bytes::from).collect())
    }

    async fn put_token(&self, id: &str, doc: Bytes) -> Result<(), StateError> {
        self.conn
            .manager()
            .hset::<_, _, _, ()>(self.keys.tokens(), id, doc.as_ref())
            .await
            .map_err(state_err)
    }

    async fn delete_token(&self, id: &str) -> Result<bool, StateError> {
        let removed: i64 = self
            .conn
            .manager()
            .hdel(self.keys.tokens(), id)
            .await
            .map_err(state_err)?;
        Ok(removed > 0)
    }

    async fn tokens(&self) -> Result<BTreeMap<String, Bytes>, StateError> {
        let docs: BTreeMap<String, Vec<u8>> = self
            .conn
            .manager()
            .hgetall(self.keys.tokens())
            .await
            .map_err(state_err)?;
        Ok(docs.into_iter().map(|(k, v)| (k, Bytes::from(v))).collect())
    }

    async fn append_audit(&self, entry: Bytes, keep: usize) -> Result<(), StateError> {
        let key = self.keys.audit();
        let last = isize::try_from(keep.max(1))
            .unwrap_or(isize::MAX)
            .saturating_sub(1);
        redis::pipe()
            .atomic()
            .lpush(&key, entry.as_ref())
            .ignore()
            .ltrim(&key, 0, last)
            .ignore()
            .query_async::<()>(&mut self.conn.manager())
            .await
            .map_err(state_err)
    }

    async fn audit(&self, limit: usize) -> Result<Vec<Bytes>, StateError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let last = isize::try_from(limit)
            .unwrap_or(isize::MAX)
            .saturating_sub(1);
        let entries: Vec<Vec<u8>> = self
            .conn
            .manager()
            .lrange(self.keys.audit(), 0, last)
            .await
            .map_err(state_err)?;
        Ok(entries.into_iter().map(Bytes::from).collect())
    }

    /// One run of the `KV` script (see `kv`).
    async fn kv(&self, queue: &str, op: KvOp<'_>, quota: &KvQuota) -> Result<KvReply, KvError> {
        validate_queue_name(queue).map_err(StateError::from)?;
        crate::kv::apply(&self.conn, &self.keys, queue, op, quota).await
    }

    async fn reserve_rate(&self, queue: &str, per_second: f64) -> Result<Duration, StateError> {
        validate_queue_name(queue)?;
        if !(per_second.is_finite() && per_second > 0.0) {
            return Err(StateError::Backend(format!(
                "rate of queue {queue} must be a positive number per second, got {per_second}"
            )));
        }
        let interval_us = 1_000_000.0 / per_second;
        let wait_us: i64 = RATE
            .key(self.keys.rate(queue))
            .arg(format!("{interval_us:.3}"))
            .invoke_async(&mut self.conn.manager())
            .await
            .map_err(state_err)?;
        Ok(Duration::from_micros(u64::try_from(wait_us).unwrap_or(0)))
    }

    async fn lead(
        &self,
        lease: &str,
        holder: &str,
        ttl: Duration,
    ) -> Result<Option<u64>, StateError> {
        let (key, counter) = self.keys.lease(lease);
        LEAD.key(key)
            .key(counter)
            .arg(holder)
            .arg(ttl_ms(ttl))
            .invoke_async(&mut self.conn.manager())
            .await
            .map_err(state_err)
    }

    async fn claim_tick(
        &self,
        lease: &str,
        token: u64,
        schedule: &str,
        tick_ms: u64,
    ) -> Result<bool, StateError> {
        let (key, _) = self.keys.lease(lease);
        let claimed: i64 = CLAIM
            .key(key)
            .key(self.keys.schedule_lasts())
            .arg(token)
            .arg(schedule)
            .arg(tick_ms)
            .invoke_async(&mut self.conn.manager())
            .await
            .map_err(state_err)?;
        Ok(claimed == 1)
    }

    /// `HSETNX` then `HLEN` in one `MULTI`: no other write comes between the fill and the
    /// count, so each first write of a slot sees its own count.
    async fn join_put(
        &self,
        join: &str,
        slot: u32,
        value: Bytes,
        ttl: Duration,
    ) -> Result<u32, StateError> {
        let key = self.keys.join(join);
        let (filled,): (u32,) = redis::pipe()
            .atomic()
            .hset_nx(&key, slot, value.as_ref())
            .ignore()
            .pexpire(&key, i64::try_from(ttl_ms(ttl)).unwrap_or(i64::MAX))
            .ignore()
            .hlen(&key)
            .query_async(&mut self.conn.manager())
            .await
            .map_err(state_err)?;
        Ok(filled)
    }

    async fn join_values(&self, join: &str) -> Result<BTreeMap<u32, Bytes>, StateError> {
        let all: Vec<(u32, Vec<u8>)> = self
            .conn
            .manager()
            .hgetall(self.keys.join(join))
            .await
            .map_err(state_err)?;
        Ok(all.into_iter().map(|(k, v)| (k, Bytes::from(v))).collect())
    }

    async fn last_tick(&self, schedule: &str) -> Result<Option<u64>, StateError> {
        self.conn
            .manager()
            .hget(self.keys.schedule_lasts(), schedule)
            .await
            .map_err(state_err)
    }
}

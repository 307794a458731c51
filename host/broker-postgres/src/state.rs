//! [`PostgresStore`]: the `StateStore` on the same database as the jobs (schema version 2), so
//! a Postgres-only deployment needs no other server and every host sharing the database
//! shares records, dedup marks, pause flags, modules, counters, tokens and the global rate.
//!
//! Each operation is one statement. Expiring rows (records, dedup marks, heartbeats) are
//! ignored by reads once expired and deleted by a sweep every [`SWEEP_EVERY`].
//! `wait_terminal` listens on [`RECORDS_CHANNEL`] (a trigger notifies a terminal record's id),
//! so it never polls. `reserve_rate` is GCRA on one row per queue, updated atomically by the
//! database, on the database's clock (one clock for all hosts).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use wasmboost_broker::{
    KvError, KvOp, KvQuota, KvReply, StateError, StateStore, cancel_mark_id, validate_queue_name,
};

use crate::broker::millis;
use crate::config::PostgresConfig;
use crate::conn::{Listener, Wakers, connect};
use crate::error::{ConnectError, DbError};
use crate::pool::Db;
use crate::schema::{self, RECORDS_CHANNEL};

/// How often expired records, dedup marks and heartbeats are deleted.
pub const SWEEP_EVERY: Duration = Duration::from_secs(60);

const SWEEP: &str = "
DELETE FROM wasmboost.records WHERE expires_ms < wasmboost.now_ms();
DELETE FROM wasmboost.dedup WHERE expires_ms < wasmboost.now_ms();
DELETE FROM wasmboost.hosts WHERE expires_ms < wasmboost.now_ms();
DELETE FROM wasmboost.joins WHERE join_id IN
    (SELECT join_id FROM wasmboost.join_expiry WHERE expires_ms < wasmboost.now_ms());
DELETE FROM wasmboost.join_expiry WHERE expires_ms < wasmboost.now_ms();";

const PUT_RECORD: &str = "
INSERT INTO wasmboost.records (task_id, record, terminal, expires_ms)
VALUES ($1, $2, $3, wasmboost.now_ms() + $4)
ON CONFLICT (task_id) DO UPDATE
SET record = excluded.record, terminal = excluded.terminal, expires_ms = excluded.expires_ms";

/// The record and the counters in one call (schema version 3); the counters only when the
/// stored record had not ended yet.
const PUT_RECORD_COUNTED: &str = "SELECT wasmboost.put_record_counted($1, $2, $3, $4, $5, $6, $7)";

/// A progress mark (`running`): written unless the stored record has ended (a rerun after a
/// crash must not undo a durable ending, or its own ending would be counted again).
const PUT_PROGRESS: &str = "
INSERT INTO wasmboost.records (task_id, record, terminal, expires_ms)
VALUES ($1, $2, false, wasmboost.now_ms() + $3)
ON CONFLICT (task_id) DO UPDATE
SET record = excluded.record, terminal = false, expires_ms = excluded.expires_ms
WHERE NOT wasmboost.records.terminal OR wasmboost.records.expires_ms < wasmboost.now_ms()";

/// Take or renew a leader lease: a free or expired lease, or one this holder has, is taken; a
/// new tenure (a new holder, or the same after its lease ran out) gets a new, greater token.
const LEAD: &str = "
INSERT INTO wasmboost.leases (name, holder, token, until_ms)
VALUES ($1, $2, nextval('wasmboost.lease_tokens'), wasmboost.now_ms() + $3)
ON CONFLICT (name) DO UPDATE
SET holder = excluded.holder,
    token = CASE WHEN wasmboost.leases.holder = excluded.holder
                  AND wasmboost.leases.until_ms > wasmboost.now_ms()
                 THEN wasmboost.leases.token ELSE excluded.token END,
    until_ms = excluded.until_ms
WHERE wasmboost.leases.holder = excluded.holder
   OR wasmboost.leases.until_ms <= wasmboost.now_ms()
RETURNING token";

/// Record a fired tick, only for the lease's current token and a tick newer than the last.
const CLAIM_TICK: &str = "
INSERT INTO wasmboost.schedule_ticks (schedule, last_ms)
SELECT $3, $4 FROM wasmboost.leases
WHERE name = $1 AND token = $2 AND until_ms > wasmboost.now_ms()
ON CONFLICT (schedule) DO UPDATE SET last_ms = excluded.last_ms
WHERE wasmboost.schedule_ticks.last_ms < excluded.last_ms
RETURNING 1";

const JOIN_PUT: &str = "SELECT wasmboost.join_put($1, $2, $3, $4)";
/// Expired joins read as empty before the sweep removes them.
const JOIN_VALUES: &str = "
SELECT j.slot, j.value FROM wasmboost.joins j
JOIN wasmboost.join_expiry e ON e.join_id = j.join_id
WHERE j.join_id = $1 AND e.expires_ms > wasmboost.now_ms() ORDER BY j.slot";
const LAST_TICK: &str = "SELECT last_ms FROM wasmboost.schedule_ticks WHERE schedule = $1";

const GET_RECORD: &str = "
SELECT record, terminal FROM wasmboost.records
WHERE task_id = $1 AND expires_ms >= wasmboost.now_ms()";

const CANCEL_MARKS: &str = "
SELECT task_id FROM wasmboost.records
WHERE task_id = ANY($1) AND expires_ms >= wasmboost.now_ms()";

const ADD_COUNTERS: &str = "
INSERT INTO wasmboost.counters (queue, name, value)
SELECT $1, d.name, sum(d.value)::bigint FROM unnest($2::text[], $3::int8[]) AS d(name, value)
GROUP BY d.name
ON CONFLICT (queue, name) DO UPDATE SET value = wasmboost.counters.value + excluded.value";

/// GCRA: slots `$2` µs apart; the wait before the caller's slot.
const RESERVE_RATE: &str = "
WITH n AS (SELECT floor(extract(epoch FROM clock_timestamp()) * 1000000)::bigint AS t)
INSERT INTO wasmboost.rates AS r (queue, tat_us)
SELECT $1, n.t + $2 FROM n
ON CONFLICT (queue) DO UPDATE SET tat_us = greatest(r.tat_us, (SELECT t FROM n)) + $2
RETURNING greatest(r.tat_us - $2 - (SELECT t FROM n), 0)";

/// The PostgreSQL state store.
#[derive(Debug)]
pub struct PostgresStore {
    db: Arc<Db>,
    waiters: Arc<Wakers>,
    _listener: Listener,
    sweeper: JoinHandle<()>,
}

impl Drop for PostgresStore {
    fn drop(&mut self) {
        self.sweeper.abort();
    }
}

impl PostgresStore {
    /// Connect, migrate (refusing a newer schema), listen for terminal records, start the sweep.
    pub async fn connect(config: &PostgresConfig) -> Result<Self, ConnectError> {
        config.validate()?;
        let pg = config.pg()?;
        let mut client = connect(&pg).await?;
        schema::migrate(&mut client).await?;
        let waiters = Arc::new(Wakers::default());
        let listener = Listener::start(pg.clone(), config, RECORDS_CHANNEL, Arc::clone(&waiters));
        let db = Arc::new(Db::new(pg, config, client));
        let swept = Arc::clone(&db);
        let sweeper = tokio::spawn(async move {
            let mut every = tokio::time::interval(SWEEP_EVERY);
            loop {
                every.tick().await;
                if let Ok(client) = swept.client().await
                    && let Err(e) = client.batch_execute(SWEEP).await
                {
                    tracing::debug!(error = %e, "postgres state: sweep failed");
                }
            }
        });
        Ok(PostgresStore {
            db,
            waiters,
            _listener: listener,
            sweeper,
        })
    }

    async fn record(&self, task_id: &str) -> Result<Option<(Bytes, bool)>, StateError> {
        let client = self.db.client().await?;
        let row = client
            .query_opt(GET_RECORD, &[&task_id])
            .await
            .map_err(|e| st("get record", e))?;
        Ok(row.map(|r| (Bytes::from(r.get::<_, Vec<u8>>(0)), r.get(1))))
    }

    async fn execute(
        &self,
        what: &str,
        sql: &'static str,
        params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
    ) -> Result<u64, StateError> {
        let client = self.db.client().await?;
        client.execute(sql, params).await.map_err(|e| st(what, e))
    }

    async fn query(
        &self,
        what: &str,
        sql: &'static str,
        params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
    ) -> Result<Vec<tokio_postgres::Row>, StateError> {
        let client = self.db.client().await?;
        client.query(sql, params).await.map_err(|e| st(what, e))
    }
}

/// A driver error as the state seam sees it.
fn st(what: &str, e: DbError) -> StateError {
    let text = format!("postgres {what}: {e}");
    if e.is_connection() {
        StateError::Unavailable(text)
    } else {
        StateError::Backend(text)
    }
}

fn split<'a>(deltas: &[(&'a str, i64)]) -> (Vec<&'a str>, Vec<i64>) {
    deltas.iter().copied().unzip()
}

#[async_trait]
impl StateStore for PostgresStore {
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
        let record: &[u8] = &record;
        self.execute(
            "put record",
            PUT_RECORD,
            &[&task_id, &record, &terminal, &millis(ttl)],
        )
        .await
        .map(|_| ())
    }

    async fn put_progress(
        &self,
        task_id: &str,
        record: Bytes,
        ttl: Duration,
    ) -> Result<(), StateError> {
        let record: &[u8] = &record;
        self.execute(
            "put progress",
            PUT_PROGRESS,
            &[&task_id, &record, &millis(ttl)],
        )
        .await
        .map(|_| ())
    }

    async fn lead(
        &self,
        lease: &str,
        holder: &str,
        ttl: Duration,
    ) -> Result<Option<u64>, StateError> {
        let rows = self
            .query("lead", LEAD, &[&lease, &holder, &millis(ttl)])
            .await?;
        Ok(rows
            .first()
            .map(|row| row.get::<_, i64>(0))
            .and_then(|token| u64::try_from(token).ok()))
    }

    async fn claim_tick(
        &self,
        lease: &str,
        token: u64,
        schedule: &str,
        tick_ms: u64,
    ) -> Result<bool, StateError> {
        let (Ok(token), Ok(tick)) = (i64::try_from(token), i64::try_from(tick_ms)) else {
            return Ok(false);
        };
        let rows = self
            .query(
                "claim tick",
                CLAIM_TICK,
                &[&lease, &token, &schedule, &tick],
            )
            .await?;
        Ok(!rows.is_empty())
    }

    async fn join_put(
        &self,
        join: &str,
        slot: u32,
        value: Bytes,
        ttl: Duration,
    ) -> Result<u32, StateError> {
        let value: &[u8] = &value;
        let rows = self
            .query(
                "join put",
                JOIN_PUT,
                &[&join, &i64::from(slot), &value, &millis(ttl)],
            )
            .await?;
        Ok(rows
            .first()
            .and_then(|row| u32::try_from(row.get::<_, i64>(0)).ok())
            .unwrap_or(0))
    }

    async fn join_values(&self, join: &str) -> Result<BTreeMap<u32, Bytes>, StateError> {
        let rows = self.query("join values", JOIN_VALUES, &[&join]).await?;
        Ok(rows
            .iter()
            .filter_map(|row| {
                let slot = u32::try_from(row.get::<_, i64>(0)).ok()?;
                Some((slot, Bytes::from(row.get::<_, Vec<u8>>(1))))
            })
            .collect())
    }

    async fn last_tick(&self, schedule: &str) -> Result<Option<u64>, StateError> {
        let rows = self.query("last tick", LAST_TICK, &[&schedule]).await?;
        Ok(rows
            .first()
            .and_then(|row| u64::try_from(row.get::<_, i64>(0)).ok()))
    }

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
        let record: &[u8] = &record;
        let (names, values) = split(deltas);
        self.query(
            "put record",
            PUT_RECORD_COUNTED,
            &[
                &task_id,
                &record,
                &terminal,
                &millis(ttl),
                &queue,
                &names,
                &values,
            ],
        )
        .await?;
        Ok(true)
    }

    async fn cancels_among(&self, task_ids: &[&str]) -> Result<Vec<bool>, StateError> {
        if task_ids.is_empty() {
            return Ok(Vec::new());
        }
        // One statement for a whole fetched batch: a round trip per batch, not per task.
        let marks: Vec<String> = task_ids.iter().map(|id| cancel_mark_id(id)).collect();
        let rows = self.query("cancel marks", CANCEL_MARKS, &[&marks]).await?;
        let found: std::collections::HashSet<String> =
            rows.iter().map(|r| r.get::<_, String>(0)).collect();
        Ok(marks.iter().map(|m| found.contains(m)).collect())
    }

    async fn get_record(&self, task_id: &str) -> Result<Option<Bytes>, StateError> {
        Ok(self.record(task_id).await?.map(|(r, _)| r))
    }

    async fn wait_terminal(
        &self,
        task_id: &str,
        timeout: Duration,
    ) -> Result<Option<Bytes>, StateError> {
        let deadline = Instant::now() + timeout;
        let wake = self.waiters.of(task_id);
        let result = loop {
            // Armed before looking, so a terminal put between the look and the wait wakes us.
            let notified = wake.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            match self.record(task_id).await {
                Ok(Some((record, true))) => break Ok(Some(record)),
                Ok(_) => {}
                Err(e) => break Err(e),
            }
            if Instant::now() >= deadline {
                break Ok(None);
            }
            if tokio::time::timeout_at(deadline, &mut notified)
                .await
                .is_err()
            {
                // Timed out: one last look (the notification may have raced the deadline).
                break self
                    .record(task_id)
                    .await
                    .map(|r| r.filter(|(_, t)| *t).map(|(r, _)| r));
            }
        };
        self.waiters.release(task_id, wake);
        result
    }

    async fn dedup_seen(&self, queue: &str, key: &str) -> Result<bool, StateError> {
        validate_queue_name(queue)?;
        let rows = self
            .query(
                "dedup",
                "SELECT 1 FROM wasmboost.dedup
                 WHERE queue = $1 AND key = $2 AND expires_ms >= wasmboost.now_ms()",
                &[&queue, &key],
            )
            .await?;
        Ok(!rows.is_empty())
    }

    async fn dedup_mark(&self, queue: &str, key: &str, ttl: Duration) -> Result<(), StateError> {
        validate_queue_name(queue)?;
        self.execute(
            "dedup",
            "INSERT INTO wasmboost.dedup (queue, key, expires_ms)
             VALUES ($1, $2, wasmboost.now_ms() + $3)
             ON CONFLICT (queue, key) DO UPDATE SET expires_ms = excluded.expires_ms",
            &[&queue, &key, &millis(ttl)],
        )
        .await
        .map(|_| ())
    }

    async fn set_paused(&self, queue: &str, paused: bool) -> Result<(), StateError> {
        validate_queue_name(queue)?;
        let sql = if paused {
            "INSERT INTO wasmboost.paused (queue) VALUES ($1) ON CONFLICT DO NOTHING"
        } else {
            "DELETE FROM wasmboost.paused WHERE queue = $1"
        };
        self.execute("pause", sql, &[&queue]).await.map(|_| ())
    }

    async fn paused_queues(&self) -> Result<Vec<String>, StateError> {
        let rows = self
            .query(
                "pause",
                "SELECT queue FROM wasmboost.paused ORDER BY queue",
                &[],
            )
            .await?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }

    async fn put_module(&self, sha256: &str, wasm: Bytes) -> Result<(), StateError> {
        let wasm: &[u8] = &wasm;
        self.execute(
            "put module",
            "INSERT INTO wasmboost.modules (sha256, wasm) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            &[&sha256, &wasm],
        )
        .await
        .map(|_| ())
    }

    async fn get_module(&self, sha256: &str) -> Result<Option<Bytes>, StateError> {
        let rows = self
            .query(
                "get module",
                "SELECT wasm FROM wasmboost.modules WHERE sha256 = $1",
                &[&sha256],
            )
            .await?;
        Ok(rows.first().map(|r| Bytes::from(r.get::<_, Vec<u8>>(0))))
    }

    async fn delete_module(&self, sha256: &str) -> Result<(), StateError> {
        self.execute(
            "delete module",
            "DELETE FROM wasmboost.modules WHERE sha256 = $1",
            &[&sha256],
        )
        .await
        .map(|_| ())
    }

    async fn put_binding(&self, queue: &str, binding: Bytes) -> Result<(), StateError> {
        validate_queue_name(queue)?;
        let binding: &[u8] = &binding;
        self.execute(
            "put binding",
            "INSERT INTO wasmboost.bindings (queue, binding) VALUES ($1, $2)
             ON CONFLICT (queue) DO UPDATE SET binding = excluded.binding",
            &[&queue, &binding],
        )
        .await
        .map(|_| ())
    }

    async fn get_binding(&self, queue: &str) -> Result<Option<Bytes>, StateError> {
        validate_queue_name(queue)?;
        let rows = self
            .query(
                "get binding",
                "SELECT binding FROM wasmboost.bindings WHERE queue = $1",
                &[&queue],
            )
            .await?;
        Ok(rows.first().map(|r| Bytes::from(r.get::<_, Vec<u8>>(0))))
    }

    async fn bound_queues(&self) -> Result<Vec<String>, StateError> {
        let rows = self
            .query(
                "bindings",
                "SELECT queue FROM wasmboost.bindings ORDER BY queue",
                &[],
            )
            .await?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }

    async fn add_counters(&self, queue: &str, deltas: &[(&str, i64)]) -> Result<(), StateError> {
        validate_queue_name(queue)?;
        let (names, values) = split(deltas);
        self.execute("counters", ADD_COUNTERS, &[&queue, &names, &values])
            .await
            .map(|_| ())
    }

    async fn counters(&self, queue: &str) -> Result<BTreeMap<String, i64>, StateError> {
        validate_queue_name(queue)?;
        let rows = self
            .query(
                "counters",
                "SELECT name, value FROM wasmboost.counters WHERE queue = $1",
                &[&queue],
            )
            .await?;
        Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
    }

    async fn heartbeat(&self, host_id: &str, info: Bytes, ttl: Duration) -> Result<(), StateError> {
        let info: &[u8] = &info;
        self.execute(
            "heartbeat",
            "INSERT INTO wasmboost.hosts (host_id, info, expires_ms)
             VALUES ($1, $2, wasmboost.now_ms() + $3)
             ON CONFLICT (host_id) DO UPDATE
             SET info = excluded.info, expires_ms = excluded.expires_ms",
            &[&host_id, &info, &millis(ttl)],
        )
        .await
        .map(|_| ())
    }

    async fn live_hosts(&self) -> Result<Vec<Bytes>, StateError> {
        let rows = self
            .query(
                "hosts",
                "SELECT info FROM wasmboost.hosts WHERE expires_ms >= wasmboost.now_ms()
                 ORDER BY host_id",
                &[],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|r| Bytes::from(r.get::<_, Vec<u8>>(0)))
            .collect())
    }

    async fn put_token(&self, id: &str, doc: Bytes) -> Result<(), StateError> {
        let doc: &[u8] = &doc;
        self.execute(
            "put token",
            "INSERT INTO wasmboost.tokens (id, doc) VALUES ($1, $2)
             ON CONFLICT (id) DO UPDATE SET doc = excluded.doc",
            &[&id, &doc],
        )
        .await
        .map(|_| ())
    }

    async fn delete_token(&self, id: &str) -> Result<bool, StateError> {
        let n = self
            .execute(
                "delete token",
                "DELETE FROM wasmboost.tokens WHERE id = $1",
                &[&id],
            )
            .await?;
        Ok(n > 0)
    }

    async fn tokens(&self) -> Result<BTreeMap<String, Bytes>, StateError> {
        let rows = self
            .query("tokens", "SELECT id, doc FROM wasmboost.tokens", &[])
            .await?;
        Ok(rows
            .iter()
            .map(|r| (r.get(0), Bytes::from(r.get::<_, Vec<u8>>(1))))
            .collect())
    }

    async fn append_audit(&self, entry: Bytes, keep: usize) -> Result<(), StateError> {
        let entry: &[u8] = &entry;
        self.execute(
            "audit",
            "INSERT INTO wasmboost.audit (entry) VALUES ($1)",
            &[&entry],
        )
        .await?;
        let keep = i64::try_from(keep.max(1)).unwrap_or(i64::MAX);
        self.execute(
            "audit",
            "DELETE FROM wasmboost.audit WHERE seq IN (
                 SELECT seq FROM wasmboost.audit ORDER BY seq DESC OFFSET $1)",
            &[&keep],
        )
        .await
        .map(|_| ())
    }

    async fn audit(&self, limit: usize) -> Result<Vec<Bytes>, StateError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = self
            .query(
                "audit",
                "SELECT entry FROM wasmboost.audit ORDER BY seq DESC LIMIT $1",
                &[&limit],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|r| Bytes::from(r.get::<_, Vec<u8>>(0)))
            .collect())
    }

    /// One call of `wasmboost.kv` (see `kv`).
    async fn kv(&self, queue: &str, op: KvOp<'_>, quota: &KvQuota) -> Result<KvReply, KvError> {
        validate_queue_name(queue).map_err(StateError::from)?;
        crate::kv::apply(&self.db, queue, op, quota).await
    }

    async fn reserve_rate(&self, queue: &str, per_second: f64) -> Result<Duration, StateError> {
        validate_queue_name(queue)?;
        if !per_second.is_finite() || per_second <= 0.0 {
            return Err(StateError::Backend(format!(
                "rate {per_second} per second must be a positive number"
            )));
        }
        // Whole microseconds between slots (at least one).
        #[allow(
            clippy::cast_possible_truncation,
            reason = "rounded and clamped to 1..=i64::MAX first"
        )]
        let interval_us = (1_000_000.0 / per_second)
            .round()
            .clamp(1.0, i64::MAX as f64) as i64;
        let rows = self
            .query("reserve rate", RESERVE_RATE, &[&queue, &interval_us])
            .await?;
        let wait_us: i64 = rows.first().map_or(0, |r| r.get(0));
        Ok(Duration::from_micros(u64::try_from(wait_us).unwrap_or(0)))
    }
}

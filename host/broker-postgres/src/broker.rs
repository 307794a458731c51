//! [`PostgresBroker`]: publish, fetch (a batch claimed with `FOR UPDATE SKIP LOCKED`, then an
//! idle wait woken by `NOTIFY` or by the next job's due time), counts and dead letters. Each
//! operation is one statement, so it is atomic without an explicit transaction.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use tokio::time::Instant;
use tokio_postgres::Row;
use wasmboost_broker::{
    Broker, BrokerError, DeadLetter, Delivery, MAX_PRIORITY, Message, NewMessage, QueueCounts,
    validate_queue_name,
};

use crate::config::PostgresConfig;
use crate::conn::{Listener, Wakers, connect};
use crate::error::{ConnectError, op};
use crate::lease::PgLease;
use crate::pool::Db;
use crate::schema;

/// Claim up to `$2` visible jobs of queue `$1` for `$3` ms. `SKIP LOCKED` lets concurrent
/// fetchers (any host) take disjoint rows without waiting on each other; a row another fetcher
/// claimed meanwhile fails the re-checked visibility and is skipped too.
const CLAIM: &str = "
WITH now AS MATERIALIZED (SELECT wasmboost.now_ms() AS t),
picked AS (
    SELECT j.seq FROM wasmboost.jobs j
    WHERE j.queue = $1 AND coalesce(j.lease_until, j.run_at) <= (SELECT t FROM now)
    ORDER BY j.priority DESC, j.seq
    LIMIT $2
    FOR UPDATE OF j SKIP LOCKED
)
UPDATE wasmboost.jobs j
SET lease_until = (SELECT t FROM now) + $3,
    token = nextval('wasmboost.lease_token'),
    redeliveries = j.redeliveries + (j.lease_until IS NOT NULL)::int
FROM picked
WHERE j.seq = picked.seq
RETURNING j.seq, j.token, j.id, j.body, j.priority, j.attempt, j.requeues, j.redeliveries,
          j.published_ms";

/// How long until the next job of queue `$1` becomes visible (ms; NULL: none held).
const NEXT_DUE: &str = "
SELECT min(coalesce(lease_until, run_at)) - wasmboost.now_ms() FROM wasmboost.jobs
WHERE queue = $1";

const PUBLISH: &str = "
INSERT INTO wasmboost.jobs (queue, id, body, priority, run_at, published_ms)
SELECT $1, m.id, m.body, m.priority, coalesce(m.run_at, n.t), n.t
FROM unnest($2::text[], $3::bytea[], $4::int2[], $5::int8[]) WITH ORDINALITY
         AS m(id, body, priority, run_at, ord),
     (SELECT wasmboost.now_ms() AS t) n
ORDER BY m.ord";

const COUNTS: &str = "
SELECT count(*) FILTER (WHERE coalesce(lease_until, run_at) <= n.t),
       count(*) FILTER (WHERE lease_until IS NULL AND run_at > n.t),
       count(*) FILTER (WHERE lease_until > n.t),
       (SELECT count(*) FROM wasmboost.dead WHERE queue = $1)
FROM (SELECT wasmboost.now_ms() AS t) n
LEFT JOIN wasmboost.jobs j ON j.queue = $1";

const DEAD_LETTERS: &str = "
SELECT id, body, priority, attempt, requeues, redeliveries, published_ms, reason, dead_ms
FROM wasmboost.dead WHERE queue = $1 ORDER BY seq LIMIT $2";

/// Back onto the queue, visible now, attempt 1, in the order they died.
const REPLAY: &str = "
WITH d AS (
    DELETE FROM wasmboost.dead WHERE queue = $1 AND ($2::text[] IS NULL OR id = ANY($2))
    RETURNING *
)
INSERT INTO wasmboost.jobs (queue, id, body, priority, run_at, attempt, requeues, redeliveries,
                            published_ms)
SELECT queue, id, body, priority, wasmboost.now_ms(), 1, requeues, redeliveries, published_ms
FROM d ORDER BY seq";

const PURGE: &str = "DELETE FROM wasmboost.dead WHERE queue = $1";

/// The PostgreSQL broker. Cheap to share: one client for statements, one listening.
#[derive(Debug)]
pub struct PostgresBroker {
    db: Arc<Db>,
    wakers: Arc<Wakers>,
    listener: Listener,
    idle_recheck: Duration,
}

impl PostgresBroker {
    /// Validate `config`, connect, migrate the schema (refusing a newer one) and start
    /// listening for new jobs.
    pub async fn connect(config: PostgresConfig) -> Result<Self, ConnectError> {
        config.validate()?;
        let pg = config.pg()?;
        let mut client = connect(&pg).await?;
        schema::migrate(&mut client).await?;
        let wakers = Arc::new(Wakers::default());
        let listener = Listener::start(pg.clone(), &config, schema::CHANNEL, Arc::clone(&wakers));
        Ok(PostgresBroker {
            db: Arc::new(Db::new(pg, &config, client)),
            wakers,
            listener,
            idle_recheck: config.idle_recheck(),
        })
    }

    async fn claim(
        &self,
        queue: &str,
        max: usize,
        lease: Duration,
    ) -> Result<Vec<Delivery>, BrokerError> {
        let client = self.db.client().await?;
        let limit = i64::try_from(max).unwrap_or(i64::MAX);
        let rows = client
            .query(CLAIM, &[&queue, &limit, &millis(lease)])
            .await
            .map_err(|e| op("fetch", e))?;
        let mut claimed = rows
            .iter()
            .map(|row| {
                let seq: i64 = row.get(0);
                let token: i64 = row.get(1);
                Ok((seq, token, message(queue, row)?))
            })
            .collect::<Result<Vec<_>, BrokerError>>()?;
        // RETURNING has no order: restore the fetch order.
        claimed.sort_by_key(|(seq, _, m)| (std::cmp::Reverse(m.priority), *seq));
        Ok(claimed
            .into_iter()
            .map(|(seq, token, m)| {
                let lease = PgLease::new(Arc::clone(&self.db), queue, &m.id, seq, token);
                Delivery::new(m, Box::new(lease))
            })
            .collect())
    }

    /// Until the next job of `queue` is due, if one is held.
    async fn next_due(&self, queue: &str) -> Result<Option<Duration>, BrokerError> {
        let client = self.db.client().await?;
        let row = client
            .query_one(NEXT_DUE, &[&queue])
            .await
            .map_err(|e| op("fetch", e))?;
        let ms: Option<i64> = row.get(0);
        Ok(ms.map(|ms| Duration::from_millis(u64::try_from(ms).unwrap_or(0))))
    }
}

#[async_trait]
impl Broker for PostgresBroker {
    fn kind(&self) -> &'static str {
        crate::TYPE
    }

    async fn publish(&self, queue: &str, messages: Vec<NewMessage>) -> Result<(), BrokerError> {
        validate_queue_name(queue)?;
        if messages.is_empty() {
            return Ok(());
        }
        let ids: Vec<&str> = messages.iter().map(|m| m.id.as_str()).collect();
        let bodies: Vec<&[u8]> = messages.iter().map(|m| m.body.as_ref()).collect();
        let priorities: Vec<i16> = messages
            .iter()
            .map(|m| i16::from(m.priority.min(MAX_PRIORITY)))
            .collect();
        let run_at: Vec<Option<i64>> = messages
            .iter()
            .map(|m| {
                m.not_before_ms
                    .map(|t| i64::try_from(t).unwrap_or(i64::MAX))
            })
            .collect();
        let client = self.db.client().await?;
        client
            .execute(PUBLISH, &[&queue, &ids, &bodies, &priorities, &run_at])
            .await
            .map_err(|e| op("publish", e))?;
        Ok(())
    }

    async fn fetch(
        &self,
        queue: &str,
        max: usize,
        lease: Duration,
        wait: Duration,
    ) -> Result<Vec<Delivery>, BrokerError> {
        validate_queue_name(queue)?;
        if max == 0 {
            return Ok(Vec::new());
        }
        let deadline = Instant::now() + wait;
        let wake = self.wakers.of(queue);
        loop {
            // Armed before looking, so a NOTIFY between the look and the wait is not lost.
            let notified = wake.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let batch = self.claim(queue, max, lease).await?;
            let now = Instant::now();
            if !batch.is_empty() || now >= deadline {
                return Ok(batch);
            }
            let mut nap = (deadline - now).min(self.idle_recheck);
            if let Some(due) = self.next_due(queue).await? {
                nap = nap.min(due);
            }
            tokio::select! {
                () = &mut notified => {}
                () = tokio::time::sleep(nap) => {}
            }
        }
    }

    async fn counts(&self, queue: &str) -> Result<QueueCounts, BrokerError> {
        validate_queue_name(queue)?;
        let client = self.db.client().await?;
        let row = client
            .query_one(COUNTS, &[&queue])
            .await
            .map_err(|e| op("counts", e))?;
        let n = |i: usize| u64::try_from(row.get::<_, i64>(i)).unwrap_or(0);
        Ok(QueueCounts {
            ready: n(0),
            delayed: n(1),
            leased: n(2),
            dead: n(3),
        })
    }

    async fn dead_letters(
        &self,
        queue: &str,
        limit: usize,
    ) -> Result<Vec<DeadLetter>, BrokerError> {
        validate_queue_name(queue)?;
        let client = self.db.client().await?;
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = client
            .query(DEAD_LETTERS, &[&queue, &limit])
            .await
            .map_err(|e| op("list dead letters", e))?;
        rows.iter()
            .map(|row| {
                let message = message(queue, row)?;
                Ok(DeadLetter {
                    message,
                    reason: row.get(7),
                    dead_ms: u64::try_from(row.get::<_, i64>(8)).unwrap_or(0),
                })
            })
            .collect()
    }

    async fn replay_dead_letters(
        &self,
        queue: &str,
        ids: Option<&[String]>,
    ) -> Result<u64, BrokerError> {
        validate_queue_name(queue)?;
        let ids: Option<Vec<&str>> = ids.map(|ids| ids.iter().map(String::as_str).collect());
        let client = self.db.client().await?;
        client
            .execute(REPLAY, &[&queue, &ids])
            .await
            .map_err(|e| op("replay dead letters", e))
    }

    async fn purge_dead_letters(&self, queue: &str) -> Result<u64, BrokerError> {
        validate_queue_name(queue)?;
        let client = self.db.client().await?;
        client
            .execute(PURGE, &[&queue])
            .await
            .map_err(|e| op("purge dead letters", e))
    }

    async fn close(&self) -> Result<(), BrokerError> {
        self.listener.stop();
        Ok(())
    }
}

/// Whole milliseconds of `d`, saturating.
pub(crate) fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// The message of a `jobs` row (columns from `id` on at offset 2) or a `dead` row (offset 0).
fn message(queue: &str, row: &Row) -> Result<Message, BrokerError> {
    let at = usize::from(row.columns().first().is_some_and(|c| c.name() == "seq")) * 2;
    let corrupt = |detail: String| BrokerError::Corrupt {
        what: format!("job of queue {queue:?}"),
        detail,
    };
    let count = |i: usize| {
        u32::try_from(row.get::<_, i32>(i)).map_err(|_| corrupt(format!("negative column {i}")))
    };
    let body: Vec<u8> = row.get(at + 1);
    Ok(Message {
        id: row.get(at),
        queue: queue.to_owned(),
        body: Bytes::from(body),
        priority: u8::try_from(row.get::<_, i16>(at + 2))
            .map_err(|_| corrupt("negative priority".to_owned()))?
            .min(MAX_PRIORITY),
        attempt: count(at + 3)?.max(1),
        requeues: count(at + 4)?,
        redeliveries: count(at + 5)?,
        published_ms: u64::try_from(row.get::<_, i64>(at + 6)).unwrap_or(0),
    })
}

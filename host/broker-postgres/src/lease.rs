//! Renewing and settling one fetched job. Every statement matches the row by `seq` *and* the
//! lease `token` this fetch drew: once the job was fetched again (a new token), a late renew or
//! settle matches nothing and returns [`BrokerError::LeaseLost`] (the late-settle rule).

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use wasmboost_broker::{BrokerError, Lease, Settlement};

use crate::broker::millis;
use crate::error::op;
use crate::pool::Db;

const RENEW: &str = "
UPDATE wasmboost.jobs SET lease_until = wasmboost.now_ms() + $3
WHERE seq = $1 AND token = $2";

const ACK: &str = "DELETE FROM wasmboost.jobs WHERE seq = $1 AND token = $2";

/// Back of its priority (a new `seq`), attempt + 1, visible after `$3` ms.
const RETRY: &str = "
UPDATE wasmboost.jobs
SET seq = nextval('wasmboost.job_order'), attempt = attempt + 1,
    run_at = wasmboost.now_ms() + $3, lease_until = NULL, token = NULL
WHERE seq = $1 AND token = $2";

/// Back of its priority, visible now, same attempt.
const REQUEUE: &str = "
UPDATE wasmboost.jobs
SET seq = nextval('wasmboost.job_order'), requeues = requeues + 1,
    run_at = wasmboost.now_ms(), lease_until = NULL, token = NULL
WHERE seq = $1 AND token = $2";

const DEAD_LETTER: &str = "
WITH gone AS (DELETE FROM wasmboost.jobs WHERE seq = $1 AND token = $2 RETURNING *)
INSERT INTO wasmboost.dead (queue, id, body, priority, attempt, requeues, redeliveries,
                            published_ms, reason, dead_ms)
SELECT queue, id, body, priority, attempt, requeues, redeliveries, published_ms, $3,
       wasmboost.now_ms()
FROM gone";

pub(crate) struct PgLease {
    db: Arc<Db>,
    queue: String,
    id: String,
    seq: i64,
    token: i64,
}

impl PgLease {
    pub(crate) fn new(db: Arc<Db>, queue: &str, id: &str, seq: i64, token: i64) -> Self {
        PgLease {
            db,
            queue: queue.to_owned(),
            id: id.to_owned(),
            seq,
            token,
        }
    }

    /// One row changed, or the lease was lost.
    fn changed(&self, rows: u64) -> Result<(), BrokerError> {
        if rows == 0 {
            Err(BrokerError::LeaseLost {
                queue: self.queue.clone(),
                id: self.id.clone(),
            })
        } else {
            Ok(())
        }
    }
}

#[async_trait]
impl Lease for PgLease {
    async fn renew(&self, lease: Duration) -> Result<(), BrokerError> {
        let client = self.db.client().await?;
        let rows = client
            .execute(RENEW, &[&self.seq, &self.token, &millis(lease)])
            .await
            .map_err(|e| op("renew", e))?;
        self.changed(rows)
    }

    async fn settle(self: Box<Self>, settlement: Settlement) -> Result<(), BrokerError> {
        let client = self.db.client().await?;
        let (seq, token) = (&self.seq, &self.token);
        let done = match &settlement {
            Settlement::Ack => client.execute(ACK, &[seq, token]).await,
            Settlement::Retry { after } => {
                client.execute(RETRY, &[seq, token, &millis(*after)]).await
            }
            Settlement::Requeue => client.execute(REQUEUE, &[seq, token]).await,
            Settlement::DeadLetter { reason } => {
                client.execute(DEAD_LETTER, &[seq, token, reason]).await
            }
        };
        let rows = done.map_err(|e| op("settle", e))?;
        self.changed(rows)
    }
}

//! One delivery's lease: renewing it (resetting the entry's idle time) and settling it. Acks go
//! through the group-committing acker; retries, requeues and dead letters run a script that first
//! checks this host still holds the entry, so a host whose lease ended cannot put a second copy
//! back after another host took the message over.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use wasmboost_broker::{BrokerError, Lease, Message, Settlement};

use crate::broker::Shared;
use crate::error::broker_err;
use crate::fetch::MAX_LEASE_MS;
use crate::fields::to_fields;
use crate::reply::int;
use crate::scripts::{RENEW, SETTLE};

pub(crate) struct RedisLease {
    shared: Arc<Shared>,
    queue: String,
    level: u8,
    entry_id: String,
    /// The message as delivered, to write back on retry, requeue or dead-letter.
    message: Message,
}

impl RedisLease {
    pub(crate) fn new(
        shared: Arc<Shared>,
        queue: &str,
        level: u8,
        entry_id: String,
        message: &Message,
    ) -> Self {
        RedisLease {
            shared,
            queue: queue.to_owned(),
            level,
            entry_id,
            message: message.clone(),
        }
    }

    fn lost(&self, detail: &str) -> BrokerError {
        BrokerError::Backend(format!(
            "lease of message {} (entry {}) on queue {} lost: {detail}",
            self.message.id, self.entry_id, self.queue
        ))
    }

    async fn run_settle(
        &self,
        mode: &str,
        delay: Duration,
        reason: &str,
        message: &Message,
    ) -> Result<(), BrokerError> {
        let s = &self.shared;
        let mut inv = SETTLE.prepare_invoke();
        inv.arg(s.keys.queue(&self.queue))
            .arg(&s.config.group)
            .arg(&s.consumer)
            .arg(self.level)
            .arg(&self.entry_id)
            .arg(mode)
            .arg(u64::try_from(delay.as_millis()).unwrap_or(u64::MAX))
            .arg(reason);
        for (k, v) in to_fields(message) {
            inv.arg(k).arg(v.as_ref());
        }
        let done = inv
            .invoke_async(&mut s.conn.manager())
            .await
            .map_err(broker_err)?;
        if int(done, "settle reply")? == 0 {
            // Another host holds it now and will settle it; a second copy must not appear.
            tracing::warn!(
                queue = %self.queue,
                id = %self.message.id,
                mode,
                "lease ended before settling; the host that took the message over settles it"
            );
        }
        Ok(())
    }
}

#[async_trait]
impl Lease for RedisLease {
    async fn renew(&self, lease: Duration) -> Result<(), BrokerError> {
        let s = &self.shared;
        let lease_ms = u64::try_from(lease.as_millis())
            .unwrap_or(u64::MAX)
            .clamp(1, MAX_LEASE_MS);
        let reply = RENEW
            .arg(s.keys.queue(&self.queue))
            .arg(&s.config.group)
            .arg(&s.consumer)
            .arg(self.level)
            .arg(&self.entry_id)
            .arg(lease_ms)
            .invoke_async(&mut s.conn.manager())
            .await
            .map_err(broker_err)?;
        match int(reply, "renew reply")? {
            1 => Ok(()),
            0 => Err(self.lost("another host took it over after the lease ended")),
            _ => Err(self.lost("it is no longer pending (settled, or the queue was deleted)")),
        }
    }

    async fn settle(self: Box<Self>, settlement: Settlement) -> Result<(), BrokerError> {
        let mut m = self.message.clone();
        match settlement {
            Settlement::Ack => {
                let stream = self.shared.keys.stream(&self.queue, self.level);
                self.shared.acker.ack(stream, self.entry_id.clone()).await
            }
            Settlement::Retry { after } => {
                m.attempt = m.attempt.saturating_add(1);
                self.run_settle("retry", after, "", &m).await
            }
            Settlement::Requeue => {
                m.requeues = m.requeues.saturating_add(1);
                self.run_settle("requeue", Duration::ZERO, "", &m).await
            }
            Settlement::DeadLetter { reason } => {
                self.run_settle("dead", Duration::ZERO, &reason, &m).await
            }
        }
    }
}

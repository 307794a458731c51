//! One delivery's lease: renewing it (resetting the entry's idle time) and settling it. Acks go
//! through the group-committing acker; retries, requeues and dead letters run a script that first
//! checks this host still holds the entry, so a host whose lease ended cannot put a second copy
//! back after another host took the message over.
//!
//! Late settles (see `wasmboost_broker::Lease`): a settle whose script finds another consumer
//! holding the entry returns `LeaseLost`; an ack made after half the lease is fenced by a renew
//! first (plain `XACK` would remove the entry from under the host that took it over). When this
//! same host took the entry over (one consumer name per host), the scripts cannot tell the two
//! deliveries apart: [`Holders`] gives each delivery a token, and only the latest may act.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::time::Instant;

use async_trait::async_trait;
use wasmboost_broker::{BrokerError, Lease, Message, Settlement};

use crate::broker::Shared;
use crate::error::broker_err;
use crate::fetch::MAX_LEASE_MS;
use crate::fields::to_fields;
use crate::reply::int;
use crate::scripts::{RENEW, SETTLE};

/// The latest delivery of each entry this host holds: a token per delivery.
#[derive(Debug, Default)]
pub(crate) struct Holders {
    next: AtomicU64,
    current: Mutex<HashMap<String, u64>>,
}

impl Holders {
    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<String, u64>> {
        // Only a map of tokens: a panic elsewhere cannot leave it half-updated.
        self.current.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A new delivery of `key`: its token (any earlier delivery's token stops holding).
    fn take(&self, key: &str) -> u64 {
        let token = self.next.fetch_add(1, Ordering::Relaxed) + 1;
        self.map().insert(key.to_owned(), token);
        token
    }

    fn holds(&self, key: &str, token: u64) -> bool {
        self.map().get(key) == Some(&token)
    }

    fn release(&self, key: &str, token: u64) {
        let mut map = self.map();
        if map.get(key) == Some(&token) {
            map.remove(key);
        }
    }
}

pub(crate) struct RedisLease {
    shared: Arc<Shared>,
    queue: String,
    level: u8,
    entry_id: String,
    /// The message as delivered, to write back on retry, requeue or dead-letter.
    message: Message,
    /// Past this, another host may have reclaimed the entry: an ack renews first.
    fence_after: Mutex<Instant>,
    lease_ms: u64,
    /// This delivery in `Shared::holders`.
    key: String,
    token: u64,
}

impl Drop for RedisLease {
    fn drop(&mut self) {
        self.shared.holders.release(&self.key, self.token);
    }
}

impl RedisLease {
    pub(crate) fn new(
        shared: Arc<Shared>,
        queue: &str,
        level: u8,
        entry_id: String,
        message: &Message,
        lease_ms: u64,
    ) -> Self {
        let key = format!("{queue}\n{level}\n{entry_id}");
        let token = shared.holders.take(&key);
        RedisLease {
            key,
            token,
            shared,
            queue: queue.to_owned(),
            level,
            entry_id,
            message: message.clone(),
            fence_after: Mutex::new(fence_after(lease_ms)),
            lease_ms,
        }
    }

    fn lost(&self) -> BrokerError {
        BrokerError::LeaseLost {
            queue: self.queue.clone(),
            id: self.message.id.clone(),
        }
    }

    /// Before a settle: a late one renews first, proving (and keeping) the hold.
    async fn fence(&self) -> Result<(), BrokerError> {
        if self.late() {
            self.renew(Duration::from_millis(self.lease_ms)).await
        } else if self.shared.holders.holds(&self.key, self.token) {
            Ok(())
        } else {
            Err(self.lost())
        }
    }

    fn late(&self) -> bool {
        Instant::now()
            >= *self
                .fence_after
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
    }

    async fn run_settle(
        &self,
        mode: &str,
        delay: Duration,
        reason: &str,
        message: &Message,
    ) -> Result<(), BrokerError> {
        self.fence().await?;
        let s = &self.shared;
        let mut inv = SETTLE.prepare_invoke();
        let ns = s.keys.queue(&self.queue);
        inv.key(&ns)
            .arg(&ns)
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
            // Another host holds it now and will settle it; no second copy was made.
            return Err(self.lost());
        }
        Ok(())
    }
}

/// When an ack must be fenced: half the lease after it was (re)started, well before any other
/// host can reclaim the entry (the reclaim waits for the whole lease on the server's clock).
fn fence_after(lease_ms: u64) -> Instant {
    Instant::now() + Duration::from_millis(lease_ms / 2)
}

#[async_trait]
impl Lease for RedisLease {
    async fn renew(&self, lease: Duration) -> Result<(), BrokerError> {
        if !self.shared.holders.holds(&self.key, self.token) {
            // This host took the entry over after the lease ended: a newer delivery holds it.
            return Err(self.lost());
        }
        let s = &self.shared;
        let lease_ms = u64::try_from(lease.as_millis())
            .unwrap_or(u64::MAX)
            .clamp(1, MAX_LEASE_MS);
        let ns = s.keys.queue(&self.queue);
        let reply = RENEW
            .key(&ns)
            .arg(&ns)
            .arg(&s.config.group)
            .arg(&s.consumer)
            .arg(self.level)
            .arg(&self.entry_id)
            .arg(lease_ms)
            .invoke_async(&mut s.conn.manager())
            .await
            .map_err(broker_err)?;
        match int(reply, "renew reply")? {
            1 => {
                *self
                    .fence_after
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner) = fence_after(lease_ms);
                Ok(())
            }
            // Another host took it over, or it is no longer pending (settled elsewhere).
            _ => Err(self.lost()),
        }
    }

    async fn settle(self: Box<Self>, settlement: Settlement) -> Result<(), BrokerError> {
        let mut m = self.message.clone();
        match settlement {
            Settlement::Ack => {
                // Renewing (when late) proves this host still holds the entry, and keeps it
                // held until the ack below lands.
                self.fence().await?;
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

//! Leases of fetched messages. The server's lease is the consumer's `AckWait`; a delivery's own
//! lease (any length the worker asks for) is kept here:
//!
//! - **keep-alive:** every `AckWait / 3` an in-progress ack (`+WPI`) restarts the server's
//!   AckWait, until the delivery's lease ends. A host that dies stops sending them, and its
//!   messages come back after at most AckWait.
//! - **lease end:** a delivery not settled or renewed by its lease end is NAKed (delivered again
//!   now) and forgotten; a settle or renew after that is [`BrokerError::LeaseLost`].
//! - **stall fence:** JetStream takes an ack for a message it handed out again to another
//!   consumer as that consumer's ack, so a holder that could not send its keep-alive for a whole
//!   AckWait (its process stalled) treats the lease as lost instead of settling. That fence is
//!   the local clock: the server cannot tell a late ack apart.
//!
//! Settling: `Ack` is a confirmed ack (the server answers); `Retry`, `Requeue` and `DeadLetter`
//! first publish the new copy (awaiting JetStream's ack, `Nats-Msg-Id` = id + the old copy's
//! sequence, so a host that died between the publish and the ack and ran the message again
//! stores that copy once), then ack the old one.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use async_nats::jetstream::AckKind;
use async_nats::jetstream::Message as JsMessage;
use async_trait::async_trait;
use tokio::time::Instant;
use wasmboost_broker::networked::reaper::Deadlines;
use wasmboost_broker::networked::wire::WireFields;
use wasmboost_broker::{BrokerError, Lease, Message, Settlement, ms_after, now_ms};

use crate::error::op;
use crate::topology::{Queue, band_subject, dead_subject, delayed_subject};
use crate::wire;

/// One delivery held by this process.
struct Held {
    js: Arc<JsMessage>,
    queue: Arc<Queue>,
    lease_end: Instant,
    /// When the server's AckWait last restarted for it (fetch or in-progress ack).
    kept_at: Instant,
}

/// Every delivery this process holds, and the task that keeps them alive or ends them.
pub(crate) struct Leases {
    held: Mutex<HashMap<u64, Held>>,
    due: Deadlines<u64>,
    next: AtomicU64,
    ack_wait: Duration,
}

impl std::fmt::Debug for Leases {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Leases")
            .field("held", &self.lock().len())
            .finish()
    }
}

impl Leases {
    /// The lease table and its keeper task (which ends when the table is dropped).
    pub(crate) fn start(ack_wait: Duration) -> Arc<Leases> {
        let leases = Arc::new(Leases {
            held: Mutex::new(HashMap::new()),
            due: Deadlines::default(),
            next: AtomicU64::new(0),
            ack_wait,
        });
        let weak = Arc::downgrade(&leases);
        tokio::spawn(async move {
            loop {
                let Some(leases) = weak.upgrade() else { return };
                let keys = tokio::select! {
                    keys = leases.due.due() => keys,
                    // Look again now and then so the task ends once the table is dropped.
                    () = tokio::time::sleep(Duration::from_secs(1)) => continue,
                };
                for key in keys {
                    leases.tend(key).await;
                }
            }
        });
        leases
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<u64, Held>> {
        // Only a table of deliveries: a panic elsewhere cannot leave it half-updated.
        self.held.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn keepalive(&self) -> Duration {
        self.ack_wait / 3
    }

    /// Hold `js` for `lease`; the returned lease settles it.
    pub(crate) fn hold(
        self: &Arc<Self>,
        queue: &Arc<Queue>,
        js: JsMessage,
        message: &Message,
        lease: Duration,
    ) -> NatsLease {
        let key = self.next.fetch_add(1, Ordering::Relaxed);
        let now = Instant::now();
        let lease_end = now + lease;
        let js = Arc::new(js);
        self.lock().insert(
            key,
            Held {
                js: Arc::clone(&js),
                queue: Arc::clone(queue),
                lease_end,
                kept_at: now,
            },
        );
        self.due.file(key, lease_end.min(now + self.keepalive()));
        NatsLease {
            leases: Arc::clone(self),
            key,
            js,
            queue: Arc::clone(queue),
            message: message.clone(),
        }
    }

    /// A deadline of `key` came: end its lease, or keep it alive.
    async fn tend(&self, key: u64) {
        let now = Instant::now();
        let (js, ended, queue) = {
            let mut held = self.lock();
            let Some(h) = held.get_mut(&key) else { return };
            if now >= h.lease_end {
                let Some(h) = held.remove(&key) else { return };
                (h.js, true, h.queue)
            } else {
                h.kept_at = now;
                self.due.file(key, h.lease_end.min(now + self.keepalive()));
                (Arc::clone(&h.js), false, Arc::clone(&h.queue))
            }
        };
        if ended {
            // Back to the queue now; a waiting fetch in this process looks again.
            let _ = js.ack_with(AckKind::Nak(None)).await;
            queue.wake.notify_waiters();
        } else if let Err(e) = js.ack_with(AckKind::Progress).await {
            tracing::warn!(error = %e, "nats: in-progress ack failed; the lease may end early");
        }
    }

    /// Take `key` out of the table for a settle: `None` if its lease ended (or may have ended
    /// on the server, see the stall fence).
    fn take(&self, key: u64) -> Option<Held> {
        let h = self.lock().remove(&key)?;
        (h.kept_at.elapsed() < self.ack_wait).then_some(h)
    }

    /// Renew `key` to `lease` from now.
    fn renew(&self, key: u64, lease: Duration) -> Option<Arc<JsMessage>> {
        let now = Instant::now();
        let mut held = self.lock();
        let h = held.get_mut(&key)?;
        if h.kept_at.elapsed() >= self.ack_wait {
            held.remove(&key);
            return None;
        }
        h.lease_end = now + lease;
        h.kept_at = now;
        self.due.file(key, h.lease_end.min(now + self.keepalive()));
        Some(Arc::clone(&h.js))
    }
}

/// A fetched message's lease.
pub(crate) struct NatsLease {
    leases: Arc<Leases>,
    key: u64,
    js: Arc<JsMessage>,
    queue: Arc<Queue>,
    message: Message,
}

impl NatsLease {
    fn lost(&self) -> BrokerError {
        BrokerError::LeaseLost {
            queue: self.queue.name.clone(),
            id: self.message.id.clone(),
        }
    }

    fn client(&self) -> async_nats::Client {
        self.queue.js.client()
    }

    /// The stream sequence of this copy (names the copies made from it).
    fn seq(&self) -> u64 {
        self.js.info().map_or(0, |i| i.stream_sequence)
    }

    /// Publish `m`'s next copy to `subject` and wait for JetStream to store it.
    async fn republish(
        &self,
        subject: String,
        fields: &WireFields,
        not_before: Option<u64>,
        tag: &str,
    ) -> Result<(), BrokerError> {
        let msg_id = format!("{}#{}{tag}", self.message.id, self.seq());
        let headers = wire::headers(fields, not_before, &msg_id);
        let client = self.client();
        let js = &self.queue.js;
        let ack = js
            .publish_with_headers(subject, headers, self.message.body.clone())
            .await
            .map_err(|e| op(&client, "publish", e))?;
        ack.await.map_err(|e| op(&client, "publish ack", e))?;
        Ok(())
    }

    async fn ack(&self) -> Result<(), BrokerError> {
        let client = self.client();
        self.js
            .double_ack()
            .await
            .map_err(|e| op(&client, "ack", e))
    }
}

/// `text` without control characters (headers are one line).
fn one_line(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

#[async_trait]
impl Lease for NatsLease {
    async fn renew(&self, lease: Duration) -> Result<(), BrokerError> {
        let js = self
            .leases
            .renew(self.key, lease)
            .ok_or_else(|| self.lost())?;
        let client = self.client();
        js.ack_with(AckKind::Progress)
            .await
            .map_err(|e| op(&client, "renew", e))
    }

    async fn settle(self: Box<Self>, settlement: Settlement) -> Result<(), BrokerError> {
        if self.leases.take(self.key).is_none() {
            return Err(self.lost());
        }
        let q = &self.queue.name;
        // The copy carries the redeliveries so far: its own delivery count starts again.
        let mut fields = WireFields::of(&self.message);
        match settlement {
            Settlement::Ack => {}
            Settlement::Retry { after } => {
                fields.attempt = Some(self.message.attempt.saturating_add(1));
                if after.is_zero() {
                    let band = band_subject(q, self.message.priority);
                    self.republish(band, &fields, None, "r").await?;
                } else {
                    let due = Some(ms_after(after));
                    self.republish(delayed_subject(q), &fields, due, "r")
                        .await?;
                }
            }
            Settlement::Requeue => {
                fields.requeues = Some(self.message.requeues.saturating_add(1));
                let band = band_subject(q, self.message.priority);
                self.republish(band, &fields, None, "q").await?;
            }
            Settlement::DeadLetter { reason } => {
                fields.reason = Some(one_line(&reason));
                fields.dead_ms = Some(now_ms());
                self.republish(dead_subject(q), &fields, None, "d").await?;
            }
        }
        self.ack().await
    }
}

//! The lease of one delivery. RabbitMQ has no per-message lease: an unacked message is handed out
//! again only when the consumer's channel or connection dies (a dead host). Within a live host the
//! lease is kept here: when it ends unsettled, a copy with one more redelivery is published
//! (confirmed) and the original acked, so a stalled task's message runs again like on the other
//! brokers. `renew` moves that local deadline; one [`Reaper`] per broker watches every deadline
//! (no task or timer per delivery). Acks go through the channel's [`AckBatcher`].
//!
//! Settling a delivery whose channel died fails with `Unavailable`: RabbitMQ delivers it again.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use async_trait::async_trait;
use tokio::time::Instant;
use wasmboost_broker::{BrokerError, Lease, Settlement, ms_after, now_ms};

use crate::acks::AckBatcher;
use crate::codec::{Envelope, H_DEAD, H_REASON, clamp_i64, long_string};
use crate::reaper::{DueKey, Reaper};
use crate::session::{Outgoing, Session};
use crate::topology;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum State {
    Held,
    Settled,
    Expired,
}

/// Where a delivery stands, and where the reaper files it.
#[derive(Debug)]
pub(crate) struct Standing {
    pub state: State,
    /// When the lease ends (moved by renewals).
    pub deadline: Instant,
    /// The reaper's key for it (its deadline when filed; a renewal is noticed when it comes up).
    pub key: DueKey,
}

/// One held delivery, shared by its lease and the reaper.
#[derive(Debug)]
pub(crate) struct Shared {
    session: Arc<Session>,
    acks: Arc<AckBatcher>,
    tag: u64,
    envelope: Envelope,
    /// The queue's count of leased deliveries in this process.
    leased: Arc<AtomicU64>,
    standing: Mutex<Standing>,
    reaper: Weak<Reaper>,
}

/// The lease of one AMQP delivery.
#[derive(Debug)]
pub(crate) struct AmqpLease {
    shared: Arc<Shared>,
}

/// What a lease needs from the consumer that received the delivery.
#[derive(Debug)]
pub(crate) struct Origin {
    pub session: Arc<Session>,
    pub acks: Arc<AckBatcher>,
    pub leased: Arc<AtomicU64>,
}

impl AmqpLease {
    /// Hold `envelope` (delivery `tag` of `origin`'s channel) for `lease`; the reaper re-publishes
    /// it if the lease ends unsettled.
    pub fn hold(
        origin: &Origin,
        reaper: &Arc<Reaper>,
        tag: u64,
        envelope: Envelope,
        lease: Duration,
    ) -> AmqpLease {
        origin.leased.fetch_add(1, Ordering::AcqRel);
        let deadline = Instant::now() + lease;
        let shared = Arc::new(Shared {
            session: Arc::clone(&origin.session),
            acks: Arc::clone(&origin.acks),
            tag,
            envelope,
            leased: Arc::clone(&origin.leased),
            standing: Mutex::new(Standing {
                state: State::Held,
                deadline,
                key: DueKey::default(),
            }),
            reaper: Arc::downgrade(reaper),
        });
        reaper.file(&shared, deadline);
        AmqpLease { shared }
    }
}

impl Shared {
    pub(crate) fn lock(&self) -> std::sync::MutexGuard<'_, Standing> {
        self.standing.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Move from `Held` to `to`; false if the delivery already ended.
    fn finish(&self, to: State) -> bool {
        let key = {
            let mut st = self.lock();
            if st.state != State::Held {
                return false;
            }
            st.state = to;
            st.key
        };
        self.leased.fetch_sub(1, Ordering::AcqRel);
        if let Some(reaper) = self.reaper.upgrade() {
            reaper.forget(key);
        }
        true
    }

    fn lost(&self) -> BrokerError {
        let m = &self.envelope.message;
        BrokerError::LeaseLost {
            queue: m.queue.clone(),
            id: m.id.clone(),
        }
    }

    /// Publish `envelope` (confirmed), then ack the original: at-least-once.
    async fn replace(&self, out: Outgoing) -> Result<(), BrokerError> {
        if !self.acks.usable() {
            return Err(self.acks.gone());
        }
        self.session.publish_confirmed(vec![out]).await?;
        self.acks.ack(self.tag).await
    }

    /// The lease ended unsettled: put a copy back with one more redelivery.
    pub(crate) async fn expire(self: Arc<Self>) {
        if !self.finish(State::Expired) {
            return;
        }
        let mut envelope = self.envelope.clone();
        envelope.message.redeliveries = envelope.message.redeliveries.saturating_add(1);
        envelope.not_before_ms = None;
        let out = to_queue(&envelope, &[]);
        if let Err(e) = self.replace(out).await {
            // The original stays unacked: RabbitMQ hands it out again when the channel goes.
            tracing::warn!(id = %self.envelope.message.id, error = %e, "re-publishing after lease end failed");
        }
    }
}

/// An outgoing copy of `envelope` to its work queue (or delay bucket, if not due).
fn to_queue(envelope: &Envelope, extra: &[(&str, lapin::types::AMQPValue)]) -> Outgoing {
    let queue = &envelope.message.queue;
    let remaining = envelope
        .not_before_ms
        .map_or(0, |due| due.saturating_sub(now_ms()));
    let routing_key = topology::bucket_for(queue, remaining).unwrap_or_else(|| queue.clone());
    Outgoing {
        exchange: String::new(),
        routing_key,
        body: envelope.message.body.clone(),
        properties: envelope.properties(extra),
        id: envelope.message.id.clone(),
    }
}

/// The copy a settlement publishes before acking the original, or `None` for a plain ack.
pub(crate) fn settlement_copy(envelope: &Envelope, settlement: Settlement) -> Option<Outgoing> {
    let mut next = envelope.clone();
    next.not_before_ms = None;
    match settlement {
        Settlement::Ack => None,
        Settlement::Retry { after } => {
            next.message.attempt = next.message.attempt.saturating_add(1);
            next.not_before_ms = Some(ms_after(after));
            Some(to_queue(&next, &[]))
        }
        Settlement::Requeue => {
            next.message.requeues = next.message.requeues.saturating_add(1);
            Some(to_queue(&next, &[]))
        }
        Settlement::DeadLetter { reason } => {
            let extra = [
                (H_REASON, long_string(&reason)),
                (
                    H_DEAD,
                    lapin::types::AMQPValue::LongLongInt(clamp_i64(now_ms())),
                ),
            ];
            let mut out = to_queue(&next, &extra);
            out.exchange = topology::DLX.to_owned();
            out.routing_key = next.message.queue.clone();
            Some(out)
        }
    }
}

#[async_trait]
impl Lease for AmqpLease {
    async fn renew(&self, lease: Duration) -> Result<(), BrokerError> {
        let mut st = self.shared.lock();
        match st.state {
            State::Held => {
                let deadline = Instant::now() + lease;
                st.deadline = deadline;
                let earlier = deadline < st.key.at;
                drop(st);
                // A later deadline is noticed when the old one comes up; an earlier one is filed.
                if earlier && let Some(reaper) = self.shared.reaper.upgrade() {
                    reaper.file(&self.shared, deadline);
                }
                Ok(())
            }
            State::Expired => Err(self.shared.lost()),
            State::Settled => Err(BrokerError::Backend(format!(
                "message {:?} is already settled",
                self.shared.envelope.message.id
            ))),
        }
    }

    async fn settle(self: Box<Self>, settlement: Settlement) -> Result<(), BrokerError> {
        let shared = &self.shared;
        if !shared.finish(State::Settled) {
            return Err(shared.lost());
        }
        match settlement_copy(&shared.envelope, settlement) {
            None => shared.acks.ack(shared.tag).await,
            Some(out) => shared.replace(out).await,
        }
    }
}

//! The lease of one delivery. RabbitMQ has no per-message lease: an unacked message is handed out
//! again only when the consumer's channel or connection dies (a dead host). Within a live host the
//! lease is kept here: when it ends unsettled, a copy with one more redelivery is published
//! (confirmed) and the original acked, so a stalled task's message runs again like on the other
//! brokers. `renew` moves that local deadline.
//!
//! Settling a delivery whose channel died fails with `Unavailable`: RabbitMQ delivers it again.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use lapin::Acker;
use lapin::Channel;
use lapin::options::BasicAckOptions;
use tokio::sync::Notify;
use tokio::time::Instant;
use wasmboost_broker::{BrokerError, Lease, Settlement, ms_after, now_ms};

use crate::codec::{Envelope, H_DEAD, H_REASON, clamp_i64, long_string};
use crate::session::{Outgoing, Session, map_err};
use crate::topology;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Held,
    Settled,
    Expired,
}

#[derive(Debug)]
struct Shared {
    session: Arc<Session>,
    channel: Channel,
    acker: Acker,
    envelope: Envelope,
    /// The queue's count of leased deliveries in this process.
    leased: Arc<AtomicU64>,
    state: Mutex<(State, Instant)>,
    settled: Notify,
}

/// The lease of one AMQP delivery.
#[derive(Debug)]
pub(crate) struct AmqpLease {
    shared: Arc<Shared>,
}

impl AmqpLease {
    /// Hold `envelope` (delivered on `channel`) for `lease`; a timer re-publishes it if the lease
    /// ends unsettled.
    pub fn hold(
        session: Arc<Session>,
        channel: Channel,
        acker: Acker,
        envelope: Envelope,
        leased: Arc<AtomicU64>,
        lease: Duration,
    ) -> AmqpLease {
        leased.fetch_add(1, Ordering::AcqRel);
        let shared = Arc::new(Shared {
            session,
            channel,
            acker,
            envelope,
            leased,
            state: Mutex::new((State::Held, Instant::now() + lease)),
            settled: Notify::new(),
        });
        tokio::spawn(expire(Arc::clone(&shared)));
        AmqpLease { shared }
    }
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, (State, Instant)> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Move from `Held` to `to`; false if the delivery already ended.
    fn finish(&self, to: State) -> bool {
        let mut st = self.lock();
        if st.0 != State::Held {
            return false;
        }
        st.0 = to;
        self.leased.fetch_sub(1, Ordering::AcqRel);
        true
    }

    fn lost(&self) -> BrokerError {
        let m = &self.envelope.message;
        BrokerError::Backend(format!(
            "lease of message {:?} on queue {:?} was lost: it ended before being renewed or \
             settled, and the message was delivered again",
            m.id, m.queue
        ))
    }

    fn channel_gone(&self) -> BrokerError {
        let m = &self.envelope.message;
        BrokerError::Unavailable(format!(
            "the channel that delivered message {:?} on queue {:?} closed; rabbitmq delivers it \
             again",
            m.id, m.queue
        ))
    }

    /// Publish `envelope` (confirmed), then ack the original: at-least-once.
    async fn replace(&self, out: Outgoing) -> Result<(), BrokerError> {
        if !self.channel.status().connected() {
            return Err(self.channel_gone());
        }
        self.session.publish_confirmed(vec![out]).await?;
        self.ack().await
    }

    async fn ack(&self) -> Result<(), BrokerError> {
        let m = &self.envelope.message;
        let done = self
            .acker
            .ack(BasicAckOptions::default())
            .await
            .map_err(|e| map_err(&format!("acking message {:?}", m.id), &e))?;
        if done {
            Ok(())
        } else {
            Err(self.channel_gone())
        }
    }
}

/// Wait for the lease deadline (moved by renewals); if the delivery is still held then, put a copy
/// back with one more redelivery.
async fn expire(shared: Arc<Shared>) {
    loop {
        let (state, deadline) = *shared.lock();
        if state != State::Held {
            return;
        }
        if Instant::now() >= deadline {
            break;
        }
        tokio::select! {
            () = tokio::time::sleep_until(deadline) => {}
            () = shared.settled.notified() => {}
        }
    }
    if !shared.finish(State::Expired) {
        return;
    }
    let mut envelope = shared.envelope.clone();
    envelope.message.redeliveries = envelope.message.redeliveries.saturating_add(1);
    envelope.not_before_ms = None;
    let out = to_queue(&envelope, &[]);
    if let Err(e) = shared.replace(out).await {
        // The original stays unacked: RabbitMQ hands it out again when the channel goes.
        tracing::warn!(id = %shared.envelope.message.id, error = %e, "re-publishing after lease end failed");
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
        match st.0 {
            State::Held => {
                st.1 = Instant::now() + lease;
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
        shared.settled.notify_one();
        match settlement_copy(&shared.envelope, settlement) {
            None => shared.ack().await,
            Some(out) => shared.replace(out).await,
        }
    }
}

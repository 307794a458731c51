//! One consumer per queue and session: a channel with a prefetch limit whose deliveries are
//! buffered for `fetch`. Messages not yet due (delays hop through TTL buckets) are routed on to
//! the next bucket here instead of being buffered.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU16, Ordering};
use std::sync::{Arc, Mutex};

use futures::StreamExt;
use lapin::message::Delivery as AmqpDelivery;
use lapin::options::{BasicConsumeOptions, BasicQosOptions};
use lapin::types::FieldTable;
use lapin::{Channel, Consumer};
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use wasmboost_broker::{BrokerError, now_ms};

use crate::acks::AckBatcher;
use crate::codec::Envelope;
use crate::config::QueueType;
use crate::session::{Outgoing, Session, map_err};
use crate::topology;

/// A delivery received and decoded, waiting for `fetch`.
#[derive(Debug)]
pub(crate) struct Received {
    pub envelope: Envelope,
    /// The delivery tag on the consumer's channel.
    pub tag: u64,
}

#[derive(Debug)]
pub(crate) struct QueueConsumer {
    pub session: Arc<Session>,
    pub channel: Channel,
    /// Every ack of `channel` goes through here (coalesced into multiple acks).
    pub acks: Arc<AckBatcher>,
    buffer: Mutex<VecDeque<Received>>,
    pub notify: Notify,
    prefetch: AtomicU16,
    dead: AtomicBool,
    /// The pumps of the channel's consumers (one; more on a quorum queue, see `raise_prefetch`).
    tasks: Mutex<Vec<JoinHandle<()>>>,
    queue: String,
}

impl QueueConsumer {
    /// Open a channel on `session`, limit it to `prefetch` unacked deliveries, and consume `queue`.
    pub async fn start(
        session: Arc<Session>,
        queue: &str,
        prefetch: u16,
    ) -> Result<Arc<QueueConsumer>, BrokerError> {
        let what = format!("consuming queue {queue:?}");
        let channel = session.channel().await?;
        // Global: the limit is the channel's (one consumer per channel), so raising it later
        // takes effect for this consumer at once. Quorum queues refuse a global limit: theirs is
        // the consumer's, set here once (see `raise_prefetch`).
        let global = session.queue_type() == QueueType::Classic;
        channel
            .basic_qos(prefetch, BasicQosOptions { global })
            .await
            .map_err(|e| map_err(&what, &e))?;
        let stream = consume(&channel, queue)
            .await
            .map_err(|e| map_err(&what, &e))?;
        let consumer = Arc::new(QueueConsumer {
            session,
            acks: AckBatcher::start(channel.clone(), global),
            channel,
            buffer: Mutex::new(VecDeque::new()),
            notify: Notify::new(),
            prefetch: AtomicU16::new(prefetch),
            dead: AtomicBool::new(false),
            tasks: Mutex::new(Vec::new()),
            queue: queue.to_owned(),
        });
        consumer.spawn_pump(stream);
        Ok(consumer)
    }

    /// Usable: its session is the current one and its channel is open.
    pub fn usable(&self, generation: u64) -> bool {
        self.session.generation == generation
            && !self.dead.load(Ordering::Acquire)
            && self.channel.status().connected()
    }

    pub fn is_dead(&self) -> bool {
        self.dead.load(Ordering::Acquire) || !self.channel.status().connected()
    }

    /// Raise the prefetch limit to at least `want` (never lowers it).
    ///
    /// On a quorum queue a consumer's limit is fixed once it consumes (no channel-wide limit):
    /// the channel gets one more consumer for the difference, and the total at least doubles
    /// each time so a queue growing to `n` held deliveries adds O(log n) consumers.
    pub async fn raise_prefetch(self: &Arc<Self>, want: u16) -> Result<(), BrokerError> {
        if self.session.queue_type() == QueueType::Quorum {
            let old = self.prefetch.load(Ordering::Acquire);
            if old >= want {
                return Ok(());
            }
            let total = want.max(old.saturating_mul(2));
            self.prefetch.store(total, Ordering::Release);
            let what = format!("raising the prefetch of queue {:?}", self.queue);
            self.channel
                .basic_qos(total - old, BasicQosOptions { global: false })
                .await
                .map_err(|e| map_err(&what, &e))?;
            let stream = consume(&self.channel, &self.queue)
                .await
                .map_err(|e| map_err(&what, &e))?;
            self.spawn_pump(stream);
            return Ok(());
        }
        if self.prefetch.fetch_max(want, Ordering::AcqRel) >= want {
            return Ok(());
        }
        self.channel
            .basic_qos(want, BasicQosOptions { global: true })
            .await
            .map_err(|e| map_err("raising the prefetch", &e))
    }

    /// Up to `max` buffered deliveries, oldest first.
    pub fn take(&self, max: usize) -> Vec<Received> {
        let mut buffer = self.buffer.lock().unwrap_or_else(|p| p.into_inner());
        let n = max.min(buffer.len());
        buffer.drain(..n).collect()
    }

    pub fn buffered(&self) -> usize {
        self.buffer.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    fn spawn_pump(self: &Arc<Self>, stream: Consumer) {
        let task = tokio::spawn(pump(Arc::downgrade(self), stream, self.queue.clone()));
        self.tasks
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(task);
    }

    fn push(&self, received: Received) {
        self.buffer
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push_back(received);
        self.notify.notify_waiters();
    }

    fn mark_dead(&self) {
        self.dead.store(true, Ordering::Release);
        // Buffered deliveries belong to a dead channel: RabbitMQ delivers them again.
        self.buffer
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
        self.notify.notify_waiters();
    }
}

impl Drop for QueueConsumer {
    fn drop(&mut self) {
        for task in self
            .tasks
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .drain(..)
        {
            task.abort();
        }
    }
}

/// Start consuming `queue` on `channel` under the channel's current prefetch setting.
async fn consume(channel: &Channel, queue: &str) -> lapin::Result<Consumer> {
    channel
        .basic_consume(
            queue.into(),
            "".into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await
}

/// Move deliveries from the AMQP stream into the buffer until the channel dies.
async fn pump(consumer: std::sync::Weak<QueueConsumer>, mut stream: Consumer, queue: String) {
    while let Some(item) = stream.next().await {
        let Some(this) = consumer.upgrade() else {
            return;
        };
        let delivery = match item {
            Ok(d) => d,
            Err(e) => {
                tracing::warn!(queue, error = %e, "rabbitmq consumer stopped");
                break;
            }
        };
        if let Err(e) = this.receive(&queue, delivery).await {
            tracing::warn!(queue, error = %e, "routing a delayed message failed; it stays unacked");
        }
    }
    if let Some(this) = consumer.upgrade() {
        this.mark_dead();
    }
}

impl QueueConsumer {
    async fn receive(&self, queue: &str, delivery: AmqpDelivery) -> Result<(), BrokerError> {
        let AmqpDelivery {
            delivery_tag: tag,
            properties,
            data,
            redelivered,
            ..
        } = delivery;
        self.acks.received(tag);
        let envelope = Envelope::decode(queue, &properties, data, redelivered);
        let remaining = envelope
            .not_before_ms
            .map_or(0, |due| due.saturating_sub(now_ms()));
        match topology::bucket_for(queue, remaining) {
            None => {
                self.push(Received { envelope, tag });
                Ok(())
            }
            Some(bucket) => {
                // Not due yet: wait in the next bucket. The hop is not a redelivery.
                let mut envelope = envelope;
                envelope.message.redeliveries = envelope
                    .message
                    .redeliveries
                    .saturating_sub(u32::from(redelivered));
                let out = Outgoing {
                    exchange: String::new(),
                    routing_key: bucket,
                    body: envelope.message.body.clone(),
                    properties: envelope.properties(&[]),
                    id: envelope.message.id.clone(),
                };
                self.session.publish_confirmed(vec![out]).await?;
                self.acks.ack(tag).await
            }
        }
    }
}

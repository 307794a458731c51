//! [`AmqpBroker`]: the [`Broker`] seam over RabbitMQ.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use tokio::time::Instant;
use wasmboost_broker::{
    Broker, BrokerError, DeadLetter, Delivery, NewMessage, QueueCounts, validate_queue_name,
};

use crate::codec::Envelope;
use crate::config::QueueType;
use crate::consumer::QueueConsumer;
use crate::dlq;
use crate::lease::{AmqpLease, Origin};
use crate::reaper::Reaper;
use crate::session::{Link, Outgoing, Session, map_err};
use crate::topology;

/// A broker on a RabbitMQ server (AMQP 0.9.1). See the crate docs for the topology and the
/// guarantees.
#[derive(Debug)]
pub struct AmqpBroker {
    link: Link,
    /// One consumer per queue; replaced when its session is gone.
    consumers: tokio::sync::Mutex<HashMap<String, Arc<QueueConsumer>>>,
    /// Deliveries handed out and not yet settled, per queue, in this process.
    leased: Mutex<HashMap<String, Arc<AtomicU64>>>,
    /// Ends the leases of deliveries held too long.
    reaper: Arc<Reaper>,
}

impl AmqpBroker {
    /// A broker for `url` (`amqp://user:pass@host:5672/%2f`). Connects lazily; see [`crate::open`]
    /// to connect at once.
    pub fn new(url: &str) -> AmqpBroker {
        AmqpBroker::with_queue_type(url, QueueType::Classic)
    }

    /// A broker for `url` that declares its queues as `queue_type`.
    pub fn with_queue_type(url: &str, queue_type: QueueType) -> AmqpBroker {
        AmqpBroker::with_nodes(vec![url.to_owned()], queue_type)
    }

    /// A broker on the nodes `urls` of one cluster, tried in turn (see `session`).
    pub fn with_nodes(urls: Vec<String>, queue_type: QueueType) -> AmqpBroker {
        AmqpBroker {
            link: Link::new(urls, queue_type),
            consumers: tokio::sync::Mutex::new(HashMap::new()),
            leased: Mutex::new(HashMap::new()),
            reaper: Arc::new(Reaper::default()),
        }
    }

    /// Connect now (fails if RabbitMQ is unreachable or refuses the credentials).
    pub async fn connect(&self) -> Result<(), BrokerError> {
        self.link.session().await.map(drop)
    }

    fn leased_counter(&self, queue: &str) -> Arc<AtomicU64> {
        let mut map = self.leased.lock().unwrap_or_else(|p| p.into_inner());
        Arc::clone(map.entry(queue.to_owned()).or_default())
    }

    /// The queue's consumer on the current session, started (or raised to `prefetch`) as needed.
    async fn consumer(
        &self,
        session: &Arc<Session>,
        queue: &str,
        prefetch: u16,
    ) -> Result<Arc<QueueConsumer>, BrokerError> {
        let mut consumers = self.consumers.lock().await;
        if let Some(c) = consumers.get(queue)
            && c.usable(session.generation)
        {
            let c = Arc::clone(c);
            drop(consumers);
            c.raise_prefetch(prefetch).await?;
            return Ok(c);
        }
        session.ensure_topology(queue).await?;
        let c = QueueConsumer::start(Arc::clone(session), queue, prefetch).await?;
        consumers.insert(queue.to_owned(), Arc::clone(&c));
        Ok(c)
    }

    fn hand_out(
        &self,
        consumer: &QueueConsumer,
        queue: &str,
        lease: Duration,
        max: usize,
    ) -> Vec<Delivery> {
        let origin = Origin {
            session: Arc::clone(&consumer.session),
            acks: Arc::clone(&consumer.acks),
            leased: self.leased_counter(queue),
        };
        consumer
            .take(max)
            .into_iter()
            .map(|r| {
                let message = r.envelope.message.clone();
                let lease = AmqpLease::hold(&origin, &self.reaper, r.tag, r.envelope, lease);
                Delivery::new(message, Box::new(lease))
            })
            .collect()
    }
}

impl Drop for AmqpBroker {
    fn drop(&mut self) {
        self.reaper.stop();
    }
}

fn outgoing(queue: &str, new: NewMessage) -> Outgoing {
    let envelope = Envelope::fresh(queue, new);
    let remaining = envelope
        .not_before_ms
        .map_or(0, |due| due.saturating_sub(wasmboost_broker::now_ms()));
    Outgoing {
        exchange: String::new(),
        routing_key: topology::bucket_for(queue, remaining).unwrap_or_else(|| queue.to_owned()),
        body: envelope.message.body.clone(),
        properties: envelope.properties(&[]),
        id: envelope.message.id,
    }
}

#[async_trait]
impl Broker for AmqpBroker {
    fn kind(&self) -> &'static str {
        "amqp"
    }

    fn reconnects(&self) -> u64 {
        self.link.reconnects()
    }

    async fn publish(&self, queue: &str, messages: Vec<NewMessage>) -> Result<(), BrokerError> {
        validate_queue_name(queue)?;
        let session = self.link.session().await?;
        session.ensure_topology(queue).await?;
        let batch = messages.into_iter().map(|m| outgoing(queue, m)).collect();
        session.publish_confirmed(batch).await
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
        let session = self.link.session().await?;
        // Unacked deliveries are the ones this process holds plus the ones it asks for: a prefetch
        // of only `max` would cap a queue running thousands of tasks at one fetch batch.
        let held = self.leased_counter(queue).load(Ordering::Acquire);
        let want = usize::try_from(held)
            .unwrap_or(usize::MAX)
            .saturating_add(max);
        let prefetch = u16::try_from(want).unwrap_or(u16::MAX);
        let consumer = self.consumer(&session, queue, prefetch).await?;
        loop {
            let notified = consumer.notify.notified();
            let got = self.hand_out(&consumer, queue, lease, max);
            if !got.is_empty() {
                return Ok(got);
            }
            if consumer.is_dead() {
                return Err(BrokerError::Unavailable(format!(
                    "the rabbitmq consumer of queue {queue:?} stopped; reconnecting"
                )));
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return Ok(Vec::new());
            }
        }
    }

    async fn counts(&self, queue: &str) -> Result<QueueCounts, BrokerError> {
        validate_queue_name(queue)?;
        let session = self.link.session().await?;
        session.ensure_topology(queue).await?;
        let channel = session.publisher();
        let count = |name: String| async move {
            topology::message_count(channel, &name)
                .await
                .map_err(|e| map_err(&format!("counting {name:?}"), &e))
        };
        let buffered = match self.consumers.lock().await.get(queue) {
            Some(c) if c.usable(session.generation) => c.buffered() as u64,
            _ => 0,
        };
        let mut delayed = 0;
        for bucket in topology::all_buckets(queue) {
            delayed += count(bucket).await?;
        }
        Ok(QueueCounts {
            ready: count(queue.to_owned()).await? + buffered,
            delayed,
            leased: self.leased_counter(queue).load(Ordering::Acquire),
            dead: count(topology::dlq(queue)).await?,
        })
    }

    async fn dead_letters(
        &self,
        queue: &str,
        limit: usize,
    ) -> Result<Vec<DeadLetter>, BrokerError> {
        validate_queue_name(queue)?;
        let session = self.link.session().await?;
        session.ensure_topology(queue).await?;
        dlq::list(&session, queue, limit).await
    }

    async fn replay_dead_letters(
        &self,
        queue: &str,
        ids: Option<&[String]>,
    ) -> Result<u64, BrokerError> {
        validate_queue_name(queue)?;
        let session = self.link.session().await?;
        session.ensure_topology(queue).await?;
        dlq::replay(&session, queue, ids).await
    }

    async fn purge_dead_letters(&self, queue: &str) -> Result<u64, BrokerError> {
        validate_queue_name(queue)?;
        let session = self.link.session().await?;
        session.ensure_topology(queue).await?;
        dlq::purge(&session, queue).await
    }

    async fn close(&self) -> Result<(), BrokerError> {
        self.reaper.stop();
        self.consumers.lock().await.clear();
        self.link.close().await
    }
}

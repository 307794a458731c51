//! [`NatsBroker`]: publish (every JetStream ack awaited), fetch (due delayed messages moved to
//! their band, then the bands drained highest first, then an idle wait woken by a publish to
//! the queue's subjects), counts from the consumers, and the dead-letter stream.

use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::{self, AckKind};
use async_trait::async_trait;
use futures::StreamExt;
use tokio::time::Instant;
use wasmboost_broker::networked::wire::WireFields;
use wasmboost_broker::{
    Broker, BrokerError, DeadLetter, Delivery, MAX_PRIORITY, NewMessage, QueueCounts, now_ms,
    validate_queue_name,
};

use crate::config::{CALL_TIMEOUT, NatsConfig};
use crate::error::{ConnectError, op};
use crate::lease::Leases;
use crate::topology::{Queue, Topology, band_subject, delayed_subject, wake_subject};
use crate::wire;

/// How many not-yet-due messages one look at the delay consumer handles.
const DELAYED_BATCH: usize = 256;
/// A due delay is looked at this long after its time, so the server's NAK delay has ended.
const DUE_MARGIN: Duration = Duration::from_millis(5);

/// The NATS JetStream broker. Cheap to share: one connection, one lease keeper.
#[derive(Debug)]
pub struct NatsBroker {
    topology: Topology,
    leases: Arc<Leases>,
    idle_recheck: Duration,
}

/// Connect to the server of `config` (validated first).
pub(crate) async fn connect(config: &NatsConfig) -> Result<async_nats::Client, ConnectError> {
    config.validate()?;
    let urls: Vec<async_nats::ServerAddr> = config
        .url
        .split(',')
        .filter_map(|u| u.trim().parse().ok())
        .collect();
    async_nats::ConnectOptions::new()
        .name("wasmboost")
        .connection_timeout(Duration::from_secs(5))
        .connect(urls)
        .await
        .map_err(|e| ConnectError::Connect(e.to_string()))
}

impl NatsBroker {
    /// Validate `config` and connect. Streams and consumers are made on a queue's first use.
    pub async fn connect(config: NatsConfig) -> Result<Self, ConnectError> {
        let client = connect(&config).await?;
        Ok(NatsBroker::with_client(client, config))
    }

    /// The broker on an existing connection.
    pub fn with_client(client: async_nats::Client, config: NatsConfig) -> Self {
        let leases = Leases::start(config.ack_wait());
        let idle_recheck = config.idle_recheck();
        NatsBroker {
            topology: Topology::new(jetstream::new(client), config),
            leases,
            idle_recheck,
        }
    }

    fn client(&self) -> async_nats::Client {
        self.topology.client()
    }

    async fn queue(&self, name: &str) -> Result<Arc<Queue>, BrokerError> {
        validate_queue_name(name)?;
        self.topology.queue(name).await
    }

    /// Move the due messages of the delay subject to their band; give the others back with a
    /// NAK delayed until their due time. Returns the earliest due time still waiting.
    async fn promote_due(&self, q: &Arc<Queue>) -> Result<Option<u64>, BrokerError> {
        let client = self.client();
        let pull = q.delayed.fetch().max_messages(DELAYED_BATCH).messages();
        let mut batch = bounded("fetch delayed", pull)
            .await?
            .map_err(|e| op(&client, "fetch delayed", e))?;
        let mut earliest: Option<u64> = None;
        while let Some(m) = bounded("fetch delayed", batch.next()).await? {
            let m = m.map_err(|e| op(&client, "fetch delayed", e))?;
            let now = now_ms();
            let due = wire::not_before(m.headers.as_ref()).unwrap_or(0);
            if due > now {
                earliest = Some(earliest.map_or(due, |e| e.min(due)));
                let wait = Duration::from_millis(due - now);
                m.ack_with(AckKind::Nak(Some(wait)))
                    .await
                    .map_err(|e| op(&client, "park delayed", e))?;
                continue;
            }
            let fields = wire::fields(m.headers.as_ref());
            let band = fields.priority.unwrap_or(0).min(MAX_PRIORITY);
            let seq = m.info().map_or(0, |i| i.stream_sequence);
            let id = fields.id.clone().unwrap_or_default();
            let headers = wire::headers(&fields, None, &format!("{id}#{seq}due"));
            let ack =
                q.js.publish_with_headers(band_subject(&q.name, band), headers, m.payload.clone())
                    .await
                    .map_err(|e| op(&client, "move due", e))?;
            ack.await.map_err(|e| op(&client, "move due", e))?;
            m.double_ack()
                .await
                .map_err(|e| op(&client, "ack moved", e))?;
        }
        Ok(earliest)
    }

    /// Lease up to `max` messages, bands highest first.
    async fn sweep(
        &self,
        q: &Arc<Queue>,
        max: usize,
        lease: Duration,
    ) -> Result<Vec<Delivery>, BrokerError> {
        let client = self.client();
        let mut out = Vec::new();
        for band in (0..=MAX_PRIORITY).rev() {
            let left = max - out.len();
            if left == 0 {
                break;
            }
            let consumer = &q.bands[usize::from(band)];
            let pull = consumer.fetch().max_messages(left).messages();
            let mut batch = bounded("fetch", pull)
                .await?
                .map_err(|e| op(&client, "fetch", e))?;
            while let Some(m) = bounded("fetch", batch.next()).await? {
                let m = m.map_err(|e| op(&client, "fetch", e))?;
                let message = wire::message(&q.name, band, &m);
                let lease = self.leases.hold(q, m, &message, lease);
                out.push(Delivery::new(message, Box::new(lease)));
            }
        }
        Ok(out)
    }

    /// `done`, after forgetting the queue's streams and consumers when it failed: they may have
    /// vanished under this host, and the next call makes them again.
    fn forget_on_error<T>(
        &self,
        queue: &str,
        done: Result<T, BrokerError>,
    ) -> Result<T, BrokerError> {
        if done.is_err() {
            self.topology.forget(queue);
        }
        done
    }

    async fn publish_to(&self, queue: &str, messages: Vec<NewMessage>) -> Result<(), BrokerError> {
        let q = self.queue(queue).await?;
        let client = self.client();
        let now = now_ms();
        let mut acks = Vec::with_capacity(messages.len());
        for m in messages {
            let fields = WireFields {
                id: Some(m.id.clone()),
                priority: Some(m.priority.min(MAX_PRIORITY)),
                attempt: Some(1),
                published_ms: Some(now),
                ..WireFields::default()
            };
            let due = m.not_before_ms.filter(|t| *t > now);
            let subject = match due {
                Some(_) => delayed_subject(queue),
                None => band_subject(queue, m.priority),
            };
            // The task id: a producer that publishes it again within the stream's duplicate
            // window (a retry after a lost answer) stores it once.
            let headers = wire::headers(&fields, due, &m.id);
            let ack =
                q.js.publish_with_headers(subject, headers, m.body)
                    .await
                    .map_err(|e| op(&client, "publish", e))?;
            acks.push(ack);
        }
        // Pipelined: every message was sent before the first ack is awaited.
        for ack in acks {
            ack.await.map_err(|e| op(&client, "publish ack", e))?;
        }
        Ok(())
    }

    async fn fetch_from(
        &self,
        queue: &str,
        max: usize,
        lease: Duration,
        wait: Duration,
    ) -> Result<Vec<Delivery>, BrokerError> {
        let q = self.queue(queue).await?;
        if max == 0 {
            return Ok(Vec::new());
        }
        let client = self.client();
        let deadline = Instant::now() + wait;
        let mut wake = None;
        loop {
            let notified = q.wake.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let earliest = self.promote_due(&q).await?;
            let batch = self.sweep(&q, max, lease).await?;
            let now = Instant::now();
            if !batch.is_empty() || now >= deadline {
                return Ok(batch);
            }
            if wake.is_none() {
                // Subscribed (and the server told so) before looking again, so a publish
                // between the look and the wait is not missed.
                let sub = client
                    .subscribe(wake_subject(queue))
                    .await
                    .map_err(|e| op(&client, "subscribe", e))?;
                client
                    .flush()
                    .await
                    .map_err(|e| op(&client, "subscribe", e))?;
                wake = Some(sub);
                continue;
            }
            let mut nap = (deadline - now).min(self.idle_recheck);
            if let Some(due) = earliest {
                let until = Duration::from_millis(due.saturating_sub(now_ms()));
                nap = nap.min(until + DUE_MARGIN);
            }
            let Some(sub) = wake.as_mut() else { continue };
            tokio::select! {
                _ = sub.next() => {}
                () = &mut notified => {}
                () = tokio::time::sleep(nap) => {}
            }
        }
    }
}

#[async_trait]
impl Broker for NatsBroker {
    fn kind(&self) -> &'static str {
        crate::TYPE
    }

    async fn publish(&self, queue: &str, messages: Vec<NewMessage>) -> Result<(), BrokerError> {
        let published = self.publish_to(queue, messages).await;
        self.forget_on_error(queue, published)
    }

    async fn fetch(
        &self,
        queue: &str,
        max: usize,
        lease: Duration,
        wait: Duration,
    ) -> Result<Vec<Delivery>, BrokerError> {
        let fetched = self.fetch_from(queue, max, lease, wait).await;
        self.forget_on_error(queue, fetched)
    }

    async fn counts(&self, queue: &str) -> Result<QueueCounts, BrokerError> {
        let q = self.queue(queue).await?;
        let client = self.client();
        let infos =
            futures::future::join_all(q.bands.iter().chain([&q.delayed]).map(|c| c.get_info()))
                .await;
        let mut counts = QueueCounts::default();
        for (i, info) in infos.into_iter().enumerate() {
            let info = info.map_err(|e| op(&client, "counts", e))?;
            let pending = u64::try_from(info.num_ack_pending).unwrap_or(0);
            if i <= usize::from(MAX_PRIORITY) {
                counts.ready += info.num_pending;
                counts.leased += pending;
            } else {
                counts.delayed += info.num_pending + pending;
            }
        }
        let dead = q
            .dead
            .get_info()
            .await
            .map_err(|e| op(&client, "counts", e))?;
        counts.dead = dead.state.messages;
        Ok(counts)
    }

    async fn dead_letters(
        &self,
        queue: &str,
        limit: usize,
    ) -> Result<Vec<DeadLetter>, BrokerError> {
        let q = self.queue(queue).await?;
        Ok(crate::dead::list(&q, limit)
            .await?
            .into_iter()
            .map(|(_, d)| d)
            .collect())
    }

    async fn replay_dead_letters(
        &self,
        queue: &str,
        ids: Option<&[String]>,
    ) -> Result<u64, BrokerError> {
        let q = self.queue(queue).await?;
        crate::dead::replay(&q, ids).await
    }

    async fn purge_dead_letters(&self, queue: &str) -> Result<u64, BrokerError> {
        let q = self.queue(queue).await?;
        let client = self.client();
        let purged = q
            .dead
            .purge()
            .await
            .map_err(|e| op(&client, "purge dead letters", e))?;
        Ok(purged.purged)
    }

    async fn close(&self) -> Result<(), BrokerError> {
        let client = self.client();
        client.flush().await.map_err(|e| op(&client, "flush", e))
    }
}

/// `call`, or `Unavailable` when it gets no answer within [`CALL_TIMEOUT`].
async fn bounded<T>(what: &str, call: impl Future<Output = T>) -> Result<T, BrokerError> {
    tokio::time::timeout(CALL_TIMEOUT, call).await.map_err(|_| {
        BrokerError::Unavailable(format!("nats {what}: no answer within {CALL_TIMEOUT:?}"))
    })
}

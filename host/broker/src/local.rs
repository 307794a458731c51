//! [`LocalBroker`]: the one [`Broker`] implementation over the in-process queue engine. The
//! memory broker ([`MemoryBroker`](crate::MemoryBroker)) and the embedded broker
//! ([`EmbeddedBroker`](crate::EmbeddedBroker)) are this type with a different journal (nothing,
//! or the embedded database), so what they share is written once.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use crate::broker::{Broker, Delivery};
use crate::engine::{Engine, Journal};
use crate::error::BrokerError;
use crate::message::{DeadLetter, NewMessage, QueueCounts};

/// A broker whose queues live in this process, kept durable by its journal `J`.
pub struct LocalBroker<J> {
    kind: &'static str,
    engine: Arc<Engine<J>>,
}

impl<J> LocalBroker<J> {
    pub(crate) fn new_local(kind: &'static str, engine: Engine<J>) -> Self {
        LocalBroker {
            kind,
            engine: Arc::new(engine),
        }
    }
}

impl<J> fmt::Debug for LocalBroker<J> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LocalBroker")
            .field("kind", &self.kind)
            .field("engine", &self.engine)
            .finish()
    }
}

#[async_trait]
impl<J: Journal> Broker for LocalBroker<J> {
    fn kind(&self) -> &'static str {
        self.kind
    }

    /// The engine leases and returns in one step, so a dropped fetch leases nothing.
    fn fetch_cancel_safe(&self) -> bool {
        true
    }

    async fn publish(&self, queue: &str, messages: Vec<NewMessage>) -> Result<(), BrokerError> {
        self.engine.publish(queue, messages).await
    }

    async fn fetch(
        &self,
        queue: &str,
        max: usize,
        lease: Duration,
        wait: Duration,
    ) -> Result<Vec<Delivery>, BrokerError> {
        self.engine.fetch(queue, max, lease, wait).await
    }

    async fn counts(&self, queue: &str) -> Result<QueueCounts, BrokerError> {
        self.engine.counts(queue)
    }

    async fn dead_letters(
        &self,
        queue: &str,
        limit: usize,
    ) -> Result<Vec<DeadLetter>, BrokerError> {
        self.engine.dead_letters(queue, limit)
    }

    async fn replay_dead_letters(
        &self,
        queue: &str,
        ids: Option<&[String]>,
    ) -> Result<u64, BrokerError> {
        self.engine.replay(queue, ids).await
    }

    async fn purge_dead_letters(&self, queue: &str) -> Result<u64, BrokerError> {
        self.engine.purge(queue).await
    }

    /// Refuses further publishes and fetches (waiting fetches return `Closed`), then makes every
    /// write so far durable (for the embedded broker: lazy acks included). Deliveries still out
    /// can be settled.
    async fn close(&self) -> Result<(), BrokerError> {
        self.engine.close();
        self.engine.journal.sync().await
    }
}

//! The in-memory broker and state store: for tests and throwaway runs. Nothing survives the
//! process. Same semantics as the embedded broker (they share [`crate::engine`]).

mod store;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use crate::broker::{Broker, Delivery};
use crate::engine::{Engine, NoJournal};
use crate::error::BrokerError;
use crate::message::{DeadLetter, NewMessage, QueueCounts};

pub use store::MemoryStore;

/// A broker that keeps its queues in process memory.
#[derive(Debug)]
pub struct MemoryBroker {
    engine: Arc<Engine<NoJournal>>,
}

impl MemoryBroker {
    pub fn new() -> Self {
        MemoryBroker {
            engine: Arc::new(Engine::new(NoJournal, Vec::new(), 1)),
        }
    }
}

impl Default for MemoryBroker {
    fn default() -> Self {
        Self::new()
    }
}

#[async_trait]
impl Broker for MemoryBroker {
    fn kind(&self) -> &'static str {
        "memory"
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

    async fn close(&self) -> Result<(), BrokerError> {
        self.engine.close();
        Ok(())
    }
}

#[cfg(test)]
mod conformance {
    use std::sync::Arc;

    crate::broker_conformance!(async { Arc::new(super::MemoryBroker::new()) });
    crate::state_conformance!(async { Arc::new(super::MemoryStore::new()) });
}

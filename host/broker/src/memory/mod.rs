//! The in-memory broker and state store: for tests and throwaway runs. Nothing survives the
//! process. Same semantics as the embedded broker (they share the crate's queue engine).

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

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use super::MemoryBroker;
    use crate::broker::Broker;
    use crate::error::BrokerError;
    use crate::message::{NewMessage, Settlement};

    #[tokio::test]
    async fn close_wakes_waiting_fetches_and_still_lets_deliveries_settle() {
        let broker = Arc::new(MemoryBroker::new());
        broker
            .publish("q", vec![NewMessage::new("a", "{}")])
            .await
            .expect("publish");
        let held = broker
            .fetch("q", 1, Duration::from_secs(60), Duration::ZERO)
            .await
            .expect("fetch");
        let waiter = {
            let broker = Arc::clone(&broker);
            tokio::spawn(async move {
                broker
                    .fetch("q", 1, Duration::from_secs(60), Duration::from_secs(60))
                    .await
            })
        };
        tokio::time::sleep(Duration::from_millis(100)).await;
        broker.close().await.expect("close");
        let waited = tokio::time::timeout(Duration::from_secs(5), waiter).await;
        let result = waited
            .expect("close wakes the waiting fetch")
            .expect("fetch task");
        assert!(matches!(result, Err(BrokerError::Closed)), "{result:?}");
        for d in held {
            d.settle(Settlement::Ack)
                .await
                .expect("a delivery out at close can still settle");
        }
        let refused = broker.publish("q", vec![NewMessage::new("b", "{}")]).await;
        assert!(matches!(refused, Err(BrokerError::Closed)), "{refused:?}");
    }
}

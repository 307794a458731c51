//! The in-memory broker and state store: for tests and throwaway runs. Nothing survives the
//! process. Same semantics as the embedded broker (they share the crate's queue engine).

mod store;

use crate::engine::Engine;
pub use crate::engine::NoJournal;
use crate::local::LocalBroker;

pub use store::MemoryStore;

/// A broker that keeps its queues in process memory.
pub type MemoryBroker = LocalBroker<NoJournal>;

impl LocalBroker<NoJournal> {
    pub fn new() -> Self {
        LocalBroker::new_local("memory", Engine::new(NoJournal, Vec::new(), 1))
    }
}

impl Default for LocalBroker<NoJournal> {
    fn default() -> Self {
        Self::new()
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

//! Group commit for networked brokers: callers submit one item each (an ack, a delete) and wait
//! for its own outcome, while one task sends whatever has queued up in one round trip. Natural
//! batching: a lone item goes out at once, a busy host sends many per flush, and no timer adds
//! latency.

use std::fmt;
use std::future::Future;

use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::error::BrokerError;

/// The outcome of one item of a flush.
pub type Outcome = Result<(), BrokerError>;

struct Request<T> {
    item: T,
    done: oneshot::Sender<Outcome>,
}

/// A group-committing sender of `T`s. Dropping it stops the flush task.
pub struct Batcher<T> {
    requests: mpsc::UnboundedSender<Request<T>>,
    task: JoinHandle<()>,
}

impl<T> fmt::Debug for Batcher<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Batcher").finish_non_exhaustive()
    }
}

impl<T: Send + 'static> Batcher<T> {
    /// Start the flush task. `flush` gets at most `max` items and returns one outcome per item,
    /// in order (a shorter vec fails the missing ones).
    pub fn spawn<F, Fut>(max: usize, mut flush: F) -> Self
    where
        F: FnMut(Vec<T>) -> Fut + Send + 'static,
        Fut: Future<Output = Vec<Outcome>> + Send,
    {
        let (requests, mut rx) = mpsc::unbounded_channel::<Request<T>>();
        let task = tokio::spawn(async move {
            while let Some(batch) = next(&mut rx, max.max(1)).await {
                let (items, waiters): (Vec<T>, Vec<_>) =
                    batch.into_iter().map(|r| (r.item, r.done)).unzip();
                let mut outcomes = flush(items).await.into_iter();
                for done in waiters {
                    let outcome = outcomes.next().unwrap_or_else(|| {
                        Err(BrokerError::Backend("flush returned no outcome".to_owned()))
                    });
                    // The caller may have stopped waiting; the item was sent anyway.
                    let _ = done.send(outcome);
                }
            }
        });
        Batcher { requests, task }
    }

    /// Queue `item` for the next flush and wait for its outcome.
    pub async fn submit(&self, item: T) -> Outcome {
        let (done, rx) = oneshot::channel();
        self.requests
            .send(Request { item, done })
            .map_err(|_| BrokerError::Closed)?;
        rx.await.map_err(|_| BrokerError::Closed)?
    }
}

impl<T> Drop for Batcher<T> {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The next batch of at most `max` requests: wait for one, then take what is already queued.
/// `None` once every sender is gone.
pub async fn next<T>(rx: &mut mpsc::UnboundedReceiver<T>, max: usize) -> Option<Vec<T>> {
    let first = rx.recv().await?;
    let mut batch = vec![first];
    while batch.len() < max {
        match rx.try_recv() {
            Ok(item) => batch.push(item),
            Err(_) => break,
        }
    }
    Some(batch)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    #[tokio::test]
    async fn items_queued_during_a_flush_go_out_together() {
        let flushes = Arc::new(AtomicUsize::new(0));
        let (gate_tx, gate_rx) = tokio::sync::watch::channel(false);
        let counted = Arc::clone(&flushes);
        let batcher = Arc::new(Batcher::spawn(100, move |items: Vec<u32>| {
            let counted = Arc::clone(&counted);
            let mut gate = gate_rx.clone();
            async move {
                counted.fetch_add(1, Ordering::SeqCst);
                // Hold the first flush until the test has queued more behind it.
                let _ = gate.wait_for(|open| *open).await;
                items
                    .iter()
                    .map(|&i| {
                        if i == 13 {
                            Err(BrokerError::Backend(format!("item {i} refused")))
                        } else {
                            Ok(())
                        }
                    })
                    .collect()
            }
        }));
        let first = tokio::spawn({
            let b = Arc::clone(&batcher);
            async move { b.submit(1).await }
        });
        while flushes.load(Ordering::SeqCst) == 0 {
            tokio::task::yield_now().await;
        }
        let rest: Vec<_> = (10..20)
            .map(|i| {
                let b = Arc::clone(&batcher);
                tokio::spawn(async move { (i, b.submit(i).await) })
            })
            .collect();
        for _ in 0..50 {
            tokio::task::yield_now().await;
        }
        gate_tx.send_replace(true);
        assert!(first.await.expect("submit task").is_ok());
        for r in rest {
            let (i, outcome) = r.await.expect("submit task");
            assert_eq!(outcome.is_err(), i == 13, "item {i}: {outcome:?}");
        }
        assert_eq!(
            flushes.load(Ordering::SeqCst),
            2,
            "ten queued items, one flush"
        );
    }
}

//! Terminal-record notifications. One pub/sub connection per store subscribes to the channel of
//! every task someone is waiting for (`<prefix>:d:<task_id>`) and hands the published record
//! to the waiters of that channel. Waiters subscribe first and then read the record, so a
//! record put in between is never missed; if the pub/sub connection drops, every waiter is woken
//! empty-handed and subscribes again on a new one.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use futures::StreamExt;
use redis::aio::{PubSubSink, PubSubStream};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use wasmboost_broker::StateError;

use crate::conn::Conn;
use crate::error::state_err;

type Waiters = Mutex<HashMap<String, HashMap<u64, oneshot::Sender<Bytes>>>>;

pub(crate) struct Notifier {
    conn: Arc<Conn>,
    inner: Arc<Inner>,
}

struct Inner {
    waiters: Waiters,
    next_id: AtomicU64,
    /// The live subscription; its lock also orders SUBSCRIBE and UNSUBSCRIBE commands.
    sub: tokio::sync::Mutex<Option<Sub>>,
}

struct Sub {
    sink: PubSubSink,
    alive: Arc<AtomicBool>,
    reader: JoinHandle<()>,
}

impl Drop for Sub {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

/// One registered wait. Receives the record published on its channel; dropping it deregisters.
pub(crate) struct Waiter {
    rx: Option<oneshot::Receiver<Bytes>>,
    channel: String,
    id: u64,
    inner: Arc<Inner>,
}

impl Drop for Waiter {
    fn drop(&mut self) {
        self.inner.remove(&self.channel, self.id);
    }
}

impl Waiter {
    /// The published record, or `None` when the subscription connection was lost.
    pub(crate) async fn recv(&mut self) -> Option<Bytes> {
        self.rx.as_mut()?.await.ok()
    }
}

impl Inner {
    /// Deregister a waiter; true when nobody waits on `channel` any more.
    fn remove(&self, channel: &str, id: u64) -> bool {
        let Ok(mut waiters) = self.waiters.lock() else {
            return false;
        };
        let Some(ids) = waiters.get_mut(channel) else {
            return true;
        };
        ids.remove(&id);
        let empty = ids.is_empty();
        if empty {
            waiters.remove(channel);
        }
        empty
    }
}

impl std::fmt::Debug for Notifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Notifier").finish_non_exhaustive()
    }
}

impl Notifier {
    pub(crate) fn new(conn: Arc<Conn>) -> Self {
        let inner = Inner {
            waiters: Mutex::new(HashMap::new()),
            next_id: AtomicU64::new(0),
            sub: tokio::sync::Mutex::new(None),
        };
        Notifier {
            conn,
            inner: Arc::new(inner),
        }
    }

    /// Register a wait on `channel` and make sure the channel is subscribed.
    pub(crate) async fn watch(&self, channel: &str) -> Result<Waiter, StateError> {
        let (tx, rx) = oneshot::channel();
        let id = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
        let mut sub = self.inner.sub.lock().await;
        // Register before looking at the connection: a reader that dies after this point
        // clears the waiters, which wakes this one (see `read`).
        let mut first = {
            let mut waiters = self
                .inner
                .waiters
                .lock()
                .map_err(|_| StateError::Backend("notifier state poisoned".to_owned()))?;
            let ids = waiters.entry(channel.to_owned()).or_default();
            ids.insert(id, tx);
            ids.len() == 1
        };
        let waiter = Waiter {
            rx: Some(rx),
            channel: channel.to_owned(),
            id,
            inner: Arc::clone(&self.inner),
        };
        if sub
            .as_ref()
            .is_none_or(|s| !s.alive.load(Ordering::Acquire))
        {
            *sub = Some(self.open().await?);
            first = true;
        }
        if first && let Some(s) = sub.as_mut() {
            s.sink.subscribe(channel).await.map_err(state_err)?;
        }
        Ok(waiter)
    }

    /// Deregister `waiter`, unsubscribing its channel when it was the last one on it.
    pub(crate) async fn unwatch(&self, waiter: Waiter) {
        let sub = self.inner.sub.lock().await;
        let last = self.inner.remove(&waiter.channel, waiter.id);
        if last && let Some(s) = sub.as_ref().filter(|s| s.alive.load(Ordering::Acquire)) {
            // Best effort: a channel left subscribed only costs a message nobody reads.
            let _ = s.sink.clone().unsubscribe(&waiter.channel).await;
        }
    }

    async fn open(&self) -> Result<Sub, StateError> {
        let pubsub = self.conn.pubsub().await.map_err(state_err)?;
        let (sink, stream) = pubsub.split();
        let alive = Arc::new(AtomicBool::new(true));
        let reader = tokio::spawn(read(stream, Arc::clone(&self.inner), Arc::clone(&alive)));
        Ok(Sub {
            sink,
            alive,
            reader,
        })
    }
}

async fn read(mut stream: PubSubStream, inner: Arc<Inner>, alive: Arc<AtomicBool>) {
    while let Some(msg) = stream.next().await {
        let woken = inner
            .waiters
            .lock()
            .ok()
            .and_then(|mut w| w.remove(msg.get_channel_name()));
        let payload = Bytes::copy_from_slice(msg.get_payload_bytes());
        for (_, tx) in woken.into_iter().flatten() {
            let _ = tx.send(payload.clone());
        }
    }
    // Connection lost: mark it dead first, then wake everyone (dropping their senders).
    alive.store(false, Ordering::Release);
    if let Ok(mut w) = inner.waiters.lock() {
        w.clear();
    }
}

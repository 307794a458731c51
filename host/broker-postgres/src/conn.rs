//! Connections: [`connect`] (one connection, driven on its own task; the pool of them is
//! [`crate::pool::Db`]), and [`Listener`], the `LISTEN` connection whose notifications wake
//! idle fetchers of the named queue, reconnected with backoff when the server went away.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use futures::StreamExt;
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio_postgres::{AsyncMessage, Client, NoTls};
use wasmboost_broker::networked::backoff::Backoff;

use crate::config::PostgresConfig;
use crate::error::{ConnectError, DbError};

/// Open a connection and drive it on its own task.
pub(crate) async fn connect(pg: &tokio_postgres::Config) -> Result<Client, ConnectError> {
    let (client, connection) = pg.connect(NoTls).await.map_err(ConnectError::Connect)?;
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::debug!(error = %e, "postgres broker: connection ended");
        }
    });
    Ok(client)
}

/// Wake-ups by name (a queue for idle fetchers, a task id for `wait_terminal`).
#[derive(Debug, Default)]
pub(crate) struct Wakers {
    queues: Mutex<HashMap<String, Arc<Notify>>>,
}

impl Wakers {
    /// The wake-up of `queue` (made on first use; one per queue name the host fetches).
    pub(crate) fn of(&self, queue: &str) -> Arc<Notify> {
        let mut queues = self.queues.lock().unwrap_or_else(PoisonError::into_inner);
        Arc::clone(queues.entry(queue.to_owned()).or_default())
    }

    /// Forget `name`'s wake-up when nobody but the caller holds it (task ids are many).
    pub(crate) fn release(&self, name: &str, mine: Arc<Notify>) {
        let mut queues = self.queues.lock().unwrap_or_else(PoisonError::into_inner);
        if Arc::strong_count(&mine) <= 2 {
            queues.remove(name);
        }
    }

    fn wake(&self, queue: &str) {
        let queues = self.queues.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(n) = queues.get(queue) {
            n.notify_waiters();
        }
    }

    /// After (re)connecting the listener: a notification may have been missed, look again.
    fn wake_all(&self) {
        let queues = self.queues.lock().unwrap_or_else(PoisonError::into_inner);
        for n in queues.values() {
            n.notify_waiters();
        }
    }
}

/// The `LISTEN` connection's task; aborted on drop.
#[derive(Debug)]
pub(crate) struct Listener {
    task: JoinHandle<()>,
}

impl Listener {
    /// Listen on `channel`; each notification wakes the waiters of its payload.
    pub(crate) fn start(
        pg: tokio_postgres::Config,
        config: &PostgresConfig,
        channel: &'static str,
        wakers: Arc<Wakers>,
    ) -> Self {
        let (min, max) = config.reconnect();
        let bound = config.op_timeout();
        let task = tokio::spawn(async move {
            let mut backoff = Backoff::new(min, max);
            loop {
                tokio::time::sleep(backoff.remaining()).await;
                match listen(&pg, channel, &wakers, bound).await {
                    // It was up and then dropped: reconnect at once.
                    Ok(()) => backoff.succeeded(),
                    Err(e) => {
                        tracing::debug!(error = %e, "postgres broker: listen connection failed");
                        backoff.failed();
                    }
                }
                wakers.wake_all();
            }
        });
        Listener { task }
    }
}

impl Listener {
    /// Stop listening (idle fetchers then wake only by their timers).
    pub(crate) fn stop(&self) {
        self.task.abort();
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// One listen session: until the connection drops (`Ok`) or cannot be made within `bound`
/// (`Err`).
async fn listen(
    pg: &tokio_postgres::Config,
    channel: &str,
    wakers: &Arc<Wakers>,
    bound: Duration,
) -> Result<(), DbError> {
    let (client, mut connection) = tokio::time::timeout(bound, pg.connect(NoTls))
        .await
        .map_err(|_| DbError::TimedOut(bound))??;
    let driven = Arc::clone(wakers);
    let drive = tokio::spawn(async move {
        let mut messages = futures::stream::poll_fn(move |cx| connection.poll_message(cx));
        while let Some(message) = messages.next().await {
            match message {
                Ok(AsyncMessage::Notification(n)) => driven.wake(n.payload()),
                Ok(_) => {}
                Err(e) => {
                    tracing::debug!(error = %e, "postgres broker: listen connection ended");
                    break;
                }
            }
        }
    });
    let statement = format!("LISTEN {channel}");
    let listening = tokio::time::timeout(bound, client.batch_execute(&statement)).await;
    if let Err(e) = listening
        .map_err(|_| DbError::TimedOut(bound))
        .and_then(|r| Ok(r?))
    {
        drive.abort();
        return Err(e);
    }
    wakers.wake_all();
    // The client stays alive (and the connection open) until the driver sees it close.
    let _ = drive.await;
    drop(client);
    Ok(())
}

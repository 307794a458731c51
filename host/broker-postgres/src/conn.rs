//! Connections: [`Db`], the one shared client every operation pipelines its statements on
//! (each operation is a single statement, so nothing needs a client of its own), reconnected
//! with backoff when the server went away; and [`Listener`], the `LISTEN` connection whose
//! notifications wake idle fetchers of the named queue.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use futures::StreamExt;
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio_postgres::{AsyncMessage, Client, NoTls};
use wasmboost_broker::networked::backoff::Backoff;
use wasmboost_broker::{BrokerError, StateError};

use crate::config::PostgresConfig;
use crate::error::ConnectError;

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

/// The shared client, replaced by a new connection once it closed.
#[derive(Debug)]
pub(crate) struct Db {
    pg: tokio_postgres::Config,
    slot: tokio::sync::Mutex<Slot>,
}

#[derive(Debug)]
struct Slot {
    client: Option<Arc<Client>>,
    backoff: Backoff,
}

impl Db {
    pub(crate) fn new(pg: tokio_postgres::Config, config: &PostgresConfig, client: Client) -> Self {
        let (min, max) = config.reconnect();
        Db {
            pg,
            slot: tokio::sync::Mutex::new(Slot {
                client: Some(Arc::new(client)),
                backoff: Backoff::new(min, max),
            }),
        }
    }

    /// The live client, reconnecting if the last one closed. Within the backoff after a failed
    /// reconnect this fails at once with `Unavailable` (the worker backs off too).
    pub(crate) async fn client(&self) -> Result<Arc<Client>, Down> {
        let mut slot = self.slot.lock().await;
        if let Some(client) = slot.client.as_ref().filter(|c| !c.is_closed()) {
            return Ok(Arc::clone(client));
        }
        slot.client = None;
        if !slot.backoff.remaining().is_zero() {
            return Err(Down("postgres connection lost; reconnecting".to_owned()));
        }
        match connect(&self.pg).await {
            Ok(client) => {
                slot.backoff.succeeded();
                let client = Arc::new(client);
                slot.client = Some(Arc::clone(&client));
                tracing::info!("postgres broker: reconnected");
                Ok(client)
            }
            Err(e) => {
                slot.backoff.failed();
                Err(Down(e.to_string()))
            }
        }
    }
}

/// The server cannot be reached now: `Unavailable` to brokers and stores alike.
#[derive(Debug)]
pub(crate) struct Down(String);

impl From<Down> for BrokerError {
    fn from(d: Down) -> Self {
        BrokerError::Unavailable(d.0)
    }
}

impl From<Down> for StateError {
    fn from(d: Down) -> Self {
        StateError::Unavailable(d.0)
    }
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
        let task = tokio::spawn(async move {
            let mut backoff = Backoff::new(min, max);
            loop {
                tokio::time::sleep(backoff.remaining()).await;
                match listen(&pg, channel, &wakers).await {
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

/// One listen session: until the connection drops (`Ok`) or cannot be made (`Err`).
async fn listen(
    pg: &tokio_postgres::Config,
    channel: &str,
    wakers: &Arc<Wakers>,
) -> Result<(), tokio_postgres::Error> {
    let (client, mut connection) = pg.connect(NoTls).await?;
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
    client.batch_execute(&format!("LISTEN {channel}")).await?;
    wakers.wake_all();
    // The client stays alive (and the connection open) until the driver sees it close.
    let _ = drive.await;
    drop(client);
    Ok(())
}

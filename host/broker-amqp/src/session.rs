//! The connection to RabbitMQ: one [`Session`] (connection + confirm-mode publishing channel) at a
//! time, replaced with backoff when it dies. Topology is declared once per queue per session, so
//! a reconnect re-declares it on first use.
//!
//! With several node URLs (`url` plus `failover_urls`, nodes of one cluster), a reconnect starts
//! at the node after the one that was lost and tries each in turn; the backoff applies only once
//! a whole round failed. A quorum queue is reachable through any node, so a host carries on
//! through the survivors when its node dies.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use lapin::options::{BasicPublishOptions, ConfirmSelectOptions};
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties};
use tokio::time::Instant;
use wasmboost_broker::BrokerError;

use crate::config::QueueType;
use crate::topology;

const MIN_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// A server that accepts TCP but never answers the handshake counts as down.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// One live connection and its confirm-mode publishing channel.
#[derive(Debug)]
pub(crate) struct Session {
    pub conn: Connection,
    publisher: Channel,
    /// Increases with each reconnect; consumers of an older session are stale.
    pub generation: u64,
    declared: Mutex<HashSet<String>>,
    queue_type: QueueType,
}

/// One message to publish with a confirm.
#[derive(Debug)]
pub(crate) struct Outgoing {
    pub exchange: String,
    pub routing_key: String,
    pub body: bytes::Bytes,
    pub properties: BasicProperties,
    /// Names the message in errors.
    pub id: String,
}

impl Session {
    async fn open(url: &str, generation: u64, queue_type: QueueType) -> lapin::Result<Session> {
        let props = ConnectionProperties::default().with_connection_name("wasmboost".into());
        let conn = Connection::connect(url, props).await?;
        let publisher = conn.create_channel().await?;
        publisher
            .confirm_select(ConfirmSelectOptions::default())
            .await?;
        Ok(Session {
            conn,
            publisher,
            generation,
            declared: Mutex::new(HashSet::new()),
            queue_type,
        })
    }

    /// How this session declares queues.
    pub fn queue_type(&self) -> QueueType {
        self.queue_type
    }

    pub fn alive(&self) -> bool {
        self.conn.status().connected() && self.publisher.status().connected()
    }

    /// Declare the objects behind `queue` unless this session already did.
    pub async fn ensure_topology(&self, queue: &str) -> Result<(), BrokerError> {
        if self.declared_lock().contains(queue) {
            return Ok(());
        }
        let kind = self.queue_type.name();
        topology::declare(&self.publisher, queue, self.queue_type)
            .await
            .map_err(|e| {
                // The usual cause: the queue exists as the other type (RabbitMQ cannot convert
                // one; moving needs a new queue name or draining and deleting the old one).
                map_err(&format!("declaring queue {queue:?} as a {kind} queue"), &e)
            })?;
        self.declared_lock().insert(queue.to_owned());
        Ok(())
    }

    fn declared_lock(&self) -> std::sync::MutexGuard<'_, HashSet<String>> {
        self.declared.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Publish every message, then wait for all confirms: `Ok` means RabbitMQ has them all.
    pub async fn publish_confirmed(&self, batch: Vec<Outgoing>) -> Result<(), BrokerError> {
        let mut pending = Vec::with_capacity(batch.len());
        for out in batch {
            let confirm = self
                .publisher
                .basic_publish(
                    out.exchange.as_str().into(),
                    out.routing_key.as_str().into(),
                    BasicPublishOptions::default(),
                    &out.body,
                    out.properties,
                )
                .await
                .map_err(|e| map_err(&format!("publishing {:?}", out.id), &e))?;
            pending.push((out.id, confirm));
        }
        for (id, confirm) in pending {
            let confirmation = confirm
                .await
                .map_err(|e| map_err(&format!("confirming {id:?}"), &e))?;
            if confirmation.is_nack() {
                // After a quorum queue's leader died, RabbitMQ 3.10 kept nacking every later
                // publish on the channel (`amqp_cluster` in tests/all): close this session's
                // connection (its consumers' unacked messages go back to the queue), so the next
                // publish goes through a fresh one.
                let _ = self
                    .conn
                    .close(200, "publisher nack: reconnecting".into())
                    .await;
                return Err(BrokerError::Unavailable(format!(
                    "rabbitmq refused message {id:?} (publisher nack); publish it again"
                )));
            }
        }
        Ok(())
    }

    /// A channel of this session's connection for one-off work (listing dead letters).
    pub async fn channel(&self) -> Result<Channel, BrokerError> {
        self.conn
            .create_channel()
            .await
            .map_err(|e| map_err("opening a channel", &e))
    }

    pub fn publisher(&self) -> &Channel {
        &self.publisher
    }
}

/// Owns the current session and reconnects with exponential backoff when it is gone.
#[derive(Debug)]
pub(crate) struct Link {
    /// The nodes, tried in turn (one for a single node).
    urls: Vec<String>,
    queue_type: QueueType,
    state: tokio::sync::Mutex<LinkState>,
    /// Sessions opened after the first (`/metrics` broker reconnects); read without the lock.
    reconnects: std::sync::atomic::AtomicU64,
}

#[derive(Debug)]
struct LinkState {
    session: Option<Arc<Session>>,
    generation: u64,
    backoff: Duration,
    next_try: Instant,
    closed: bool,
    /// A session was opened before (the next one is a reconnect).
    opened: bool,
    /// The node of `urls` the next attempt starts at.
    node: usize,
}

impl Link {
    /// A link to the first of `urls` that answers (at least one is expected; none fails every
    /// connect).
    pub fn new(urls: Vec<String>, queue_type: QueueType) -> Link {
        Link {
            urls,
            queue_type,
            state: tokio::sync::Mutex::new(LinkState {
                session: None,
                generation: 0,
                backoff: MIN_BACKOFF,
                next_try: Instant::now(),
                closed: false,
                opened: false,
                node: 0,
            }),
            reconnects: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// Sessions opened after the first one.
    pub fn reconnects(&self) -> u64 {
        self.reconnects.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The live session, connecting (once, after the current backoff) if there is none.
    pub async fn session(&self) -> Result<Arc<Session>, BrokerError> {
        let mut st = self.state.lock().await;
        if st.closed {
            return Err(BrokerError::Closed);
        }
        if let Some(s) = &st.session {
            if s.alive() {
                return Ok(Arc::clone(s));
            }
            tracing::warn!(url = %redact(&self.urls[st.node % self.urls.len().max(1)]), "rabbitmq connection lost; reconnecting");
            st.session = None;
            // The lost node is likely down: start the round at the next one.
            st.node = (st.node + 1) % self.urls.len().max(1);
        }
        tokio::time::sleep_until(st.next_try).await;
        let mut failures = Vec::new();
        for k in 0..self.urls.len() {
            let node = (st.node + k) % self.urls.len();
            st.generation += 1;
            match self.open(node, st.generation).await {
                Ok(s) => {
                    if std::mem::replace(&mut st.opened, true) {
                        self.reconnects
                            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    }
                    let s = Arc::new(s);
                    st.session = Some(Arc::clone(&s));
                    st.backoff = MIN_BACKOFF;
                    st.node = node;
                    return Ok(s);
                }
                Err(e) => failures.push(e),
            }
        }
        st.next_try = Instant::now() + st.backoff;
        st.backoff = (st.backoff * 2).min(MAX_BACKOFF);
        if failures.is_empty() {
            failures.push("no rabbitmq url configured".to_owned());
        }
        Err(BrokerError::Unavailable(failures.join("; ")))
    }

    /// One attempt at node `node`; the error names the node (without its password).
    async fn open(&self, node: usize, generation: u64) -> Result<Session, String> {
        let url = &self.urls[node];
        let attempt = tokio::time::timeout(
            CONNECT_TIMEOUT,
            Session::open(url, generation, self.queue_type),
        );
        let why = match attempt.await {
            Ok(Ok(session)) => return Ok(session),
            Ok(Err(e)) => e.to_string(),
            Err(_) => format!("no answer within {CONNECT_TIMEOUT:?}"),
        };
        Err(format!(
            "cannot connect to rabbitmq at {}: {why}",
            redact(url)
        ))
    }

    /// Close the connection; later calls fail with `Closed`.
    pub async fn close(&self) -> Result<(), BrokerError> {
        let mut st = self.state.lock().await;
        st.closed = true;
        if let Some(s) = st.session.take() {
            s.conn
                .close(200, "wasmboost broker closed".into())
                .await
                .map_err(|e| map_err("closing the connection", &e))?;
        }
        Ok(())
    }
}

/// Protocol refusals (a queue declared with other arguments, access refused) are permanent;
/// everything else (io, closed channel or connection) is worth retrying after a reconnect.
pub(crate) fn map_err(what: &str, e: &lapin::Error) -> BrokerError {
    match e.kind() {
        lapin::ErrorKind::ProtocolError(_) => BrokerError::Backend(format!("{what}: {e}")),
        _ => BrokerError::Unavailable(format!("{what}: {e}")),
    }
}

/// The url without its password, for logs and errors.
pub(crate) fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &url[scheme + 3..at];
            let user = userinfo.split(':').next().unwrap_or_default();
            format!("{}{user}:***{}", &url[..scheme + 3], &url[at..])
        }
        _ => url.to_owned(),
    }
}

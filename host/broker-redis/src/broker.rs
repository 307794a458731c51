//! [`RedisBroker`]: the `Broker` seam on Redis Streams. Publishing and counting live here;
//! fetching in `fetch`, leases and settlements in `lease`, dead letters in `dead`.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use wasmboost_broker::{
    Broker, BrokerError, DeadLetter, Delivery, MAX_PRIORITY, Message, NewMessage, QueueCounts,
    now_ms, validate_queue_name,
};

use crate::acker::Acker;
use crate::config::RedisConfig;
use crate::conn::Conn;
use crate::error::{ConnectError, broker_err};
use crate::fields::to_fields;
use crate::keys::Keys;
use crate::reply::{array, int};
use crate::scripts::{COUNTS, DELAY};

/// Messages per pipeline when publishing: bounds one round trip's size.
const PUBLISH_CHUNK: usize = 5_000;
/// Due delayed messages moved onto the streams by one script call.
pub(crate) const PROMOTE_LIMIT: usize = 1_000;

/// A queue broker on Redis Streams with one consumer group per queue and one consumer per host.
/// Every host pointing at the same server (and key prefix) shares the queues. Cheap to clone.
#[derive(Clone)]
pub struct RedisBroker {
    pub(crate) shared: Arc<Shared>,
}

/// What the broker and every delivery it hands out share.
pub(crate) struct Shared {
    pub(crate) conn: Conn,
    pub(crate) keys: Keys,
    pub(crate) config: RedisConfig,
    pub(crate) consumer: String,
    pub(crate) acker: Acker,
    /// Which delivery of each entry this host holds (late-settle fencing, see `lease`).
    pub(crate) holders: crate::lease::Holders,
    /// When this host last scanned each queue for expired leases.
    reclaimed_at: Mutex<HashMap<String, Instant>>,
    closed: AtomicBool,
}

impl std::fmt::Debug for RedisBroker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisBroker")
            .field("conn", &self.shared.conn)
            .field("prefix", &self.shared.config.prefix)
            .field("consumer", &self.shared.consumer)
            .finish_non_exhaustive()
    }
}

impl RedisBroker {
    /// Validate `config` and connect. Fails with `ConnectError::Connect` when the server cannot
    /// be reached now; after that, outages surface as `BrokerError::Unavailable` per operation
    /// while the connection is re-established in the background.
    pub async fn connect(config: RedisConfig) -> Result<Self, ConnectError> {
        let conn = Conn::open(&config).await?;
        let keys = Keys::on(&config.prefix, conn.is_cluster());
        crate::layout::ensure(conn.manager(), &keys).await?;
        let consumer = config.consumer.clone().unwrap_or_else(default_consumer);
        let acker = Acker::spawn(conn.manager(), config.group.clone(), conn.is_cluster());
        let shared = Shared {
            keys,
            conn,
            config,
            consumer,
            acker,
            holders: crate::lease::Holders::default(),
            reclaimed_at: Mutex::new(HashMap::new()),
            closed: AtomicBool::new(false),
        };
        Ok(RedisBroker {
            shared: Arc::new(shared),
        })
    }

    /// This host's consumer name in every queue's group.
    pub fn consumer(&self) -> &str {
        &self.shared.consumer
    }

    /// The key prefix in use (`wasmboost` unless configured).
    pub fn prefix(&self) -> &str {
        &self.shared.config.prefix
    }
}

impl Shared {
    pub(crate) fn check(&self, queue: &str) -> Result<(), BrokerError> {
        if self.closed.load(Ordering::Acquire) {
            return Err(BrokerError::Closed);
        }
        Ok(validate_queue_name(queue)?)
    }

    /// True (and remembered) when this host should scan `queue` for expired leases now.
    pub(crate) fn reclaim_due(&self, queue: &str) -> bool {
        let interval = Duration::from_millis(self.config.reclaim_interval_ms);
        let Ok(mut at) = self.reclaimed_at.lock() else {
            return true;
        };
        let now = Instant::now();
        match at.get(queue) {
            Some(last) if now.duration_since(*last) < interval => false,
            _ => {
                at.insert(queue.to_owned(), now);
                true
            }
        }
    }
}

fn default_consumer() -> String {
    let host = std::fs::read_to_string("/etc/hostname")
        .ok()
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty() && !h.contains(char::is_whitespace))
        .unwrap_or_else(|| "host".to_owned());
    let nonce = uuid::Uuid::now_v7().simple().to_string();
    format!(
        "{host}-{}-{}",
        std::process::id(),
        &nonce[nonce.len() - 8..]
    )
}

/// The envelope a fresh publish stores.
fn first_delivery(queue: &str, m: NewMessage, now: u64) -> Message {
    Message {
        id: m.id,
        queue: queue.to_owned(),
        body: m.body,
        priority: m.priority.min(MAX_PRIORITY),
        attempt: 1,
        requeues: 0,
        redeliveries: 0,
        published_ms: now,
    }
}

#[async_trait]
impl Broker for RedisBroker {
    fn kind(&self) -> &'static str {
        "redis"
    }

    async fn publish(&self, queue: &str, messages: Vec<NewMessage>) -> Result<(), BrokerError> {
        let s = &self.shared;
        s.check(queue)?;
        let now = now_ms();
        let mut manager = s.conn.manager();
        let mut messages = messages.into_iter().peekable();
        while messages.peek().is_some() {
            let mut pipe = redis::pipe();
            pipe.load_script(&DELAY).ignore();
            for m in messages.by_ref().take(PUBLISH_CHUNK) {
                let due = m.not_before_ms.filter(|due| *due > now);
                let m = first_delivery(queue, m, now);
                let fields = to_fields(&m);
                match due {
                    None => {
                        let cmd = pipe
                            .cmd("XADD")
                            .arg(s.keys.stream(queue, m.priority))
                            .arg("*");
                        for (k, v) in &fields {
                            cmd.arg(*k).arg(v.as_ref());
                        }
                        cmd.ignore();
                    }
                    Some(due) => {
                        let mut inv = DELAY.prepare_invoke();
                        let ns = s.keys.queue(queue);
                        inv.key(&ns).arg(&ns).arg(due);
                        for (k, v) in &fields {
                            inv.arg(*k).arg(v.as_ref());
                        }
                        pipe.invoke_script(&inv).ignore();
                    }
                }
            }
            let wait = s.config.wait_replicas;
            if wait == 0 {
                pipe.query_async::<()>(&mut manager)
                    .await
                    .map_err(broker_err)?;
                continue;
            }
            // In the same round trip: acknowledged only once `wait` replicas hold the chunk.
            pipe.cmd("WAIT").arg(wait).arg(s.config.wait_timeout_ms);
            let (acked,): (u32,) = pipe.query_async(&mut manager).await.map_err(broker_err)?;
            if acked < wait {
                return Err(BrokerError::Unavailable(format!(
                    "redis: a publish to {queue} reached {acked} of {wait} replicas in \
                     {} ms (wait_replicas); it may still run",
                    s.config.wait_timeout_ms
                )));
            }
        }
        Ok(())
    }

    async fn fetch(
        &self,
        queue: &str,
        max: usize,
        lease: Duration,
        wait: Duration,
    ) -> Result<Vec<Delivery>, BrokerError> {
        crate::fetch::fetch(&self.shared, queue, max, lease, wait).await
    }

    async fn counts(&self, queue: &str) -> Result<QueueCounts, BrokerError> {
        let s = &self.shared;
        s.check(queue)?;
        let ns = s.keys.queue(queue);
        let reply = COUNTS
            .key(&ns)
            .arg(&ns)
            .arg(&s.config.group)
            .arg(PROMOTE_LIMIT)
            .invoke_async(&mut s.conn.manager())
            .await
            .map_err(broker_err)?;
        let mut n = array(reply, "counts reply")?.into_iter();
        let mut next = || -> Result<u64, BrokerError> {
            let v = n.next().unwrap_or(redis::Value::Int(0));
            Ok(u64::try_from(int(v, "counts reply")?).unwrap_or(0))
        };
        Ok(QueueCounts {
            ready: next()?,
            delayed: next()?,
            leased: next()?,
            dead: next()?,
        })
    }

    async fn dead_letters(
        &self,
        queue: &str,
        limit: usize,
    ) -> Result<Vec<DeadLetter>, BrokerError> {
        crate::dead::list(&self.shared, queue, limit).await
    }

    async fn replay_dead_letters(
        &self,
        queue: &str,
        ids: Option<&[String]>,
    ) -> Result<u64, BrokerError> {
        crate::dead::replay(&self.shared, queue, ids).await
    }

    async fn purge_dead_letters(&self, queue: &str) -> Result<u64, BrokerError> {
        crate::dead::purge(&self.shared, queue).await
    }

    async fn close(&self) -> Result<(), BrokerError> {
        self.shared.closed.store(true, Ordering::Release);
        Ok(())
    }
}

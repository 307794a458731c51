//! Connections: one shared [`Handle`] for every ordinary command (concurrent callers are
//! pipelined onto one socket per node), plus a small pool of dedicated connections for blocking
//! reads, which would otherwise hold up everything queued behind them on the shared socket (on a
//! cluster too: a blocking read gets a cluster connection of its own), and the pub/sub
//! connection of `notify`. The URL's scheme picks the deployment (`topology`).

use std::sync::Mutex;
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig, MultiplexedConnection, PubSub};
use redis::cluster::{ClusterClient, ClusterClientBuilder};
use redis::cluster_async::ClusterConnection;
use redis::{AsyncConnectionConfig, Client, Cmd, RedisError, RedisResult, Value};
use wasmboost_broker::BrokerError;

use crate::config::RedisConfig;
use crate::error::{ConnectError, broker_err};
use crate::handle::Handle;
use crate::sentinel::Failover;
use crate::topology::Topology;

/// Reconnect attempts per outage before pending commands fail (each later command starts a new
/// round), so callers get `Unavailable` within about a second instead of hanging.
const RECONNECT_RETRIES: usize = 4;
const RECONNECT_MIN_DELAY: Duration = Duration::from_millis(50);
/// Idle blocking connections kept for reuse.
const BLOCKING_POOL: usize = 8;
/// Retries of a cluster command (redirections, a failover under way) before it fails.
const CLUSTER_RETRIES: u32 = 6;

/// The connections of one broker or store.
pub(crate) struct Conn {
    handle: Handle,
    source: Source,
    blocking: Mutex<Vec<Blocking>>,
    response_timeout: Duration,
    connect_timeout: Duration,
}

/// Where dedicated connections (blocking reads, pub/sub) come from.
enum Source {
    Single(Client),
    /// A client without response timeout for blocking reads, and the seeds for pub/sub.
    Cluster {
        blocking: Box<ClusterClient>,
        seeds: Vec<Client>,
    },
    Sentinel(Failover),
}

/// A dedicated connection for one blocking read at a time.
enum Blocking {
    Plain(MultiplexedConnection),
    Cluster(ClusterConnection),
}

impl std::fmt::Debug for Conn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let server = match &self.source {
            Source::Single(c) => c.get_connection_info().addr().to_string(),
            Source::Cluster { seeds, .. } => format!("cluster of {} seeds", seeds.len()),
            Source::Sentinel(f) => format!("sentinel master at {}", f.addr()),
        };
        f.debug_struct("Conn")
            .field("server", &server)
            .finish_non_exhaustive()
    }
}

impl Conn {
    pub(crate) async fn open(config: &RedisConfig) -> Result<Self, ConnectError> {
        config.validate().map_err(ConnectError::Config)?;
        let url_err = |source| ConnectError::Url {
            url: config.url.clone(),
            source,
        };
        let connect_err = |source| ConnectError::Connect {
            url: config.url.clone(),
            source,
        };
        let (handle, source) = match config.topology().map_err(ConnectError::Config)? {
            Topology::Single(url) => {
                let client = Client::open(url.as_str()).map_err(url_err)?;
                let manager =
                    ConnectionManager::new_with_config(client.clone(), manager_config(config))
                        .await
                        .map_err(connect_err)?;
                (Handle::Single(manager), Source::Single(client))
            }
            Topology::Cluster(nodes) => {
                let builder = || {
                    ClusterClientBuilder::new(nodes.iter().map(String::as_str))
                        .connection_timeout(config.connect_timeout())
                        .retries(CLUSTER_RETRIES)
                        .max_retry_wait(config.max_reconnect_delay_ms)
                };
                let shared = builder()
                    .response_timeout(config.response_timeout())
                    .build()
                    .map_err(url_err)?;
                let blocking = builder().build().map_err(url_err)?;
                let seeds = nodes
                    .iter()
                    .map(|n| Client::open(n.as_str()))
                    .collect::<RedisResult<_>>()
                    .map_err(url_err)?;
                let connection = shared.get_async_connection().await.map_err(connect_err)?;
                (
                    Handle::Cluster(connection),
                    Source::Cluster {
                        blocking: Box::new(blocking),
                        seeds,
                    },
                )
            }
            Topology::Sentinel(spec) => {
                let failover =
                    Failover::connect(spec, manager_config(config), config.connect_timeout())
                        .await
                        .map_err(connect_err)?;
                (
                    Handle::Sentinel(failover.clone()),
                    Source::Sentinel(failover),
                )
            }
        };
        Ok(Conn {
            handle,
            source,
            blocking: Mutex::new(Vec::new()),
            response_timeout: config.response_timeout(),
            connect_timeout: config.connect_timeout(),
        })
    }

    /// A handle on the shared connection (cheap: clones share the socket).
    pub(crate) fn manager(&self) -> Handle {
        self.handle.clone()
    }

    /// True on one server (`redis://`), where the broker's and the store's connections reach
    /// the same node in the order they were used.
    pub(crate) fn is_single(&self) -> bool {
        matches!(self.source, Source::Single(_))
    }

    /// True on a Redis Cluster: multi-key steps must then stay within one slot.
    pub(crate) fn is_cluster(&self) -> bool {
        matches!(self.source, Source::Cluster { .. })
    }

    /// A new pub/sub connection: to the server, the current master, or the first cluster seed
    /// that answers (a cluster forwards every `PUBLISH` to all its nodes).
    pub(crate) async fn pubsub(&self) -> RedisResult<PubSub> {
        match &self.source {
            Source::Single(client) => client.get_async_pubsub().await,
            Source::Sentinel(failover) => failover.client().get_async_pubsub().await,
            Source::Cluster { seeds, .. } => {
                let mut last = None;
                for seed in seeds {
                    match seed.get_async_pubsub().await {
                        Ok(pubsub) => return Ok(pubsub),
                        Err(e) => last = Some(e),
                    }
                }
                Err(last.unwrap_or_else(|| {
                    RedisError::from((redis::ErrorKind::Client, "no cluster seed"))
                }))
            }
        }
    }

    /// Run a command that may block on the server for up to `block`, on a dedicated connection.
    pub(crate) async fn blocking_query(
        &self,
        cmd: &Cmd,
        block: Duration,
    ) -> Result<Value, BrokerError> {
        let mut con = match self.take_blocking() {
            Some(con) => con,
            None => self.new_blocking().await?,
        };
        let limit = block + self.response_timeout;
        let query = async {
            match &mut con {
                Blocking::Plain(c) => cmd.query_async(c).await,
                Blocking::Cluster(c) => cmd.query_async(c).await,
            }
        };
        let value = tokio::time::timeout(limit, query)
            .await
            .map_err(|_| BrokerError::Unavailable(format!("redis gave no answer in {limit:?}")))?
            .map_err(broker_err)?;
        self.give_back(con);
        Ok(value)
    }

    fn take_blocking(&self) -> Option<Blocking> {
        self.blocking.lock().ok()?.pop()
    }

    fn give_back(&self, con: Blocking) {
        if let Ok(mut pool) = self.blocking.lock()
            && pool.len() < BLOCKING_POOL
        {
            pool.push(con);
        }
    }

    async fn new_blocking(&self) -> Result<Blocking, BrokerError> {
        // No response timeout of its own: blocking_query bounds each command.
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(self.connect_timeout))
            .set_response_timeout(None);
        let client = match &self.source {
            Source::Single(client) => client.clone(),
            Source::Sentinel(failover) => failover.client(),
            Source::Cluster { blocking, .. } => {
                let con = blocking.get_async_connection().await.map_err(broker_err)?;
                return Ok(Blocking::Cluster(con));
            }
        };
        client
            .get_multiplexed_async_connection_with_config(&config)
            .await
            .map(Blocking::Plain)
            .map_err(broker_err)
    }
}

/// The shared connection's reconnect and timeout settings (one server or a Sentinel master).
fn manager_config(config: &RedisConfig) -> ConnectionManagerConfig {
    ConnectionManagerConfig::new()
        .set_number_of_retries(RECONNECT_RETRIES)
        .set_min_delay(RECONNECT_MIN_DELAY)
        .set_max_delay(Duration::from_millis(config.max_reconnect_delay_ms))
        .set_response_timeout(Some(config.response_timeout()))
        .set_connection_timeout(Some(config.connect_timeout()))
}

//! Connections: one reconnecting, multiplexed [`ConnectionManager`] for every ordinary command
//! (concurrent callers are pipelined onto one socket), plus a small pool of dedicated
//! connections for blocking reads, which would otherwise hold up everything queued behind them.

use std::sync::Mutex;
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig, MultiplexedConnection};
use redis::{AsyncConnectionConfig, Client, Cmd, Value};
use wasmboost_broker::BrokerError;

use crate::config::RedisConfig;
use crate::error::{ConnectError, broker_err};

/// Reconnect attempts per outage before pending commands fail (each later command starts a new
/// round), so callers get `Unavailable` within about a second instead of hanging.
const RECONNECT_RETRIES: usize = 4;
const RECONNECT_MIN_DELAY: Duration = Duration::from_millis(50);
/// Idle blocking connections kept for reuse.
const BLOCKING_POOL: usize = 8;

/// The connections of one broker or store.
pub(crate) struct Conn {
    client: Client,
    manager: ConnectionManager,
    blocking: Mutex<Vec<MultiplexedConnection>>,
    response_timeout: Duration,
    connect_timeout: Duration,
}

impl std::fmt::Debug for Conn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Conn")
            .field("server", &self.client.get_connection_info().addr())
            .finish_non_exhaustive()
    }
}

impl Conn {
    pub(crate) async fn open(config: &RedisConfig) -> Result<Self, ConnectError> {
        config.validate().map_err(ConnectError::Config)?;
        let client = Client::open(config.url.as_str()).map_err(|source| ConnectError::Url {
            url: config.url.clone(),
            source,
        })?;
        let manager_config = ConnectionManagerConfig::new()
            .set_number_of_retries(RECONNECT_RETRIES)
            .set_min_delay(RECONNECT_MIN_DELAY)
            .set_max_delay(Duration::from_millis(config.max_reconnect_delay_ms))
            .set_response_timeout(Some(config.response_timeout()))
            .set_connection_timeout(Some(config.connect_timeout()));
        let manager = ConnectionManager::new_with_config(client.clone(), manager_config)
            .await
            .map_err(|source| ConnectError::Connect {
                url: config.url.clone(),
                source,
            })?;
        Ok(Conn {
            client,
            manager,
            blocking: Mutex::new(Vec::new()),
            response_timeout: config.response_timeout(),
            connect_timeout: config.connect_timeout(),
        })
    }

    pub(crate) fn client(&self) -> &Client {
        &self.client
    }

    /// A handle on the shared connection (cheap: clones share the socket).
    pub(crate) fn manager(&self) -> ConnectionManager {
        self.manager.clone()
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
        let value = tokio::time::timeout(limit, cmd.query_async(&mut con))
            .await
            .map_err(|_| BrokerError::Unavailable(format!("redis gave no answer in {limit:?}")))?
            .map_err(broker_err)?;
        self.give_back(con);
        Ok(value)
    }

    fn take_blocking(&self) -> Option<MultiplexedConnection> {
        self.blocking.lock().ok()?.pop()
    }

    fn give_back(&self, con: MultiplexedConnection) {
        if let Ok(mut pool) = self.blocking.lock()
            && pool.len() < BLOCKING_POOL
        {
            pool.push(con);
        }
    }

    async fn new_blocking(&self) -> Result<MultiplexedConnection, BrokerError> {
        // No response timeout of its own: blocking_query bounds each command.
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(self.connect_timeout))
            .set_response_timeout(None);
        self.client
            .get_multiplexed_async_connection_with_config(&config)
            .await
            .map_err(broker_err)
    }
}

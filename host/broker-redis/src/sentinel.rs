//! [`Failover`]: the connection to the master a set of sentinels names. Commands go to the
//! current master over one reconnecting socket (a [`ConnectionManager`]). When one fails as if
//! the master were gone (refused, reset, timed out) or answers `READONLY` (it was demoted to a
//! replica), the sentinels are asked again in the background, and a new master is connected and
//! swapped in for every clone of the handle; the failed command itself fails as unavailable and
//! the worker retries it with backoff. No failover logic of our own: Sentinel decides who the
//! master is.
//!
//! The sentinels are also asked every [`WATCH_INTERVAL`] in the background: a connection that
//! sent nothing during the outage would otherwise reconnect to the old master's address when
//! that node restarts, and write there (it starts as an empty master until the sentinels make
//! it a replica, which then discards those writes).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use redis::{
    AsyncConnectionConfig, Client, Cmd, ErrorKind, Pipeline, RedisError, RedisFuture, RedisResult,
    ServerErrorKind, Value,
};

use crate::error::is_transient;
use crate::topology::SentinelSpec;

/// Pause between rounds of asking the sentinels while no new master is named yet.
const RESOLVE_PAUSE: Duration = Duration::from_millis(100);
/// How often the sentinels are asked who the master is, with no error to prompt it.
const WATCH_INTERVAL: Duration = Duration::from_millis(250);

/// A handle on the current master; clones share it (and its switch to a new one).
#[derive(Clone)]
pub(crate) struct Failover {
    state: Arc<State>,
}

struct State {
    spec: SentinelSpec,
    manager_config: ConnectionManagerConfig,
    connect_timeout: Duration,
    current: RwLock<Master>,
    /// A background look-up is running (one at a time).
    resolving: AtomicBool,
}

#[derive(Clone)]
struct Master {
    addr: (String, u16),
    client: Client,
    manager: ConnectionManager,
}

impl Failover {
    /// Ask the sentinels for the master and connect to it.
    pub(crate) async fn connect(
        spec: SentinelSpec,
        manager_config: ConnectionManagerConfig,
        connect_timeout: Duration,
    ) -> RedisResult<Failover> {
        let addr = ask_sentinels(&spec, connect_timeout).await?;
        let master = open_master(&spec, addr, &manager_config).await?;
        tracing::info!(master = %spec.master, addr = %format!("{}:{}", master.addr.0, master.addr.1), "redis master named by sentinel");
        let state = Arc::new(State {
            spec,
            manager_config,
            connect_timeout,
            current: RwLock::new(master),
            resolving: AtomicBool::new(false),
        });
        tokio::spawn(watch(Arc::downgrade(&state)));
        Ok(Failover { state })
    }

    /// A client for the current master (for dedicated connections: blocking reads, pub/sub).
    pub(crate) fn client(&self) -> Client {
        self.state.master().client
    }

    /// `host:port` of the current master.
    pub(crate) fn addr(&self) -> String {
        let (host, port) = self.state.master().addr;
        format!("{host}:{port}")
    }

    /// After a command: on a sign that the master is gone or demoted, look it up again.
    fn check<T>(&self, result: RedisResult<T>) -> RedisResult<T> {
        let Err(e) = result else { return result };
        let demoted = e.kind() == ErrorKind::Server(ServerErrorKind::ReadOnly);
        if demoted || is_transient(&e) {
            self.resolve_in_background();
        }
        if demoted {
            // A replica refusing a write: transient for the caller (a new master is coming).
            return Err(RedisError::from(std::io::Error::new(
                std::io::ErrorKind::ConnectionReset,
                format!("redis master was demoted to a replica: {e}"),
            )));
        }
        Err(e)
    }

    fn resolve_in_background(&self) {
        if self.state.resolving.swap(true, Ordering::AcqRel) {
            return;
        }
        let state = Arc::clone(&self.state);
        tokio::spawn(async move {
            state.resolve().await;
            state.resolving.store(false, Ordering::Release);
        });
    }
}

/// Ask the sentinels every [`WATCH_INTERVAL`] while the handle lives; switch when they name
/// another master.
async fn watch(state: std::sync::Weak<State>) {
    loop {
        tokio::time::sleep(WATCH_INTERVAL).await;
        let Some(state) = state.upgrade() else { return };
        if state.resolving.load(Ordering::Acquire) {
            continue;
        }
        if let Ok(addr) = ask_sentinels(&state.spec, state.connect_timeout).await
            && addr != state.master().addr
        {
            state.switch_to(addr).await;
        }
    }
}

impl State {
    /// Connect to `addr` and make it the master of every clone; false when it is no master yet.
    async fn switch_to(&self, addr: (String, u16)) -> bool {
        let failed = self.master().addr;
        match open_master(&self.spec, addr, &self.manager_config).await {
            Ok(master) => {
                tracing::warn!(master = %self.spec.master, from = %format!("{}:{}", failed.0, failed.1), to = %format!("{}:{}", master.addr.0, master.addr.1), "redis failover: switched to the new master");
                *self.current.write().unwrap_or_else(PoisonError::into_inner) = master;
                true
            }
            Err(e) => {
                tracing::debug!(error = %e, "new redis master not reachable yet");
                false
            }
        }
    }

    fn master(&self) -> Master {
        // Only a swapped-in value: a panic elsewhere cannot leave it half-written.
        self.current
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Whether the current master answers a `PING` within the connect timeout (its own
    /// reconnect backoff must not hold up the look-up while a failover is under way).
    async fn answers(&self) -> bool {
        let mut manager = self.master().manager;
        let cmd = redis::cmd("PING");
        let ping = cmd.query_async::<()>(&mut manager);
        matches!(
            tokio::time::timeout(self.connect_timeout, ping).await,
            Ok(Ok(()))
        )
    }

    /// Ask the sentinels until they name a master other than the one that failed (or the same
    /// one answering again), then switch to it.
    async fn resolve(&self) {
        let failed = self.master().addr;
        for _ in 0..50 {
            if let Ok(addr) = ask_sentinels(&self.spec, self.connect_timeout).await {
                if addr != failed {
                    if self.switch_to(addr).await {
                        return;
                    }
                } else if self.answers().await {
                    // The old master answers again (a blip, not a failover).
                    return;
                }
            }
            tokio::time::sleep(RESOLVE_PAUSE).await;
        }
    }
}

/// The master's address according to the first sentinel that knows it.
async fn ask_sentinels(spec: &SentinelSpec, timeout: Duration) -> RedisResult<(String, u16)> {
    let mut last = None;
    for url in &spec.sentinels {
        match ask_one(url, &spec.master, timeout).await {
            Ok(Some(addr)) => return Ok(addr),
            Ok(None) => {
                last = Some(RedisError::from((
                    ErrorKind::Client,
                    "sentinel does not know the master",
                    format!("{url} has no master named {:?}", spec.master),
                )));
            }
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| RedisError::from((ErrorKind::Client, "no sentinel configured"))))
}

async fn ask_one(url: &str, master: &str, timeout: Duration) -> RedisResult<Option<(String, u16)>> {
    let config = AsyncConnectionConfig::new()
        .set_connection_timeout(Some(timeout))
        .set_response_timeout(Some(timeout));
    let mut con = Client::open(url)?
        .get_multiplexed_async_connection_with_config(&config)
        .await?;
    redis::cmd("SENTINEL")
        .arg("get-master-addr-by-name")
        .arg(master)
        .query_async(&mut con)
        .await
}

async fn open_master(
    spec: &SentinelSpec,
    addr: (String, u16),
    config: &ConnectionManagerConfig,
) -> RedisResult<Master> {
    let client = Client::open(spec.node_url(&addr.0, addr.1))?;
    let mut manager = ConnectionManager::new_with_config(client.clone(), config.clone()).await?;
    // A sentinel may still name a master that was just demoted: only a master will do.
    let role: Vec<Value> = redis::cmd("ROLE").query_async(&mut manager).await?;
    if !matches!(role.first(), Some(Value::BulkString(r)) if r == b"master") {
        return Err(RedisError::from((
            ErrorKind::Server(ServerErrorKind::ReadOnly),
            "the named master is a replica",
        )));
    }
    Ok(Master {
        addr,
        client,
        manager,
    })
}

impl ConnectionLike for Failover {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        Box::pin(async move {
            let mut manager = self.state.master().manager;
            let result = manager.req_packed_command(cmd).await;
            self.check(result)
        })
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        Box::pin(async move {
            let mut manager = self.state.master().manager;
            let result = manager.req_packed_commands(pipeline, offset, count).await;
            self.check(result)
        })
    }

    fn get_db(&self) -> i64 {
        self.state.master().manager.get_db()
    }
}

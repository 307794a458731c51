//! [`Db`]: a small pool of connections every operation draws from round-robin, so lease
//! renewals, settles, progress marks and fetches of many tasks in flight do not queue behind
//! each other on one socket. Each connection reconnects on its own, with backoff, once it
//! closed; and every call on it is bounded ([`Conn`]): a connect or statement that gets no
//! answer within `op_timeout_ms` fails as `Unavailable` and retires its connection, so no
//! caller waits forever on a server that went away mid-request. Statements are prepared once
//! per connection and reused (one round trip per call instead of two).

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, Row, Statement};
use wasmboost_broker::networked::backoff::Backoff;
use wasmboost_broker::{BrokerError, StateError};

use crate::config::PostgresConfig;
use crate::conn::connect;
use crate::error::DbError;

/// Statement parameters, as the driver takes them.
pub(crate) type Params<'a> = &'a [&'a (dyn ToSql + Sync)];

/// The pool: `pool_size` slots, each holding at most one live connection.
///
/// No caller ever waits on a lock across network I/O: a reconnect runs on a task of its own
/// and fills its slot itself. A caller's future may be kept but not polled for a while (a
/// task's select loop awaits a lease renewal while its cancel watch sits mid-call); had that
/// future held the slot across its connect, the renewal waiting on the same slot would never
/// come back, nor would anything else on the pool (the 120 s hang after a server restart).
#[derive(Debug)]
pub(crate) struct Db {
    pg: tokio_postgres::Config,
    slots: Arc<[Mutex<Slot>]>,
    next: AtomicUsize,
    timeout: Duration,
}

#[derive(Debug)]
struct Slot {
    conn: Option<Arc<Conn>>,
    backoff: Backoff,
    /// A reconnect of this slot is under way.
    connecting: bool,
}

impl Slot {
    /// The slot's connection while it is usable.
    fn live(&self) -> Option<Arc<Conn>> {
        self.conn.as_ref().filter(|c| c.usable()).map(Arc::clone)
    }
}

/// What a caller found in its slot.
enum Found {
    Live(Arc<Conn>),
    /// Reconnect it (the caller started the attempt).
    Reconnect,
    /// Down (in backoff, or another caller is reconnecting it).
    Down,
}

impl Db {
    /// The pool of `config`, its first slot holding `client` (the others connect on first use).
    pub(crate) fn new(pg: tokio_postgres::Config, config: &PostgresConfig, client: Client) -> Self {
        let (min, max) = config.reconnect();
        let timeout = config.op_timeout();
        let mut first = Some(Arc::new(Conn::new(client, timeout)));
        let slots = (0..config.pool_size.max(1))
            .map(|_| {
                Mutex::new(Slot {
                    conn: first.take(),
                    backoff: Backoff::new(min, max),
                    connecting: false,
                })
            })
            .collect();
        Db {
            pg,
            slots,
            next: AtomicUsize::new(0),
            timeout,
        }
    }

    /// A live connection: the next slot's in turn, reconnecting it if it closed. While it is
    /// down (in the backoff after a failed reconnect, or reconnecting for another caller),
    /// another slot's live connection, else `Unavailable` at once (the worker backs off too).
    pub(crate) async fn client(&self) -> Result<Arc<Conn>, Down> {
        let n = self.slots.len();
        let first = self.next.fetch_add(1, Ordering::Relaxed) % n;
        match self.look(first) {
            Found::Live(conn) => Ok(conn),
            Found::Reconnect => self.reconnect(first).await,
            Found::Down => (1..n)
                .find_map(|k| lock(&self.slots[(first + k) % n]).live())
                .ok_or_else(|| Down("postgres connection lost; reconnecting".to_owned())),
        }
    }

    fn look(&self, i: usize) -> Found {
        let mut slot = lock(&self.slots[i]);
        if let Some(conn) = slot.live() {
            return Found::Live(conn);
        }
        slot.conn = None;
        if slot.connecting || !slot.backoff.remaining().is_zero() {
            return Found::Down;
        }
        slot.connecting = true;
        Found::Reconnect
    }

    /// Reconnect slot `i` on a task of its own, bounded by the op timeout; the task fills the
    /// slot even if this caller is dropped or not polled meanwhile.
    async fn reconnect(&self, i: usize) -> Result<Arc<Conn>, Down> {
        let (pg, slots, timeout) = (self.pg.clone(), Arc::clone(&self.slots), self.timeout);
        let attempt = tokio::spawn(async move {
            tracing::debug!(slot = i, "postgres: connecting");
            let made = match tokio::time::timeout(timeout, connect(&pg)).await {
                Ok(made) => made.map_err(|e| e.to_string()),
                Err(_) => Err(format!("no answer to a connect within {timeout:?}")),
            };
            let mut slot = lock(&slots[i]);
            slot.connecting = false;
            match made {
                Ok(client) => {
                    slot.backoff.succeeded();
                    let conn = Arc::new(Conn::new(client, timeout));
                    slot.conn = Some(Arc::clone(&conn));
                    tracing::info!(slot = i, "postgres: reconnected");
                    Ok(conn)
                }
                Err(e) => {
                    slot.backoff.failed();
                    tracing::debug!(slot = i, error = %e, "postgres: connect failed");
                    Err(Down(e))
                }
            }
        });
        attempt
            .await
            .unwrap_or_else(|e| Err(Down(format!("postgres reconnect ended: {e}"))))
    }
}

/// A slot's state; never held across an await.
fn lock(slot: &Mutex<Slot>) -> std::sync::MutexGuard<'_, Slot> {
    slot.lock().unwrap_or_else(PoisonError::into_inner)
}

/// One pooled connection: its prepared statements, and whether a call on it went unanswered
/// (then it is retired: the slot reconnects, and the client closes once its last user drops it).
#[derive(Debug)]
pub(crate) struct Conn {
    client: Client,
    statements: Mutex<HashMap<&'static str, Statement>>,
    broken: AtomicBool,
    timeout: Duration,
}

impl Conn {
    fn new(client: Client, timeout: Duration) -> Self {
        Conn {
            client,
            statements: Mutex::new(HashMap::new()),
            broken: AtomicBool::new(false),
            timeout,
        }
    }

    fn usable(&self) -> bool {
        !self.client.is_closed() && !self.broken.load(Ordering::Relaxed)
    }

    /// `call`, or [`DbError::TimedOut`] (retiring this connection) if it takes too long.
    async fn bounded<T>(
        &self,
        call: impl Future<Output = Result<T, tokio_postgres::Error>>,
    ) -> Result<T, DbError> {
        match tokio::time::timeout(self.timeout, call).await {
            Ok(done) => done.map_err(DbError::Pg),
            Err(_) => {
                self.broken.store(true, Ordering::Relaxed);
                Err(DbError::TimedOut(self.timeout))
            }
        }
    }

    /// `sql` prepared on this connection (once; later calls reuse it).
    async fn statement(&self, sql: &'static str) -> Result<Statement, DbError> {
        let cached = self.cache().get(sql).cloned();
        if let Some(statement) = cached {
            return Ok(statement);
        }
        let statement = self.bounded(self.client.prepare(sql)).await?;
        self.cache().insert(sql, statement.clone());
        Ok(statement)
    }

    fn cache(&self) -> std::sync::MutexGuard<'_, HashMap<&'static str, Statement>> {
        self.statements
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) async fn query(
        &self,
        sql: &'static str,
        params: Params<'_>,
    ) -> Result<Vec<Row>, DbError> {
        let statement = self.statement(sql).await?;
        self.bounded(self.client.query(&statement, params)).await
    }

    pub(crate) async fn query_one(
        &self,
        sql: &'static str,
        params: Params<'_>,
    ) -> Result<Row, DbError> {
        let statement = self.statement(sql).await?;
        self.bounded(self.client.query_one(&statement, params))
            .await
    }

    pub(crate) async fn query_opt(
        &self,
        sql: &'static str,
        params: Params<'_>,
    ) -> Result<Option<Row>, DbError> {
        let statement = self.statement(sql).await?;
        self.bounded(self.client.query_opt(&statement, params))
            .await
    }

    pub(crate) async fn execute(
        &self,
        sql: &'static str,
        params: Params<'_>,
    ) -> Result<u64, DbError> {
        let statement = self.statement(sql).await?;
        self.bounded(self.client.execute(&statement, params)).await
    }

    /// Several statements, unprepared (the sweep).
    pub(crate) async fn batch_execute(&self, sql: &'static str) -> Result<(), DbError> {
        self.bounded(self.client.batch_execute(sql)).await
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

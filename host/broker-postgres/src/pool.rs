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
#[derive(Debug)]
pub(crate) struct Db {
    pg: tokio_postgres::Config,
    slots: Box<[tokio::sync::Mutex<Slot>]>,
    next: AtomicUsize,
    timeout: Duration,
}

#[derive(Debug)]
struct Slot {
    conn: Option<Arc<Conn>>,
    backoff: Backoff,
}

impl Slot {
    /// The slot's connection while it is usable.
    fn live(&self) -> Option<Arc<Conn>> {
        self.conn.as_ref().filter(|c| c.usable()).map(Arc::clone)
    }
}

impl Db {
    /// The pool of `config`, its first slot holding `client` (the others connect on first use).
    pub(crate) fn new(pg: tokio_postgres::Config, config: &PostgresConfig, client: Client) -> Self {
        let (min, max) = config.reconnect();
        let timeout = config.op_timeout();
        let mut first = Some(Arc::new(Conn::new(client, timeout)));
        let slots = (0..config.pool_size.max(1))
            .map(|_| {
                tokio::sync::Mutex::new(Slot {
                    conn: first.take(),
                    backoff: Backoff::new(min, max),
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

    /// A live connection: the next slot's in turn, reconnecting it if it closed. Within the
    /// backoff after its failed reconnect, another slot's live connection, else `Unavailable`
    /// at once (the worker backs off too).
    pub(crate) async fn client(&self) -> Result<Arc<Conn>, Down> {
        let n = self.slots.len();
        let first = self.next.fetch_add(1, Ordering::Relaxed) % n;
        let mut slot = self.slots[first].lock().await;
        if let Some(conn) = slot.live() {
            return Ok(conn);
        }
        slot.conn = None;
        if !slot.backoff.remaining().is_zero() {
            drop(slot);
            return self.any_live(first).await;
        }
        tracing::debug!(slot = first, "postgres: connecting");
        let made = match tokio::time::timeout(self.timeout, connect(&self.pg)).await {
            Ok(made) => made.map_err(|e| e.to_string()),
            Err(_) => Err(format!("no answer to a connect within {:?}", self.timeout)),
        };
        match made {
            Ok(client) => {
                slot.backoff.succeeded();
                let conn = Arc::new(Conn::new(client, self.timeout));
                slot.conn = Some(Arc::clone(&conn));
                tracing::info!(slot = first, "postgres: reconnected");
                Ok(conn)
            }
            Err(e) => {
                slot.backoff.failed();
                tracing::debug!(slot = first, error = %e, "postgres: connect failed");
                Err(Down(e))
            }
        }
    }

    /// A live connection of any other slot that is free now.
    async fn any_live(&self, except: usize) -> Result<Arc<Conn>, Down> {
        for (i, slot) in self.slots.iter().enumerate() {
            if i == except {
                continue;
            }
            if let Some(conn) = slot.try_lock().ok().and_then(|s| s.live()) {
                return Ok(conn);
            }
        }
        Err(Down("postgres connection lost; reconnecting".to_owned()))
    }
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

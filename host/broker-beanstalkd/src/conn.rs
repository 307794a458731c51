//! Connections. A [`Conn`] is one TCP connection with the codec: it pipelines a list of commands
//! and reads one reply each. A [`Link`] is a connection that comes back: when it breaks it is
//! dropped, its generation moves on (beanstalkd released every job it had reserved, so leases
//! taken under the old generation are lost), and the next use reconnects, paced by backoff.

use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio::sync::{Mutex, MutexGuard};
use tokio_util::codec::Framed;
use wasmboost_broker::BrokerError;
use wasmboost_broker::networked::backoff::Backoff;

use crate::proto::{Command, Proto, ProtoError, Reply};

/// A connect that takes longer than this has failed.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// One connection to beanstalkd.
#[derive(Debug)]
pub(crate) struct Conn {
    framed: Framed<TcpStream, Proto>,
    /// The tube `put` goes to (`use`), to skip repeating `use`.
    using: String,
}

impl Conn {
    pub(crate) async fn open(addr: &str) -> io::Result<Conn> {
        let stream = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(addr))
            .await
            .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "connect timed out"))??;
        stream.set_nodelay(true)?;
        Ok(Conn {
            framed: Framed::new(stream, Proto),
            using: "default".to_owned(),
        })
    }

    /// Send `cmds` in one write and read their replies, in order.
    pub(crate) async fn call(&mut self, cmds: Vec<Command>) -> Result<Vec<Reply>, ProtoError> {
        let n = cmds.len();
        for cmd in cmds {
            self.framed.feed(cmd).await?;
        }
        self.framed.flush().await?;
        let mut replies = Vec::with_capacity(n);
        for _ in 0..n {
            match self.framed.next().await {
                Some(reply) => replies.push(reply?),
                None => return Err(io::Error::from(io::ErrorKind::UnexpectedEof).into()),
            }
        }
        Ok(replies)
    }

    /// `use tube` if it is not the tube in use already (the caller sends it first).
    pub(crate) fn use_tube(&mut self, tube: &str, cmds: &mut Vec<Command>) -> bool {
        if self.using == tube {
            return false;
        }
        self.using = tube.to_owned();
        cmds.push(Command::Use(tube.to_owned()));
        true
    }

    /// Watch only `tube` (for reserving from it).
    pub(crate) async fn watch_only(&mut self, tube: &str) -> Result<(), ProtoError> {
        let replies = self
            .call(vec![
                Command::Watch(tube.to_owned()),
                Command::Ignore("default".to_owned()),
            ])
            .await?;
        match replies.as_slice() {
            [Reply::Watching(_), Reply::Watching(_)] => Ok(()),
            other => Err(ProtoError::Malformed(format!("watch {tube}: {other:?}"))),
        }
    }
}

#[derive(Debug)]
struct Slot {
    conn: Option<Conn>,
    backoff: Backoff,
}

/// A connection that reconnects.
#[derive(Debug)]
pub(crate) struct Link {
    addr: String,
    /// Reserving links watch one tube (set again on every reconnect).
    watch: Option<String>,
    slot: Mutex<Slot>,
    generation: AtomicU64,
}

impl Link {
    pub(crate) fn new(addr: &str, watch: Option<String>, reconnect: (Duration, Duration)) -> Self {
        Link {
            addr: addr.to_owned(),
            watch,
            slot: Mutex::new(Slot {
                conn: None,
                backoff: Backoff::new(reconnect.0, reconnect.1),
            }),
            generation: AtomicU64::new(0),
        }
    }

    pub(crate) fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// The connection, reconnecting first if it broke (unless the backoff says wait).
    pub(crate) async fn lock(&self) -> Result<Held<'_>, BrokerError> {
        let slot = self.slot.lock().await;
        self.ready(slot).await
    }

    /// Like [`Link::lock`], or `None` if another caller holds it now.
    pub(crate) async fn try_lock(&self) -> Option<Result<Held<'_>, BrokerError>> {
        let slot = self.slot.try_lock().ok()?;
        Some(self.ready(slot).await)
    }

    /// The connection of generation `generation`, or `None` if it broke since (the jobs it had
    /// reserved went back to their tubes).
    pub(crate) async fn lock_generation(&self, generation: u64) -> Option<Held<'_>> {
        let slot = self.slot.lock().await;
        (slot.conn.is_some() && self.generation() == generation)
            .then_some(Held { slot, link: self })
    }

    async fn ready<'a>(&'a self, mut slot: MutexGuard<'a, Slot>) -> Result<Held<'a>, BrokerError> {
        if slot.conn.is_none() {
            let wait = slot.backoff.remaining();
            if !wait.is_zero() {
                return Err(BrokerError::Unavailable(format!(
                    "beanstalkd at {} is unreachable; reconnecting in {} ms",
                    self.addr,
                    wait.as_millis()
                )));
            }
            match self.connect().await {
                Ok(conn) => {
                    slot.backoff.succeeded();
                    slot.conn = Some(conn);
                }
                Err(e) => {
                    slot.backoff.failed();
                    return Err(BrokerError::Unavailable(format!(
                        "cannot connect to beanstalkd at {}: {e}",
                        self.addr
                    )));
                }
            }
        }
        Ok(Held { slot, link: self })
    }

    async fn connect(&self) -> Result<Conn, ProtoError> {
        let mut conn = Conn::open(&self.addr).await?;
        if let Some(tube) = &self.watch {
            conn.watch_only(tube).await?;
        }
        Ok(conn)
    }
}

/// A locked, connected [`Link`].
#[derive(Debug)]
pub(crate) struct Held<'a> {
    slot: MutexGuard<'a, Slot>,
    link: &'a Link,
}

impl Held<'_> {
    pub(crate) fn generation(&self) -> u64 {
        self.link.generation()
    }

    /// Pipeline `cmds`. Any error drops the connection (its stream may be out of step) and
    /// moves the link to a new generation.
    pub(crate) async fn call(&mut self, cmds: Vec<Command>) -> Result<Vec<Reply>, BrokerError> {
        let Some(conn) = self.slot.conn.as_mut() else {
            return Err(BrokerError::Unavailable(
                "beanstalkd connection is down".into(),
            ));
        };
        match conn.call(cmds).await {
            Ok(replies) => Ok(replies),
            Err(e) => {
                self.slot.conn = None;
                self.link.generation.fetch_add(1, Ordering::AcqRel);
                tracing::warn!(addr = %self.link.addr, error = %e, "beanstalkd connection lost");
                Err(e.into())
            }
        }
    }

    /// One command, one reply.
    pub(crate) async fn one(&mut self, cmd: Command) -> Result<Reply, BrokerError> {
        let mut replies = self.call(vec![cmd]).await?;
        replies
            .pop()
            .ok_or_else(|| BrokerError::Backend("beanstalkd sent no reply".into()))
    }

    /// Commands that `use` `tube` first when needed; the caller skips that many replies.
    pub(crate) fn using(&mut self, tube: &str, cmds: &mut Vec<Command>) -> usize {
        self.slot
            .conn
            .as_mut()
            .map_or(0, |c| usize::from(c.use_tube(tube, cmds)))
    }
}

//! The reserving connections of one queue. beanstalkd ties a reserved job to the connection that
//! reserved it (only that one may `touch`, `release`, `bury` or `delete` it) and a blocking
//! `reserve` stalls everything behind it on its connection. So:
//!
//! - a blocking reserve (nothing ready, the caller waits) runs only on a connection that holds
//!   no job, where no settle can be stuck behind it;
//! - when jobs are ready, a fetch takes them with non-blocking reserves on a connection that
//!   already holds jobs (one more round trip there, no new connection);
//! - each lease keeps its connection and generation: its settles go there, and if that
//!   connection broke the lease is lost (the server put the job back);
//! - beanstalkd cannot tell two reservations of one job on one connection apart (the TTR ran
//!   out and the same connection reserved the job again), so each reservation gets a token here,
//!   and only the lease holding the current token may act on the job.
//!
//! A job's TTR is fixed when it is put (and foreign producers choose their own), while each
//! fetch asks for its own lease: a keeper task per connection touches held jobs at half their
//! TTR until the caller's lease ends, so the lease holds whatever the TTR. A dead host's jobs
//! come back at once (its connections close), a hung host's one TTR after its leases end.
//!
//! Connections holding nothing are kept for the next blocking wait; spare ones are closed.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError, Weak};
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio::time::Instant;
use wasmboost_broker::BrokerError;
use wasmboost_broker::networked::batcher::{Batcher, Outcome};
use wasmboost_broker::networked::reaper::Deadlines;

use crate::conn::Link;
use crate::proto::{Command, Reply};

/// Most deletes in one pipelined write.
const MAX_ACK_BATCH: usize = 1024;
/// Idle reserving connections kept per queue (one waits, one is ready for the next wait).
const SPARE_IDLE: usize = 2;
/// beanstalkd answers `DEADLINE_SOON` to a reserve on a connection holding a job this close to
/// its TTR: such a connection does not count as idle.
pub(crate) const SAFETY_MARGIN: Duration = Duration::from_secs(1);
/// How long after a job's TTR ran out (on our clock, which runs behind the server's deadline)
/// the keeper pokes its connection with a harmless command. beanstalkd 1.12 does not reliably
/// time out the jobs of a connection that sends nothing (its timer for the connection can be
/// dropped: seen here about half the time, with the job still reserved 15 s past a 2 s TTR);
/// the next command on the connection puts it back on the timer, and the job is released at
/// once. A live host thus gets a job whose lease ended back one TTR after the lease ended.
const POKE_AFTER: Duration = Duration::from_millis(50);

/// One reservation held on a connection.
#[derive(Debug, Clone, Copy)]
struct Entry {
    /// This reservation of the job (see the module docs).
    token: u64,
    ttr: Duration,
    /// When beanstalkd hands the job out again unless it is touched (our clock, after the
    /// reply: never earlier than the server's).
    until: Instant,
    /// The caller's lease: the keeper touches the job until then.
    keep_until: Instant,
}

/// One reserving connection and what it holds.
#[derive(Debug)]
pub(crate) struct ReserveLink {
    pub link: Arc<Link>,
    held: Mutex<HashMap<u64, Entry>>,
    tokens: AtomicU64,
    /// When each held job needs its next keep-alive `touch`: `(job, token)`.
    keep: Arc<Deadlines<(u64, u64)>>,
    keeper: OnceLock<JoinHandle<()>>,
    /// Group-committed deletes: `(generation, job id)`.
    acks: Batcher<(u64, u64)>,
}

impl Drop for ReserveLink {
    fn drop(&mut self) {
        if let Some(keeper) = self.keeper.get() {
            keeper.abort();
        }
    }
}

impl ReserveLink {
    fn new(link: Arc<Link>) -> Arc<Self> {
        let for_acks = Arc::clone(&link);
        let acks = Batcher::spawn(MAX_ACK_BATCH, move |items: Vec<(u64, u64)>| {
            let link = Arc::clone(&for_acks);
            async move { delete_batch(&link, items).await }
        });
        let rl = Arc::new(ReserveLink {
            link,
            held: Mutex::new(HashMap::new()),
            tokens: AtomicU64::new(1),
            keep: Arc::new(Deadlines::default()),
            keeper: OnceLock::new(),
            acks,
        });
        let keeper = tokio::spawn(keep_alive(Arc::downgrade(&rl), Arc::clone(&rl.keep)));
        let _ = rl.keeper.set(keeper);
        rl
    }

    fn held(&self) -> MutexGuard<'_, HashMap<u64, Entry>> {
        // Only a map of deadlines: a panic elsewhere cannot leave it half-updated.
        self.held.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Holds nothing beanstalkd still counts as reserved here (timed-out jobs are forgotten).
    fn is_idle(&self) -> bool {
        let now = Instant::now();
        let mut held = self.held();
        held.retain(|_, e| e.until + SAFETY_MARGIN > now);
        held.is_empty()
    }

    /// `job` was just reserved here with time-to-run `ttr`, for a caller's `lease`: its token.
    /// Call with the connection locked, so no settle of an older reservation of the job runs
    /// in between.
    pub(crate) fn hold(&self, job: u64, ttr: Duration, lease: Duration) -> u64 {
        let token = self.tokens.fetch_add(1, Ordering::Relaxed);
        let now = Instant::now();
        let entry = Entry {
            token,
            ttr,
            until: now + ttr,
            keep_until: now + lease,
        };
        self.held().insert(job, entry);
        self.keep
            .file((job, token), next_keep(now, ttr, entry.keep_until));
        token
    }

    /// Whether the reservation `token` of `job` is still the current one here.
    pub(crate) fn owns(&self, job: u64, token: u64) -> bool {
        self.held().get(&job).is_some_and(|e| e.token == token)
    }

    /// How long beanstalkd still holds the reservation `token` of `job` for us (zero if lost).
    pub(crate) fn time_left(&self, job: u64, token: u64) -> Duration {
        self.held()
            .get(&job)
            .filter(|e| e.token == token)
            .map_or(Duration::ZERO, |e| {
                e.until.saturating_duration_since(Instant::now())
            })
    }

    /// `job` was touched now; `lease`, if given, is the caller's new lease.
    pub(crate) fn touched(&self, job: u64, token: u64, lease: Option<Duration>) {
        let now = Instant::now();
        let mut held = self.held();
        let Some(e) = held.get_mut(&job).filter(|e| e.token == token) else {
            return;
        };
        e.until = now + e.ttr;
        if let Some(lease) = lease {
            e.keep_until = now + lease;
            // The keeper must look again by then (a longer lease than it knew, or a shorter).
            let at = next_keep(now, e.ttr, e.keep_until);
            drop(held);
            self.keep.file((job, token), at);
        }
    }

    /// The reservation `token` of `job` ended (settled or lost).
    pub(crate) fn forget(&self, job: u64, token: u64) {
        let mut held = self.held();
        if held.get(&job).is_some_and(|e| e.token == token) {
            held.remove(&job);
        }
    }

    /// Delete `job` (reserved here under `generation`) through the group commit.
    pub(crate) async fn delete(&self, generation: u64, job: u64) -> Outcome {
        self.acks.submit((generation, job)).await
    }

    /// The keeper's round for the jobs that came due: touch (in one pipelined write) those whose
    /// caller's lease still runs, and file them again; for those whose lease ended, wait until
    /// their TTR has run out on the server and then poke the connection (see `POKE_AFTER`).
    async fn keep_due(&self, due: Vec<(u64, u64)>) {
        let now = Instant::now();
        let (mut touch, mut poke) = (Vec::new(), Vec::new());
        {
            let held = self.held();
            for (job, token) in due {
                let Some(e) = held.get(&job).filter(|e| e.token == token) else {
                    continue; // settled, or reserved again since
                };
                if e.keep_until > now {
                    touch.push((job, token));
                } else if e.until + POKE_AFTER > now {
                    self.keep.file((job, token), e.until + POKE_AFTER);
                } else {
                    poke.push((job, token));
                }
            }
        }
        if touch.is_empty() && poke.is_empty() {
            return;
        }
        let Some(mut conn) = self.link.lock_generation(self.link.generation()).await else {
            return;
        };
        let mut cmds: Vec<Command> = touch.iter().map(|(job, _)| Command::Touch(*job)).collect();
        if !poke.is_empty() {
            cmds.push(Command::ListTubeUsed);
        }
        let Ok(replies) = conn.call(cmds).await else {
            // The connection broke: beanstalkd put every job of it back.
            return;
        };
        drop(conn);
        for ((job, token), reply) in touch.into_iter().zip(replies) {
            if reply == Reply::Touched {
                self.touched(job, token, None);
                let ttr = self.held().get(&job).map_or(Duration::ZERO, |e| e.ttr);
                self.keep
                    .file((job, token), next_keep(now, ttr, self.keep_until(job)));
            } else {
                self.forget(job, token);
            }
        }
        // Their TTR ran out: beanstalkd puts them back now that the connection was poked.
        for (job, token) in poke {
            self.forget(job, token);
        }
    }

    fn keep_until(&self, job: u64) -> Instant {
        self.held()
            .get(&job)
            .map_or_else(Instant::now, |e| e.keep_until)
    }
}

/// When to look at a kept job next: at half its TTR, or when its caller's lease ends if sooner.
fn next_keep(now: Instant, ttr: Duration, keep_until: Instant) -> Instant {
    (now + ttr / 2).min(keep_until.max(now))
}

/// The keeper task of one connection: touches its jobs at half their TTR while their callers'
/// leases run, so the lease a caller asked for holds whatever TTR the job was put with.
async fn keep_alive(link: Weak<ReserveLink>, keep: Arc<Deadlines<(u64, u64)>>) {
    loop {
        let due = keep.due().await;
        let Some(rl) = link.upgrade() else {
            return;
        };
        rl.keep_due(due).await;
    }
}

/// One pipelined write of deletes. A job whose connection broke since it was reserved, or that
/// beanstalkd no longer has reserved here, is lost (`LeaseLost`, named by job id: the lease
/// renames it).
async fn delete_batch(link: &Link, items: Vec<(u64, u64)>) -> Vec<Outcome> {
    let lost = |job: u64| BrokerError::LeaseLost {
        queue: String::new(),
        id: job.to_string(),
    };
    let Some(mut held) = link.lock_generation(link.generation()).await else {
        return items.iter().map(|(_, job)| Err(lost(*job))).collect();
    };
    let generation = held.generation();
    let cmds = items
        .iter()
        .filter(|(g, _)| *g == generation)
        .map(|(_, job)| Command::Delete(*job))
        .collect();
    let replies = match held.call(cmds).await {
        Ok(replies) => replies,
        Err(e) => {
            let text = e.to_string();
            return items
                .iter()
                .map(|_| Err(BrokerError::Unavailable(text.clone())))
                .collect();
        }
    };
    let mut replies = replies.into_iter();
    items
        .iter()
        .map(|(g, job)| {
            if *g != generation {
                return Err(lost(*job));
            }
            match replies.next() {
                Some(Reply::Deleted) => Ok(()),
                Some(Reply::NotFound) => Err(lost(*job)),
                other => Err(BrokerError::Backend(format!(
                    "beanstalkd answered delete {job} with {other:?}"
                ))),
            }
        })
        .collect()
}

/// The reserving connections of one queue.
#[derive(Debug)]
pub(crate) struct QueuePool {
    pub queue: String,
    pub tube: String,
    addr: String,
    reconnect: (Duration, Duration),
    links: Mutex<Vec<Arc<ReserveLink>>>,
}

impl QueuePool {
    pub(crate) fn new(
        queue: &str,
        tube: String,
        addr: &str,
        reconnect: (Duration, Duration),
    ) -> Self {
        QueuePool {
            queue: queue.to_owned(),
            tube,
            addr: addr.to_owned(),
            reconnect,
            links: Mutex::new(Vec::new()),
        }
    }

    fn links(&self) -> MutexGuard<'_, Vec<Arc<ReserveLink>>> {
        self.links.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Connections holding jobs (for non-blocking reserves), busiest first.
    pub(crate) fn holders(&self) -> Vec<Arc<ReserveLink>> {
        self.links()
            .iter()
            .filter(|l| !l.is_idle())
            .cloned()
            .collect()
    }

    /// Connections holding nothing, for a blocking reserve; closes spares beyond a few, and
    /// adds a new one when there are none.
    pub(crate) fn idle(&self) -> Vec<Arc<ReserveLink>> {
        let mut links = self.links();
        let mut idle_seen = 0;
        links.retain(|l| {
            if !l.is_idle() {
                return true;
            }
            idle_seen += 1;
            // A spare that someone is using right now is kept.
            idle_seen <= SPARE_IDLE || Arc::strong_count(l) > 1
        });
        let mut idle: Vec<_> = links.iter().filter(|l| l.is_idle()).cloned().collect();
        if idle.is_empty() {
            idle.push(self.add(&mut links));
        }
        idle
    }

    /// A fresh connection (every other one is busy).
    pub(crate) fn fresh(&self) -> Arc<ReserveLink> {
        let mut links = self.links();
        self.add(&mut links)
    }

    fn add(&self, links: &mut Vec<Arc<ReserveLink>>) -> Arc<ReserveLink> {
        let link = Arc::new(Link::new(
            &self.addr,
            Some(self.tube.clone()),
            self.reconnect,
        ));
        let rl = ReserveLink::new(link);
        links.push(Arc::clone(&rl));
        rl
    }
}

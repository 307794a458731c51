//! Group commit: one thread owns every write to the database. It takes all operations queued
//! since its last commit, applies them in one transaction, commits once (one fsync), then answers
//! every barrier in the batch. Throughput therefore grows with load instead of paying one fsync
//! per message. It also removes expired records and dedup marks: in every commit, up to twice as
//! many as the commit wrote (so removal keeps pace with any write rate once the TTL turns over),
//! and when idle every [`SWEEP_EVERY`].

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use redb::{Database, Durability, ReadableTable, WriteTransaction};
use tokio::sync::oneshot;

use super::counters::{self, Count, Counters};
use super::tables::{Kv, MESSAGES, Pending, expires_ms, is_progress_record, is_terminal_record};
use crate::message::now_ms;

/// How often expired records and dedup marks are deleted (they are also hidden on read).
pub(crate) const SWEEP_EVERY: Duration = Duration::from_secs(30);
/// At most this many expired rows per table and sweep, so a sweep never stalls writers long.
pub(crate) const SWEEP_LIMIT: usize = 20_000;
/// After a sweep that stopped at the limit, the next comes this soon: records expiring faster
/// than `SWEEP_LIMIT` per `SWEEP_EVERY` (667/s, far below a busy host's rate) are still removed
/// as fast as they expire, instead of piling up on disk.
const SWEEP_AGAIN: Duration = Duration::from_secs(1);
/// Expired rows a commit removes beyond twice the rows it wrote: a busy writer is never idle, so
/// its own commits must remove what expires (the idle sweep alone fell behind at 10 000 tasks/s).
const SWEEP_IN_COMMIT: usize = 64;
/// Bounds a transaction's size (and the memory it dirties) under a flood of operations.
const MAX_BATCH: usize = 20_000;

/// One write, in the order the engine or store made it.
#[derive(Debug)]
pub(crate) enum Op {
    PutMessage {
        key: u64,
        value: Vec<u8>,
    },
    /// Many messages in one buffer: `rows` holds each key and where its value ends in `buf`.
    PutMessages {
        rows: Vec<(u64, usize)>,
        buf: Vec<u8>,
    },
    DeleteMessage {
        key: u64,
    },
    PutKv {
        table: Kv,
        key: String,
        value: Vec<u8>,
    },
    DeleteKv {
        table: Kv,
        key: String,
    },
    /// Write the pending (not yet committed) value of `key`, whatever it is by now, with the
    /// counts that ride with it (see `Pending::set_counted`).
    Flush {
        table: Kv,
        key: String,
    },
    /// [`Op::Flush`] of many keys (a batch publish's records).
    FlushMany {
        table: Kv,
        keys: Vec<String>,
    },
    /// Add deltas to stored counters.
    AddCounters(Count),
    /// Answered once everything before it is committed.
    Barrier(oneshot::Sender<Result<(), String>>),
}

/// The writer's clock: when to sweep, and (with a flush interval) when to fsync.
struct Schedule {
    next_sweep: Instant,
    /// `None`: every commit is fsynced.
    fsync_every: Option<Duration>,
    last_fsync: Instant,
    /// Commits since the last fsync.
    unsynced: bool,
}

impl Schedule {
    fn due_fsync(&self) -> Option<Instant> {
        let every = self.fsync_every?;
        self.unsynced.then_some(self.last_fsync + every)
    }

    /// Fsync this commit: always without an interval, else once the interval passed.
    fn fsync_now(&self) -> bool {
        self.fsync_every
            .is_none_or(|every| self.last_fsync.elapsed() >= every)
    }

    fn committed(&mut self, fsynced: bool) {
        if fsynced {
            self.last_fsync = Instant::now();
        }
        self.unsynced = !fsynced;
    }
}

pub(crate) fn run(
    db: &Database,
    pending: &Pending,
    counters: &Counters,
    rx: &Receiver<Op>,
    fsync_every: Option<Duration>,
    sweep_first: bool,
) {
    let now = Instant::now();
    let mut clock = Schedule {
        // The store swept when it opened: sweep at once only if that sweep stopped at its limit.
        next_sweep: if sweep_first { now } else { now + SWEEP_EVERY },
        fsync_every,
        last_fsync: now,
        unsynced: false,
    };
    loop {
        let wake = clock
            .due_fsync()
            .map_or(clock.next_sweep, |at| at.min(clock.next_sweep));
        let first = match rx.recv_timeout(wake.saturating_duration_since(Instant::now())) {
            Ok(op) => op,
            Err(RecvTimeoutError::Timeout) => {
                idle(db, &mut clock);
                continue;
            }
            Err(RecvTimeoutError::Disconnected) => break,
        };
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(op) => batch.push(op),
                Err(_) => break,
            }
        }
        let fsync = clock.fsync_now();
        commit(db, pending, counters, batch, fsync);
        clock.committed(fsync);
    }
    if clock.unsynced {
        commit(db, pending, counters, Vec::new(), true);
    }
}

/// Nothing to write: fsync what is pending, or sweep (a sweep's commit is fsynced too).
fn idle(db: &Database, clock: &mut Schedule) {
    if Instant::now() >= clock.next_sweep {
        let more = sweep(db).unwrap_or_else(|e| {
            tracing::error!("embedded broker: sweeping expired rows failed: {e}");
            false
        });
        clock.next_sweep = Instant::now() + if more { SWEEP_AGAIN } else { SWEEP_EVERY };
        clock.committed(true);
    } else if clock.due_fsync().is_some() {
        let result = db
            .begin_write()
            .map_err(redb::Error::from)
            .and_then(|txn| Ok(txn.commit()?));
        if let Err(e) = result {
            tracing::error!("embedded broker: fsync commit failed: {e}");
        }
        clock.committed(true);
    }
}

fn commit(db: &Database, pending: &Pending, counters: &Counters, batch: Vec<Op>, fsync: bool) {
    let mut barriers = Vec::new();
    let mut flushed = HashMap::new();
    let result = db
        .begin_write()
        .map_err(redb::Error::from)
        .and_then(|mut txn| {
            if !fsync {
                txn.set_durability(Durability::None)?;
            }
            let mut tables = Tables::open(&txn)?;
            let mut cx = Apply {
                pending,
                counters,
                barriers: &mut barriers,
                flushed: &mut flushed,
            };
            for op in batch {
                cx.apply(&mut tables, op)?;
            }
            tables.sweep(now_ms(), 2 * tables.written + SWEEP_IN_COMMIT)?;
            drop(tables);
            txn.commit()?;
            Ok(())
        });
    let reply = match result {
        Ok(()) => {
            for ((table, key), version) in flushed {
                pending.committed(table, &key, version);
            }
            Ok(())
        }
        Err(e) => {
            tracing::error!("embedded broker: committing a batch failed: {e}");
            Err(format!("embedded database write failed: {e}"))
        }
    };
    for barrier in barriers {
        // A waiter that gave up does not care about the answer.
        let _ = barrier.send(reply.clone());
    }
}

/// The tables of one write transaction, opened once per batch.
struct Tables<'txn> {
    messages: redb::Table<'txn, u64, &'static [u8]>,
    kv: Vec<redb::Table<'txn, &'static str, &'static [u8]>>,
    expiry: Vec<Option<redb::Table<'txn, (u64, &'static str), ()>>>,
    /// Rows written to expiring tables in this transaction (each one expires some day).
    written: usize,
}

impl<'txn> Tables<'txn> {
    fn open(txn: &'txn WriteTransaction) -> Result<Self, redb::Error> {
        let mut kv = Vec::with_capacity(Kv::ALL.len());
        let mut expiry = Vec::with_capacity(Kv::ALL.len());
        for table in Kv::ALL {
            kv.push(txn.open_table(table.table())?);
            expiry.push(table.expiry().map(|def| txn.open_table(def)).transpose()?);
        }
        let messages = txn.open_table(MESSAGES)?;
        Ok(Tables {
            messages,
            kv,
            expiry,
            written: 0,
        })
    }

    fn put(&mut self, table: Kv, key: &str, value: &[u8]) -> Result<(), redb::Error> {
        self.kv[table as usize].insert(key, value)?;
        if let Some(index) = self.expiry[table as usize].as_mut() {
            // Stale index rows of an overwritten key are harmless: the sweep checks the row.
            index.insert((expires_ms(value), key), ())?;
            self.written += 1;
        }
        Ok(())
    }

    /// Delete up to `limit` rows per table whose expiry passed by `now`, through each table's
    /// expiry index. True when a table had more due than that.
    fn sweep(&mut self, now: u64, limit: usize) -> Result<bool, redb::Error> {
        let mut more = false;
        for (rows, index) in self.kv.iter_mut().zip(&mut self.expiry) {
            let Some(index) = index.as_mut() else {
                continue;
            };
            let due: Vec<(u64, String)> = index
                .range(..(now, ""))?
                .take(limit)
                .map(|row| row.map(|(k, _)| (k.value().0, k.value().1.to_owned())))
                .collect::<Result<_, _>>()?;
            more |= due.len() == limit;
            for (at, key) in due {
                index.remove((at, key.as_str()))?;
                // An index row outlives an overwrite of its key: remove the row only if the
                // value stored now has expired too.
                let expired = rows
                    .get(key.as_str())?
                    .is_some_and(|v| expires_ms(v.value()) <= now);
                if expired {
                    rows.remove(key.as_str())?;
                }
            }
        }
        Ok(more)
    }
}

/// What applying one batch needs besides the tables.
struct Apply<'a> {
    pending: &'a Pending,
    counters: &'a Counters,
    barriers: &'a mut Vec<oneshot::Sender<Result<(), String>>>,
    flushed: &'a mut HashMap<(Kv, String), u64>,
}

impl Apply<'_> {
    fn apply(&mut self, tables: &mut Tables<'_>, op: Op) -> Result<(), redb::Error> {
        match op {
            Op::PutMessage { key, value } => {
                tables.messages.insert(key, value.as_slice())?;
            }
            Op::PutMessages { rows, buf } => {
                let mut start = 0;
                for (key, end) in rows {
                    tables.messages.insert(key, &buf[start..end])?;
                    start = end;
                }
            }
            Op::DeleteMessage { key } => {
                tables.messages.remove(key)?;
            }
            Op::Barrier(tx) => self.barriers.push(tx),
            Op::DeleteKv { table, key } => {
                tables.kv[table as usize].remove(key.as_str())?;
            }
            Op::PutKv { table, key, value } => tables.put(table, &key, &value)?,
            Op::AddCounters(count) => {
                counters::add_rows(&mut tables.kv[Kv::Counters as usize], &count)?;
            }
            Op::Flush { table, key } => self.flush(tables, table, key)?,
            Op::FlushMany { table, keys } => {
                for key in keys {
                    self.flush(tables, table, key)?;
                }
            }
        }
        Ok(())
    }

    /// Write `key`'s latest pending value (once per batch) and the counts that ride with it.
    /// Counts apply only while the stored record is not terminal yet: a task that ran again
    /// after a crash (its first terminal record committed, its ack not) is counted once. For the
    /// same reason a progress mark (`running`) is not written over a terminal record: the rerun
    /// would otherwise make its own ending look like the first and count it again. Neither rule
    /// looks at the stored record for what follows a plain record set since the last commit (a
    /// replay's `queued`): that record, not the stored ending, came before it.
    fn flush(
        &mut self,
        tables: &mut Tables<'_>,
        table: Kv,
        key: String,
    ) -> Result<(), redb::Error> {
        let Entry::Vacant(slot) = self.flushed.entry((table, key)) else {
            return Ok(());
        };
        let key = &slot.key().1;
        let Some(taken) = self.pending.take(table, key) else {
            return Ok(());
        };
        let progress = is_progress_record(&taken.value);
        let ended_before = if taken.guarded.is_some() || (progress && !taken.reset) {
            let stored = tables.kv[table as usize].get(key.as_str())?;
            stored.is_some_and(|v| is_terminal_record(v.value()))
        } else {
            false
        };
        let counts = [taken.guarded.filter(|_| !ended_before), taken.after_reset];
        for count in counts.into_iter().flatten() {
            counters::add_rows(&mut tables.kv[Kv::Counters as usize], &count)?;
            self.counters.add(&count);
        }
        if !(progress && ended_before && !taken.reset) {
            tables.put(table, key, &taken.value)?;
        }
        let version = taken.version;
        slot.insert(version);
        Ok(())
    }
}

/// Delete up to [`SWEEP_LIMIT`] expired rows per table in a transaction of their own. True when
/// a table had more due: sweep again soon.
pub(crate) fn sweep(db: &Database) -> Result<bool, redb::Error> {
    let txn = db.begin_write()?;
    let more = Tables::open(&txn)?.sweep(now_ms(), SWEEP_LIMIT)?;
    txn.commit()?;
    Ok(more)
}

//! Group commit: one thread owns every write to the database. It takes all operations queued
//! since its last commit, applies them in one transaction, commits once (one fsync), then answers
//! every barrier in the batch. Throughput therefore grows with load instead of paying one fsync
//! per message. It also sweeps expired records and dedup marks every [`SWEEP_EVERY`].

use std::collections::HashSet;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use redb::{Database, ReadableTable, WriteTransaction};
use tokio::sync::oneshot;

use super::tables::{Kv, MESSAGES, Pending, expires_ms};
use crate::message::now_ms;

/// How often expired records and dedup marks are deleted (they are also hidden on read).
pub(crate) const SWEEP_EVERY: Duration = Duration::from_secs(30);
/// At most this many expired rows per table and sweep, so a sweep never stalls writers long.
const SWEEP_LIMIT: usize = 20_000;
/// Bounds a transaction's size (and the memory it dirties) under a flood of operations.
const MAX_BATCH: usize = 20_000;

/// One write, in the order the engine or store made it.
#[derive(Debug)]
pub(crate) enum Op {
    PutMessage {
        key: u64,
        value: Vec<u8>,
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
    /// Write the pending (not yet committed) value of `key`, whatever it is by now.
    Flush {
        table: Kv,
        key: String,
    },
    /// Answered once everything before it is committed.
    Barrier(oneshot::Sender<Result<(), String>>),
}

pub(crate) fn run(db: &Database, pending: &Pending, rx: &Receiver<Op>) {
    let mut next_sweep = Instant::now();
    loop {
        let timeout = next_sweep.saturating_duration_since(Instant::now());
        let first = match rx.recv_timeout(timeout) {
            Ok(op) => op,
            Err(RecvTimeoutError::Timeout) => {
                if let Err(e) = sweep(db) {
                    tracing::error!("embedded broker: sweeping expired rows failed: {e}");
                }
                next_sweep = Instant::now() + SWEEP_EVERY;
                continue;
            }
            Err(RecvTimeoutError::Disconnected) => return,
        };
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(op) => batch.push(op),
                Err(_) => break,
            }
        }
        commit(db, pending, batch);
    }
}

fn commit(db: &Database, pending: &Pending, batch: Vec<Op>) {
    let mut barriers = Vec::new();
    let mut flushed = HashSet::new();
    let result = db.begin_write().map_err(redb::Error::from).and_then(|txn| {
        apply(&txn, pending, batch, &mut barriers, &mut flushed)?;
        txn.commit()?;
        Ok(())
    });
    let reply = match result {
        Ok(()) => {
            for (table, key, version) in flushed {
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

fn apply(
    txn: &WriteTransaction,
    pending: &Pending,
    batch: Vec<Op>,
    barriers: &mut Vec<oneshot::Sender<Result<(), String>>>,
    flushed: &mut HashSet<(Kv, String, u64)>,
) -> Result<(), redb::Error> {
    let mut messages = txn.open_table(MESSAGES)?;
    let mut kv = Vec::with_capacity(Kv::ALL.len());
    let mut expiry = Vec::with_capacity(Kv::ALL.len());
    for table in Kv::ALL {
        kv.push(txn.open_table(table.table())?);
        expiry.push(match table.expiry() {
            Some(def) => Some(txn.open_table(def)?),
            None => None,
        });
    }
    let mut seen = HashSet::new();
    for op in batch {
        let (table, key, value) = match op {
            Op::PutMessage { key, value } => {
                messages.insert(key, value.as_slice())?;
                continue;
            }
            Op::DeleteMessage { key } => {
                messages.remove(key)?;
                continue;
            }
            Op::Barrier(tx) => {
                barriers.push(tx);
                continue;
            }
            Op::DeleteKv { table, key } => {
                kv[table as usize].remove(key.as_str())?;
                continue;
            }
            Op::PutKv { table, key, value } => (table, key, value),
            Op::Flush { table, key } => {
                // Several flushes of one key in a batch write its latest value once.
                if !seen.insert((table, key.clone())) {
                    continue;
                }
                let Some((version, value)) = pending.snapshot(table, &key) else {
                    continue;
                };
                flushed.insert((table, key.clone(), version));
                (table, key, value.to_vec())
            }
        };
        kv[table as usize].insert(key.as_str(), value.as_slice())?;
        if let Some(index) = expiry[table as usize].as_mut() {
            // Stale index rows of an overwritten key are harmless: the sweep checks the row.
            index.insert((expires_ms(&value), key.as_str()), ())?;
        }
    }
    Ok(())
}

/// Delete rows whose expiry passed, through each table's expiry index.
pub(crate) fn sweep(db: &Database) -> Result<(), redb::Error> {
    let now = now_ms();
    let txn = db.begin_write()?;
    for table in Kv::ALL {
        let Some(def) = table.expiry() else { continue };
        let mut index = txn.open_table(def)?;
        let mut rows = txn.open_table(table.table())?;
        let due: Vec<(u64, String)> = index
            .range(..(now, ""))?
            .take(SWEEP_LIMIT)
            .map(|row| row.map(|(k, _)| (k.value().0, k.value().1.to_owned())))
            .collect::<Result<_, _>>()?;
        for (at, key) in due {
            index.remove((at, key.as_str()))?;
            let expired = rows
                .get(key.as_str())?
                .is_some_and(|v| expires_ms(v.value()) <= now);
            if expired {
                rows.remove(key.as_str())?;
            }
        }
    }
    txn.commit()?;
    Ok(())
}

//! Per-queue counters of the embedded store. Reads come from memory; every change reaches the
//! database as a delta the writer thread adds to the stored row inside its transaction, so a
//! count that rides with a task record ([`Count`]) commits atomically with that record and the
//! stored counters always agree with the stored records, whenever the process dies.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, MutexGuard, PoisonError};

use redb::{Database, ReadableDatabase, ReadableTable};

use super::tables::Kv;

type Values = HashMap<String, BTreeMap<String, i64>>;

/// Counter deltas of one queue that go with a record write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Count {
    pub queue: String,
    pub deltas: Vec<(String, i64)>,
}

impl Count {
    pub fn new(queue: &str, deltas: &[(&str, i64)]) -> Count {
        Count {
            queue: queue.to_owned(),
            deltas: deltas.iter().map(|(n, d)| ((*n).to_owned(), *d)).collect(),
        }
    }

    /// `other`'s deltas added to these (both unapplied, for the same queue's task).
    pub fn merged(mut self, other: Count) -> Count {
        for (name, delta) in other.deltas {
            match self.deltas.iter_mut().find(|(n, _)| *n == name) {
                Some((_, d)) => *d = d.saturating_add(delta),
                None => self.deltas.push((name, delta)),
            }
        }
        self
    }
}

/// The in-memory view of every queue's counters.
#[derive(Debug, Default)]
pub(crate) struct Counters(Mutex<Values>);

/// Counter rows are keyed `queue \0 name`.
pub(crate) fn row_key(queue: &str, name: &str) -> String {
    format!("{queue}\0{name}")
}

fn decode(value: &[u8]) -> i64 {
    value
        .first_chunk::<8>()
        .map_or(0, |b| i64::from_le_bytes(*b))
}

impl Counters {
    fn lock(&self) -> MutexGuard<'_, Values> {
        // Plain map updates: a panic elsewhere cannot leave them half-done.
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The committed counters of `db`.
    pub fn load(db: &Database) -> Result<Counters, redb::Error> {
        let txn = db.begin_read()?;
        let table = txn.open_table(Kv::Counters.table())?;
        let mut values = Values::new();
        for row in table.iter()? {
            let (key, value) = row?;
            let Some((queue, name)) = key.value().split_once('\0') else {
                continue;
            };
            values
                .entry(queue.to_owned())
                .or_default()
                .insert(name.to_owned(), decode(value.value()));
        }
        Ok(Counters(Mutex::new(values)))
    }

    /// Add `count` to the in-memory view.
    pub fn add(&self, count: &Count) {
        let mut values = self.lock();
        let queue = values.entry(count.queue.clone()).or_default();
        for (name, delta) in &count.deltas {
            let value = queue.entry(name.clone()).or_default();
            *value = value.saturating_add(*delta);
        }
    }

    pub fn get(&self, queue: &str) -> BTreeMap<String, i64> {
        self.lock().get(queue).cloned().unwrap_or_default()
    }
}

/// Add `count` to the stored rows (inside the writer's transaction).
pub(crate) fn add_rows(
    table: &mut redb::Table<'_, &'static str, &'static [u8]>,
    count: &Count,
) -> Result<(), redb::Error> {
    for (name, delta) in &count.deltas {
        let key = row_key(&count.queue, name);
        let old = table.get(key.as_str())?.map_or(0, |v| decode(v.value()));
        let new = old.saturating_add(*delta);
        table.insert(key.as_str(), new.to_le_bytes().as_slice())?;
    }
    Ok(())
}

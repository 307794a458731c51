//! The database layout and the pending-write overlay.
//!
//! Tables: `messages` (entry key -> encoded entry, see `codec`), one key/value table per
//! [`Kv`], and for expiring tables an index `(expires_ms, key) -> ()` the sweep walks. Values of
//! expiring tables start with their expiry time (u64, little-endian).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use redb::TableDefinition;

use super::counters::Count;

pub(crate) const MESSAGES: TableDefinition<'static, u64, &[u8]> = TableDefinition::new("messages");

type KvTable = TableDefinition<'static, &'static str, &'static [u8]>;
type ExpiryTable = TableDefinition<'static, (u64, &'static str), ()>;

/// The key/value tables of the state store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Kv {
    Records = 0,
    Dedup = 1,
    Paused = 2,
    Modules = 3,
    Bindings = 4,
    Counters = 5,
    /// API token documents by token id.
    Tokens = 6,
    /// Audit entries keyed by [`audit_key`], so key order is append order.
    Audit = 7,
    /// Task key-value namespaces (`queue \0 key`), see `embedded::kv`.
    Namespaces = 8,
}

impl Kv {
    pub const ALL: [Kv; 9] = [
        Kv::Records,
        Kv::Dedup,
        Kv::Paused,
        Kv::Modules,
        Kv::Bindings,
        Kv::Counters,
        Kv::Tokens,
        Kv::Audit,
        Kv::Namespaces,
    ];

    pub fn table(self) -> KvTable {
        match self {
            Kv::Records => TableDefinition::new("records"),
            Kv::Dedup => TableDefinition::new("dedup"),
            Kv::Paused => TableDefinition::new("paused"),
            Kv::Modules => TableDefinition::new("modules"),
            Kv::Bindings => TableDefinition::new("bindings"),
            Kv::Counters => TableDefinition::new("counters"),
            Kv::Tokens => TableDefinition::new("tokens"),
            Kv::Audit => TableDefinition::new("audit"),
            Kv::Namespaces => TableDefinition::new("task_kv"),
        }
    }

    /// The expiry index of an expiring table.
    pub fn expiry(self) -> Option<ExpiryTable> {
        match self {
            Kv::Records => Some(TableDefinition::new("records_expiry")),
            Kv::Dedup => Some(TableDefinition::new("dedup_expiry")),
            _ => None,
        }
    }
}

/// Whether a stored task record (expiry, then a terminal flag byte, then the record) is
/// terminal.
pub(crate) fn is_terminal_record(value: &[u8]) -> bool {
    value.get(8) == Some(&TERMINAL)
}

/// The byte after a record's expiry: what kind of record follows.
pub(crate) const NOT_TERMINAL: u8 = 0;
pub(crate) const TERMINAL: u8 = 1;
/// A progress mark (`running`): not terminal, and never stored over a terminal record.
pub(crate) const PROGRESS: u8 = 2;

/// Whether `value` is a progress mark (see [`PROGRESS`]).
pub(crate) fn is_progress_record(value: &[u8]) -> bool {
    value.get(8) == Some(&PROGRESS)
}

/// Key of an audit entry: append time, then a sequence number for entries of the same
/// millisecond, both fixed-width hex so the table's key order is the append order.
pub(crate) fn audit_key(now_ms: u64, seq: u64) -> String {
    format!("{now_ms:016x}{seq:016x}")
}

/// The expiry time at the start of a value of an expiring table (0 if the value is too short,
/// which reads as expired).
pub(crate) fn expires_ms(value: &[u8]) -> u64 {
    value
        .first_chunk::<8>()
        .map_or(0, |head| u64::from_le_bytes(*head))
}

/// Whether `value` is a plain non-terminal record (`queued`, `delayed`): written over an ending,
/// it starts the task afresh (a replayed dead letter), so what follows it counts again.
fn is_plain_record(value: &[u8]) -> bool {
    value.get(8) == Some(&NOT_TERMINAL)
}

/// A pending value and the counts that ride with it.
#[derive(Debug)]
struct Slot {
    version: u64,
    value: Arc<[u8]>,
    /// Counts set before any reset in this slot: they apply only if the committed record has not
    /// ended (a rerun after a crash is counted once).
    guarded: Option<Count>,
    /// Counts set after a reset in this slot: the committed record no longer decides for them.
    after_reset: Option<Count>,
    /// A plain record was set over whatever is committed since the writer last took this key.
    reset: bool,
}

/// What the writer takes of a pending key (see [`Pending::take`]).
#[derive(Debug)]
pub(crate) struct Taken {
    pub version: u64,
    pub value: Arc<[u8]>,
    pub guarded: Option<Count>,
    pub after_reset: Option<Count>,
    pub reset: bool,
}

/// Values written but maybe not committed yet, so readers see their own writes while the writer
/// commits lazily. The writer removes an entry once it committed that version of it.
#[derive(Debug, Default)]
pub(crate) struct Pending {
    map: Mutex<HashMap<(Kv, String), Slot>>,
    version: AtomicU64,
}

impl Pending {
    fn lock(&self) -> MutexGuard<'_, HashMap<(Kv, String), Slot>> {
        // Plain inserts and removes: a panic cannot leave the map half-updated.
        self.map.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub fn set(&self, table: Kv, key: &str, value: Vec<u8>) {
        self.set_counted(table, key, value, None);
    }

    /// Set `key`, with `count` to apply when the writer stores it (see [`Pending::take`]). The
    /// writes of one key between two commits collapse into one, so what each would have found
    /// stored is kept here: a count of an earlier value not taken yet still applies (once: a
    /// second ending of a task whose ending is pending keeps only the first count), and a count
    /// that follows a plain record (a replay's `queued` over an ending) applies whatever ending
    /// is committed.
    pub fn set_counted(&self, table: Kv, key: &str, value: Vec<u8>, count: Option<Count>) {
        let version = self.version.fetch_add(1, Ordering::Relaxed);
        Self::set_locked(&mut self.lock(), version, table, key, value, count);
    }

    fn set_locked(
        map: &mut HashMap<(Kv, String), Slot>,
        version: u64,
        table: Kv,
        key: &str,
        value: Vec<u8>,
        count: Option<Count>,
    ) {
        let plain = is_plain_record(&value);
        let Some(slot) = map.get_mut(&(table, key.to_owned())) else {
            let slot = Slot {
                version,
                value: value.into(),
                guarded: count,
                after_reset: None,
                reset: plain,
            };
            map.insert((table, key.to_owned()), slot);
            return;
        };
        let ended = is_terminal_record(&slot.value);
        if ended && is_progress_record(&value) {
            // A progress mark never replaces an ending (see `PROGRESS`).
            return;
        }
        if let Some(new) = count {
            if ended {
                if slot.guarded.is_none() && slot.after_reset.is_none() {
                    slot.guarded = Some(new);
                }
            } else {
                let into = if slot.reset {
                    &mut slot.after_reset
                } else {
                    &mut slot.guarded
                };
                *into = Some(match into.take() {
                    Some(old) => old.merged(new),
                    None => new,
                });
            }
        }
        slot.reset |= plain;
        slot.version = version;
        slot.value = value.into();
    }

    /// [`Pending::set`] for many keys under one lock; the keys, for the writer.
    pub fn set_many<'a>(
        &self,
        table: Kv,
        values: impl Iterator<Item = (&'a str, Vec<u8>)>,
    ) -> Vec<String> {
        let mut map = self.lock();
        values
            .map(|(key, value)| {
                let version = self.version.fetch_add(1, Ordering::Relaxed);
                Self::set_locked(&mut map, version, table, key, value, None);
                key.to_owned()
            })
            .collect()
    }

    pub fn get(&self, table: Kv, key: &str) -> Option<Arc<[u8]>> {
        self.lock()
            .get(&(table, key.to_owned()))
            .map(|slot| Arc::clone(&slot.value))
    }

    /// The value to write now, its version, and its counts, which the caller now owns (they are
    /// applied in the same transaction as the value, so they are taken out here, exactly once).
    pub fn take(&self, table: Kv, key: &str) -> Option<Taken> {
        let mut map = self.lock();
        let slot = map.get_mut(&(table, key.to_owned()))?;
        Some(Taken {
            version: slot.version,
            value: Arc::clone(&slot.value),
            guarded: slot.guarded.take(),
            after_reset: slot.after_reset.take(),
            reset: std::mem::take(&mut slot.reset),
        })
    }

    /// `version` of `key` is committed: forget it unless a newer one was set meanwhile.
    pub fn committed(&self, table: Kv, key: &str, version: u64) {
        let mut map = self.lock();
        let k = (table, key.to_owned());
        if map.get(&k).is_some_and(|slot| slot.version == version) {
            map.remove(&k);
        }
    }
}

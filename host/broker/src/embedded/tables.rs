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

/// Pending values by table and key: (version, value, counts to apply with it).
type PendingMap = HashMap<(Kv, String), (u64, Arc<[u8]>, Option<Count>)>;

/// Values written but maybe not committed yet, so readers see their own writes while the writer
/// commits lazily. The writer removes an entry once it committed that version of it.
#[derive(Debug, Default)]
pub(crate) struct Pending {
    map: Mutex<PendingMap>,
    version: AtomicU64,
}

impl Pending {
    fn lock(&self) -> MutexGuard<'_, PendingMap> {
        // Plain inserts and removes: a panic cannot leave the map half-updated.
        self.map.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub fn set(&self, table: Kv, key: &str, value: Vec<u8>) {
        self.set_counted(table, key, value, None);
    }

    /// Set `key`, with `count` to apply when the writer stores it (see [`Pending::take`]). A
    /// count of an earlier value not taken by the writer yet is carried over: it still applies
    /// (once; a second terminal value of a task already counted keeps only the first count).
    pub fn set_counted(&self, table: Kv, key: &str, value: Vec<u8>, count: Option<Count>) {
        let version = self.version.fetch_add(1, Ordering::Relaxed);
        let mut map = self.lock();
        let slot = (table, key.to_owned());
        if is_progress_record(&value)
            && map
                .get(&slot)
                .is_some_and(|(_, pending, _)| is_terminal_record(pending))
        {
            // A progress mark never replaces an ending (see `PROGRESS`).
            return;
        }
        let count = match (map.remove(&slot), count) {
            (Some((_, old_value, Some(old))), new) if is_terminal_record(&old_value) => {
                Some(old).or(new)
            }
            (Some((_, _, Some(old))), Some(new)) => Some(old.merged(new)),
            (Some((_, _, old)), new) => old.or(new),
            (None, new) => new,
        };
        map.insert(slot, (version, value.into(), count));
    }

    pub fn get(&self, table: Kv, key: &str) -> Option<Arc<[u8]>> {
        self.lock()
            .get(&(table, key.to_owned()))
            .map(|(_, value, _)| Arc::clone(value))
    }

    /// The value to write now, its version, and its count, which the caller now owns (it is
    /// applied in the same transaction as the value, so it is taken out here, exactly once).
    pub fn take(&self, table: Kv, key: &str) -> Option<(u64, Arc<[u8]>, Option<Count>)> {
        let mut map = self.lock();
        let (version, value, count) = map.get_mut(&(table, key.to_owned()))?;
        Some((*version, Arc::clone(value), count.take()))
    }

    /// `version` of `key` is committed: forget it unless a newer one was set meanwhile.
    pub fn committed(&self, table: Kv, key: &str, version: u64) {
        let mut map = self.lock();
        let k = (table, key.to_owned());
        if map.get(&k).is_some_and(|(v, _, _)| *v == version) {
            map.remove(&k);
        }
    }
}

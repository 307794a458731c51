//! The embedded durable broker (the default) and its state store, in one data directory.
//!
//! One redb database holds the queues and the state; one writer thread batches every write into
//! one transaction and one fsync (group commit). Publishes, retries, requeues and dead-letters are
//! durable before they return (and deliverable as soon as they are queued for the writer, see
//! `engine::publish`); acks, task records, dedup marks and counters are committed with the
//! next batch (a record's counts in the same transaction as the record) (a lost ack is only a redelivery, which at-least-once allows). The queue index lives
//! in memory (shared `engine`) and is rebuilt at open: leases do not survive, so after a crash
//! every message that was not acked is delivered again. A lock file keeps a second process out.
//!
//! Why redb (measured with `cargo bench -p wasmboost-broker --bench engines`, 2 loaded cores):
//! a hand-written append-only log writes up to twice as fast raw (both are bound by one fsync
//! per batch), but redb through this broker does 41–63k publishes/s from one publisher, 75–118k/s
//! from four (group commit merges their batches) and 64–111k fetch+ack/s on this loaded machine,
//! while giving crash-safe transactions, checksums and the ordered tables the state
//! store and the expiry sweep need, with no compaction or torn-tail recovery code of our own.
//!
//! - `tables`: layout and the pending-write overlay; `codec`: stored entries; `writer`: the
//!   group-commit thread; `store`: [`EmbeddedStore`]; `counters`: per-queue counters, committed
//!   with the task records they count; `kv`: task key-value namespaces, durable before they
//!   answer.

mod codec;
mod counters;
mod kv;
mod store;
mod tables;
mod writer;

use std::fs::{File, OpenOptions};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc::{self, Sender};
use std::thread::JoinHandle;
use std::time::Duration;

use redb::{Database, ReadableDatabase, ReadableTable};
use tokio::sync::oneshot;

use crate::engine::{Engine, Journal};
use crate::error::BrokerError;
use crate::index::Entry;
use crate::local::LocalBroker;
use counters::Counters;
use tables::{Kv, MESSAGES, Pending};
use writer::Op;

pub use store::EmbeddedStore;

/// File names inside the data directory.
const DB_FILE: &str = "wasmboost.redb";
const LOCK_FILE: &str = "wasmboost.lock";
/// redb page cache; the hot set is small (the queue index is in memory).
const CACHE_BYTES: usize = 64 << 20;

/// What the broker and the store share. Field order is drop order: the writer finishes and is
/// joined before the database closes, and the directory lock goes last.
#[derive(Debug)]
pub(crate) struct Shared {
    writer: WriterHandle,
    pub(crate) db: Arc<Database>,
    pub(crate) pending: Arc<Pending>,
    dir: PathBuf,
    _lock: File,
}

#[derive(Debug)]
struct WriterHandle {
    tx: Option<Sender<Op>>,
    thread: Option<JoinHandle<()>>,
}

impl WriterHandle {
    fn start(
        db: &Arc<Database>,
        pending: &Arc<Pending>,
        counters: &Arc<Counters>,
        fsync_interval: Option<Duration>,
        sweep_first: bool,
    ) -> std::io::Result<Self> {
        let (tx, rx) = mpsc::channel();
        let (db, pending) = (Arc::clone(db), Arc::clone(pending));
        let counters = Arc::clone(counters);
        let thread = std::thread::Builder::new()
            .name("wasmboost-embedded-writer".to_owned())
            .spawn(move || {
                writer::run(&db, &pending, &counters, &rx, fsync_interval, sweep_first);
            })?;
        Ok(WriterHandle {
            tx: Some(tx),
            thread: Some(thread),
        })
    }
}

impl Drop for WriterHandle {
    fn drop(&mut self) {
        // Closing the channel lets the writer commit what is queued and stop.
        self.tx.take();
        if let Some(thread) = self.thread.take()
            && thread.join().is_err()
        {
            tracing::error!("embedded broker: the writer thread panicked");
        }
    }
}

impl Shared {
    /// Queue a write. If the writer is gone the next barrier reports it.
    pub(crate) fn send(&self, op: Op) {
        if let Some(tx) = &self.writer.tx {
            let _ = tx.send(op);
        }
    }

    /// Resolves once every write queued before it is committed and fsynced.
    pub(crate) async fn barrier(&self) -> Result<(), String> {
        let (tx, rx) = oneshot::channel();
        self.send(Op::Barrier(tx));
        match rx.await {
            Ok(result) => result,
            Err(_) => Err(format!(
                "the embedded database writer for {} stopped",
                self.dir.display()
            )),
        }
    }
}

/// How the embedded broker trades durability for latency.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EmbeddedOptions {
    /// `None` (the default): every commit is fsynced before the writes in it return, so a
    /// published message survives `kill -9` and power loss; a lone publish costs one fsync.
    /// `Some(d)`: commits are fsynced at most every `d` (and when the writer is idle or stops).
    /// Publishes return sooner, but a crash (even `kill -9`) rolls the data directory back to
    /// the last fsync: up to `d` of publishes are lost and acks redone. Opt-in only.
    pub fsync_interval: Option<Duration>,
}

/// Open (or create) the data directory `dir` with the default (fully durable) options: the
/// broker and the state store over one database. Fails if another process holds the directory.
pub fn open(
    dir: impl AsRef<Path>,
) -> Result<(Arc<EmbeddedBroker>, Arc<EmbeddedStore>), BrokerError> {
    open_with(dir, EmbeddedOptions::default())
}

/// [`open`] with explicit options.
pub fn open_with(
    dir: impl AsRef<Path>,
    options: EmbeddedOptions,
) -> Result<(Arc<EmbeddedBroker>, Arc<EmbeddedStore>), BrokerError> {
    let dir = dir.as_ref();
    let io = |what: &str, e: &dyn std::fmt::Display| {
        BrokerError::Backend(format!("{what} {}: {e}", dir.display()))
    };
    private_dir(dir).map_err(|e| io("cannot create data directory", &e))?;
    let lock = lock_dir(dir)?;
    let db_path = dir.join(DB_FILE);
    private_file(&db_path).map_err(|e| io("cannot create the database file in", &e))?;
    let db = Database::builder()
        .set_cache_size(CACHE_BYTES)
        .create(&db_path)
        .map_err(|e| io("cannot open the database in", &e))?;
    create_tables(&db).map_err(|e| io("cannot prepare the database in", &e))?;
    // Rows past the sweep's limit go in the writer's first sweep, due as soon as it starts.
    let more = writer::sweep(&db).map_err(|e| io("cannot sweep expired rows in", &e))?;
    let (entries, next_seq) = load_messages(&db)?;
    let counters = Counters::load(&db).map_err(|e| io("cannot read counters in", &e))?;
    let counters = Arc::new(counters);
    let db = Arc::new(db);
    let pending = Arc::new(Pending::default());
    let writer = WriterHandle::start(&db, &pending, &counters, options.fsync_interval, more)
        .map_err(|e| io("cannot start the writer thread for", &e))?;
    let shared = Arc::new(Shared {
        writer,
        db,
        pending,
        dir: dir.to_owned(),
        _lock: lock,
    });
    let journal = RedbJournal {
        shared: Arc::clone(&shared),
    };
    let broker = LocalBroker::new_local("embedded", Engine::new(journal, entries, next_seq));
    Ok((
        Arc::new(broker),
        Arc::new(EmbeddedStore::new(shared, counters)),
    ))
}

/// Creates `dir` (and every missing parent, such as the host's data directory) `0700`, and
/// tightens an existing `dir` to `0700`, whatever the umask: queued messages, results and
/// module blobs are nobody else's to read.
pub fn private_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
}

/// Creates `path` empty with mode `0600` if missing (redb then initializes it), and tightens an
/// existing file to `0600`: redb itself would create it with the process umask.
fn private_file(path: &Path) -> std::io::Result<()> {
    OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(0o600)
        .open(path)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
}

fn lock_dir(dir: &Path) -> Result<File, BrokerError> {
    let path = dir.join(LOCK_FILE);
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(0o600)
        .open(&path)
        .map_err(|e| {
            BrokerError::Backend(format!("cannot open lock file {}: {e}", path.display()))
        })?;
    file.try_lock().map_err(|e| {
        BrokerError::Backend(format!(
            "data directory {} is in use by another wasmboost host (lock file {} is held: {e})",
            dir.display(),
            path.display()
        ))
    })?;
    Ok(file)
}

fn create_tables(db: &Database) -> Result<(), redb::Error> {
    let txn = db.begin_write()?;
    txn.open_table(MESSAGES)?;
    for table in Kv::ALL {
        txn.open_table(table.table())?;
        if let Some(def) = table.expiry() {
            txn.open_table(def)?;
        }
    }
    txn.commit()?;
    Ok(())
}

type Loaded = (Vec<(String, u64, Entry)>, u64);

/// Every stored message, for the in-memory index, and the first unused sequence number.
fn load_messages(db: &Database) -> Result<Loaded, BrokerError> {
    let backend =
        |e: redb::Error| BrokerError::Backend(format!("cannot read stored messages: {e}"));
    let txn = db.begin_read().map_err(|e| backend(e.into()))?;
    let table = txn.open_table(MESSAGES).map_err(|e| backend(e.into()))?;
    let mut entries = Vec::new();
    let mut next_seq = 1;
    for row in table.iter().map_err(|e| backend(e.into()))? {
        let (key, value) = row.map_err(|e| backend(e.into()))?;
        let key = key.value();
        match codec::decode(key, value.value()) {
            Ok(entry) => {
                next_seq = next_seq.max(key + 1).max(entry.order + 1);
                entries.push((entry.message.queue.clone(), key, entry));
            }
            // One unreadable row must not keep the host from starting; say so loudly.
            Err(e) => tracing::error!("embedded broker: skipping a stored message: {e}"),
        }
    }
    Ok((entries, next_seq))
}

/// The engine's journal: every change becomes an operation for the writer thread.
#[derive(Debug)]
pub struct RedbJournal {
    shared: Arc<Shared>,
}

impl Journal for RedbJournal {
    fn put(&self, _queue: &str, key: u64, entry: &Entry) {
        let value = codec::encode(entry);
        self.shared.send(Op::PutMessage { key, value });
    }

    fn put_many(&self, _queue: &str, entries: &[(u64, Entry)]) {
        // One buffer and one operation per publish: no allocation per message.
        let mut buf = Vec::with_capacity(entries.len() * 160);
        let rows = entries
            .iter()
            .map(|(key, entry)| {
                codec::encode_into(entry, &mut buf);
                (*key, buf.len())
            })
            .collect();
        self.shared.send(Op::PutMessages { rows, buf });
    }

    fn delete(&self, key: u64) {
        self.shared.send(Op::DeleteMessage { key });
    }

    async fn sync(&self) -> Result<(), BrokerError> {
        self.shared.barrier().await.map_err(BrokerError::Backend)
    }
}

/// The durable broker over a data directory; see [`open`].
pub type EmbeddedBroker = LocalBroker<RedbJournal>;

#[cfg(test)]
mod tests;

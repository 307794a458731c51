//! Group-written task records. Each `put_record` waits for its own write, but writes that arrive
//! while one pipeline is in flight go out together in the next (`SET .. PX` per record, then a
//! `PUBLISH` for each terminal one), so a busy host stores thousands of records per round trip
//! and one syscall instead of one each, while a lone write still takes one round trip.

use bytes::Bytes;
use redis::aio::ConnectionManager;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use wasmboost_broker::StateError;

use crate::error::is_transient;
use crate::scripts::{RECORD, RECORD_LUA};
use crate::store::TERMINAL;

/// Most records in one pipeline.
const MAX_BATCH: usize = 2048;

/// One record to store.
pub(crate) struct RecordWrite {
    pub(crate) key: String,
    /// The stored value (state byte + record).
    pub(crate) value: Vec<u8>,
    pub(crate) ttl_ms: u64,
    /// For a terminal record: the channel to wake waiters on, and what to send them.
    pub(crate) publish: Option<(String, Bytes)>,
    /// A plain `SET`, or through the `RECORD` script (counted, or a progress mark).
    pub(crate) mode: WriteMode,
}

/// How a record is written.
pub(crate) enum WriteMode {
    /// `SET`, whatever is stored.
    Plain,
    /// And add these deltas to the counters hash, unless the stored record has ended.
    Counted {
        counters: String,
        deltas: Vec<(String, i64)>,
    },
    /// Unless the stored record has ended.
    Progress,
}

struct Request {
    write: RecordWrite,
    done: oneshot::Sender<Result<(), StateError>>,
}

#[derive(Debug)]
pub(crate) struct RecordWriter {
    requests: mpsc::UnboundedSender<Request>,
    task: JoinHandle<()>,
}

impl RecordWriter {
    pub(crate) fn spawn(manager: ConnectionManager) -> Self {
        let (requests, rx) = mpsc::unbounded_channel();
        let task = tokio::spawn(run(manager, rx));
        RecordWriter { requests, task }
    }

    /// Store `write`; returns once Redis has it (and its waiters were published to).
    pub(crate) async fn write(&self, write: RecordWrite) -> Result<(), StateError> {
        let (done, rx) = oneshot::channel();
        self.requests
            .send(Request { write, done })
            .map_err(|_| StateError::Closed)?;
        rx.await.map_err(|_| StateError::Closed)?
    }
}

impl Drop for RecordWriter {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn run(mut manager: ConnectionManager, mut rx: mpsc::UnboundedReceiver<Request>) {
    while let Some(batch) = crate::batch::next(&mut rx, MAX_BATCH).await {
        flush(&mut manager, batch).await;
    }
}

async fn flush(manager: &mut ConnectionManager, batch: Vec<Request>) {
    let mut pipe = redis::pipe();
    // Loaded first in the same pipeline, so its EVALSHAs below find it even right after a
    // server restart emptied the script cache.
    if batch
        .iter()
        .any(|r| !matches!(r.write.mode, WriteMode::Plain))
    {
        pipe.cmd("SCRIPT").arg("LOAD").arg(RECORD_LUA).ignore();
    }
    for Request { write, .. } in &batch {
        match &write.mode {
            WriteMode::Plain => {
                pipe.cmd("SET")
                    .arg(&write.key)
                    .arg(&write.value)
                    .arg("PX")
                    .arg(write.ttl_ms)
                    .ignore();
            }
            WriteMode::Counted { counters, deltas } => {
                script(&mut pipe, write, counters, "count");
                for (name, delta) in deltas {
                    pipe.arg(name).arg(*delta);
                }
                pipe.ignore();
            }
            WriteMode::Progress => {
                script(&mut pipe, write, &write.key, "progress");
                pipe.ignore();
            }
        }
        // After its SET in the same pipeline: a woken waiter may read the key at once.
        if let Some((channel, record)) = &write.publish {
            pipe.cmd("PUBLISH")
                .arg(channel)
                .arg(record.as_ref())
                .ignore();
        }
    }
    let result = pipe.query_async::<()>(manager).await;
    for request in batch {
        let outcome = match &result {
            Ok(()) => Ok(()),
            Err(e) if is_transient(e) => Err(StateError::Unavailable(format!("redis: {e}"))),
            Err(e) => Err(StateError::Backend(format!("redis: {e}"))),
        };
        // The caller may have given up waiting; the write happened (or failed) anyway.
        let _ = request.done.send(outcome);
    }
}

/// `EVALSHA` of the record script for `write`, its counter pairs still to be appended.
fn script(pipe: &mut redis::Pipeline, write: &RecordWrite, counters: &str, mode: &str) {
    pipe.cmd("EVALSHA")
        .arg(RECORD.get_hash())
        .arg(2)
        .arg(&write.key)
        .arg(counters)
        .arg(&write.value)
        .arg(write.ttl_ms)
        .arg(TERMINAL)
        .arg(mode);
}

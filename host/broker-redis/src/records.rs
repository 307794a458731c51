//! Group-written task records. Each `put_record` waits for its own write, but writes that arrive
//! while one pipeline is in flight go out together in the next (`SET .. PX` per record, then a
//! `PUBLISH` for each terminal one), so a busy host stores thousands of records per round trip
//! and one syscall instead of one each, while a lone write still takes one round trip.
//!
//! On a Redis Cluster a pipeline must stay within one slot, and a record, its channel and its
//! queue's counters are in three: each record is written on its own, by its caller (no writer
//! task: a publish's `queued` record must reach the connection before the publish does, as one
//! server's shared pipeline ensures, or a fast worker's ending could be overwritten by it), its
//! count first, in its queue's slot, through `count.lua` (see there), then the record, then
//! the `PUBLISH`. A crash between the steps leaves the count without the record; writing the
//! record again (the worker retries a failed write) does not count an ending twice.

use bytes::Bytes;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use wasmboost_broker::StateError;

use crate::error::is_transient;
use crate::handle::Handle;
use crate::scripts::{COUNT, RECORD, RECORD_LUA};
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
        /// On a cluster: the task's ended mark in the queue's slot (`Keys::ended`).
        ended: Option<String>,
    },
    /// Unless the stored record has ended.
    Progress,
}

struct Request {
    write: RecordWrite,
    done: oneshot::Sender<Result<(), StateError>>,
}

pub(crate) struct RecordWriter {
    requests: mpsc::UnboundedSender<Request>,
    task: JoinHandle<()>,
    /// On a cluster: the connection each caller writes through itself.
    direct: Option<Handle>,
}

impl std::fmt::Debug for RecordWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecordWriter")
            .field("direct", &self.direct.is_some())
            .finish_non_exhaustive()
    }
}

impl RecordWriter {
    pub(crate) fn spawn(manager: Handle, cluster: bool) -> Self {
        let (requests, rx) = mpsc::unbounded_channel();
        let direct = cluster.then(|| manager.clone());
        let task = tokio::spawn(run(manager, rx));
        RecordWriter {
            requests,
            task,
            direct,
        }
    }

    /// Store `write`; returns once Redis has it (and its waiters were published to).
    pub(crate) async fn write(&self, write: RecordWrite) -> Result<(), StateError> {
        if let Some(con) = &self.direct {
            return outcome(&write_one(&mut con.clone(), &write).await);
        }
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

async fn run(mut manager: Handle, mut rx: mpsc::UnboundedReceiver<Request>) {
    while let Some(batch) = crate::batch::next(&mut rx, MAX_BATCH).await {
        flush(&mut manager, batch).await;
    }
}

fn outcome(result: &redis::RedisResult<()>) -> Result<(), StateError> {
    match result {
        Ok(()) => Ok(()),
        Err(e) if is_transient(e) => Err(StateError::Unavailable(format!("redis: {e}"))),
        Err(e) => Err(StateError::Backend(format!("redis: {e}"))),
    }
}

async fn flush(manager: &mut Handle, batch: Vec<Request>) {
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
            WriteMode::Counted {
                counters, deltas, ..
            } => {
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
        // The caller may have given up waiting; the write happened (or failed) anyway.
        let _ = request.done.send(outcome(&result));
    }
}

/// On a cluster: one record, step by step (see the module doc).
async fn write_one(con: &mut Handle, write: &RecordWrite) -> redis::RedisResult<()> {
    match &write.mode {
        WriteMode::Progress => {
            RECORD
                .key(&write.key)
                .key(&write.key)
                .arg(&write.value)
                .arg(write.ttl_ms)
                .arg(TERMINAL)
                .arg("progress")
                .invoke_async::<()>(con)
                .await?;
        }
        WriteMode::Counted {
            counters,
            deltas,
            ended,
        } => {
            let terminal = write.value.first() == Some(&TERMINAL);
            let Some(ended) = ended else {
                return Err(redis::RedisError::from((
                    redis::ErrorKind::Client,
                    "a counted record on a cluster needs its ended mark",
                )));
            };
            let mut count = COUNT.key(counters);
            count
                .key(ended)
                .arg(if terminal { "1" } else { "0" })
                .arg(write.ttl_ms);
            for (name, delta) in deltas {
                count.arg(name).arg(*delta);
            }
            count.invoke_async::<()>(con).await?;
            set(con, write).await?;
        }
        WriteMode::Plain => set(con, write).await?,
    }
    if let Some((channel, record)) = &write.publish {
        redis::cmd("PUBLISH")
            .arg(channel)
            .arg(record.as_ref())
            .query_async::<()>(con)
            .await?;
    }
    Ok(())
}

async fn set(con: &mut Handle, write: &RecordWrite) -> redis::RedisResult<()> {
    redis::cmd("SET")
        .arg(&write.key)
        .arg(&write.value)
        .arg("PX")
        .arg(write.ttl_ms)
        .query_async(con)
        .await
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

//! Group-written task records. Each `put_record` waits for its own write, but writes that arrive
//! while one pipeline is in flight go out together in the next (`SET .. PX` per record, then a
//! `PUBLISH` for each terminal one), so a busy host stores thousands of records per round trip
//! and one syscall instead of one each, while a lone write still takes one round trip.
//!
//! With `wait_replicas` set, a record counts as stored only once that many replicas hold it
//! (`WAIT` in the same round trip, as a publish does). The worker settles a delivery only after
//! its ending record is stored, so a master that dies before replicating the record cannot take
//! it down with it while the settle, sent later, reaches the promoted replica: a write that no
//! replica confirmed fails as unavailable, is retried, and the delivery stays unsettled until
//! then (`tests/all/redis_ha/sentinel.rs`).
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

/// Replicas a record write waits for (`wait_replicas`) and for how long; `None`: no wait.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Durable {
    pub(crate) replicas: u32,
    pub(crate) timeout_ms: u64,
}

impl Durable {
    /// From the config: `None` when `wait_replicas` is 0.
    pub(crate) fn of(config: &crate::config::RedisConfig) -> Option<Durable> {
        (config.wait_replicas > 0).then_some(Durable {
            replicas: config.wait_replicas,
            timeout_ms: config.wait_timeout_ms,
        })
    }

    /// Append `WAIT` to `pipe` (its reply is the pipeline's only one).
    fn append(self, pipe: &mut redis::Pipeline) {
        pipe.cmd("WAIT").arg(self.replicas).arg(self.timeout_ms);
    }

    /// Whether `reached` replicas are enough.
    fn check(self, reached: u32) -> Result<(), StateError> {
        if reached >= self.replicas {
            return Ok(());
        }
        Err(StateError::Unavailable(format!(
            "redis: a task record reached {reached} of {} replicas in {} ms (wait_replicas)",
            self.replicas, self.timeout_ms
        )))
    }
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
    durable: Option<Durable>,
}

impl std::fmt::Debug for RecordWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecordWriter")
            .field("direct", &self.direct.is_some())
            .finish_non_exhaustive()
    }
}

impl RecordWriter {
    pub(crate) fn spawn(manager: Handle, cluster: bool, durable: Option<Durable>) -> Self {
        let (requests, rx) = mpsc::unbounded_channel();
        let direct = cluster.then(|| manager.clone());
        let task = tokio::spawn(run(manager, durable, rx));
        RecordWriter {
            requests,
            task,
            direct,
            durable,
        }
    }

    /// Store `write`; returns once Redis has it (and `wait_replicas` replicas too), and its
    /// waiters were published to.
    pub(crate) async fn write(&self, write: RecordWrite) -> Result<(), StateError> {
        if let Some(con) = &self.direct {
            return outcome(
                &write_one(&mut con.clone(), &write, self.durable).await,
                self.durable,
            );
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

async fn run(
    mut manager: Handle,
    durable: Option<Durable>,
    mut rx: mpsc::UnboundedReceiver<Request>,
) {
    while let Some(batch) = crate::batch::next(&mut rx, MAX_BATCH).await {
        flush(&mut manager, durable, batch).await;
    }
}

/// A write's result: the replicas `WAIT` reported (unused without `durable`).
fn outcome(result: &redis::RedisResult<u32>, durable: Option<Durable>) -> Result<(), StateError> {
    match (result, durable) {
        (Ok(_), None) => Ok(()),
        (Ok(reached), Some(durable)) => durable.check(*reached),
        (Err(e), _) if is_transient(e) => Err(StateError::Unavailable(format!("redis: {e}"))),
        (Err(e), _) => Err(StateError::Backend(format!("redis: {e}"))),
    }
}

/// Send `pipe`; with `durable`, `WAIT` last in the same round trip, its count returned.
async fn send(
    manager: &mut Handle,
    mut pipe: redis::Pipeline,
    durable: Option<Durable>,
) -> redis::RedisResult<u32> {
    let Some(durable) = durable else {
        return pipe.query_async::<()>(manager).await.map(|()| 0);
    };
    durable.append(&mut pipe);
    let (reached,): (u32,) = pipe.query_async(manager).await?;
    Ok(reached)
}

async fn flush(manager: &mut Handle, durable: Option<Durable>, batch: Vec<Request>) {
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
    let result = send(manager, pipe, durable).await;
    for request in batch {
        // The caller may have given up waiting; the write happened (or failed) anyway.
        let _ = request.done.send(outcome(&result, durable));
    }
}

/// On a cluster: one record, step by step (see the module doc); `WAIT` goes with the last
/// write, in the record's slot (the counters, in the queue's, are not waited for).
async fn write_one(
    con: &mut Handle,
    write: &RecordWrite,
    durable: Option<Durable>,
) -> redis::RedisResult<u32> {
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
    let Some(durable) = durable else {
        return Ok(0);
    };
    // A keyed command first routes the `WAIT` to the record's node, whose connection it
    // then covers.
    let mut pipe = redis::pipe();
    pipe.cmd("EXISTS").arg(&write.key).ignore();
    durable.append(&mut pipe);
    let (reached,): (u32,) = pipe.query_async(con).await?;
    Ok(reached)
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

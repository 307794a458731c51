//! Group-committed acks. Each `ack` waits for its own `XACK`, but acks that arrive while a flush
//! is in flight are sent together in the next one (one script call per stream: `XACK` of the
//! batch, then trim what is settled), so a busy host acks thousands of messages per round trip
//! while a lone ack still takes one. On a Redis Cluster, where a pipeline stays within one
//! slot, each stream's script goes in its own pipeline, all of a flush at once.

use std::collections::BTreeMap;

use futures::future::try_join_all;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use wasmboost_broker::BrokerError;

use crate::error::is_transient;
use crate::handle::Handle;
use crate::scripts::ACK;

/// Most acks in one flush: bounds the size of one MULTI.
const MAX_BATCH: usize = 4096;

struct AckRequest {
    stream: String,
    entry_id: String,
    done: oneshot::Sender<Result<(), BrokerError>>,
}

#[derive(Debug)]
pub(crate) struct Acker {
    requests: mpsc::UnboundedSender<AckRequest>,
    task: JoinHandle<()>,
}

impl Acker {
    pub(crate) fn spawn(manager: Handle, group: String, cluster: bool) -> Self {
        let (requests, rx) = mpsc::unbounded_channel();
        let task = tokio::spawn(run(manager, group, cluster, rx));
        Acker { requests, task }
    }

    /// Ack and delete `entry_id` of `stream`; returns once Redis has done it.
    pub(crate) async fn ack(&self, stream: String, entry_id: String) -> Result<(), BrokerError> {
        let (done, rx) = oneshot::channel();
        let request = AckRequest {
            stream,
            entry_id,
            done,
        };
        self.requests
            .send(request)
            .map_err(|_| BrokerError::Closed)?;
        rx.await.map_err(|_| BrokerError::Closed)?
    }
}

impl Drop for Acker {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn run(
    mut manager: Handle,
    group: String,
    cluster: bool,
    mut rx: mpsc::UnboundedReceiver<AckRequest>,
) {
    while let Some(batch) = crate::batch::next(&mut rx, MAX_BATCH).await {
        flush(&mut manager, &group, cluster, batch).await;
    }
}

async fn flush(manager: &mut Handle, group: &str, cluster: bool, batch: Vec<AckRequest>) {
    let mut by_stream: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for r in &batch {
        by_stream.entry(&r.stream).or_default().push(&r.entry_id);
    }
    let mut result = send(manager, group, &by_stream, false, cluster).await;
    // A restarted server forgot the script: load it and send the batch once more (acking an
    // entry twice is harmless).
    if result
        .as_ref()
        .is_err_and(|e| e.kind() == redis::ErrorKind::Server(redis::ServerErrorKind::NoScript))
    {
        result = send(manager, group, &by_stream, true, cluster).await;
    }
    for r in batch {
        let outcome = match &result {
            Ok(()) => Ok(()),
            Err(e) if is_transient(e) => Err(BrokerError::Unavailable(format!("redis: {e}"))),
            Err(e) => Err(BrokerError::Backend(format!("redis: {e}"))),
        };
        // The caller may have given up waiting; its ack happened anyway.
        let _ = r.done.send(outcome);
    }
}

/// One round trip: the ack script per stream (`EVALSHA`), preceded by `SCRIPT LOAD` when
/// `load` (sending the script text with every flush would cost Redis a hash of it each time).
async fn send(
    manager: &mut Handle,
    group: &str,
    by_stream: &BTreeMap<&str, Vec<&str>>,
    load: bool,
    cluster: bool,
) -> redis::RedisResult<()> {
    if cluster {
        let sends = by_stream.iter().map(|(stream, ids)| {
            let mut con = manager.clone();
            let pipe = ack_pipeline([(stream, ids)], group, load);
            async move { pipe.query_async::<()>(&mut con).await }
        });
        return try_join_all(sends).await.map(drop);
    }
    ack_pipeline(by_stream, group, load)
        .query_async(manager)
        .await
}

/// The ack script for each stream, preceded by `SCRIPT LOAD` when `load`.
fn ack_pipeline<'a, S, I>(streams: I, group: &str, load: bool) -> redis::Pipeline
where
    S: AsRef<str> + 'a,
    I: IntoIterator<Item = (S, &'a Vec<&'a str>)>,
{
    let mut pipe = redis::pipe();
    if load {
        pipe.load_script(&ACK).ignore();
    }
    for (stream, ids) in streams {
        let mut inv = ACK.prepare_invoke();
        inv.key(stream.as_ref()).arg(group).arg(ids);
        pipe.invoke_script(&inv).ignore();
    }
    pipe
}

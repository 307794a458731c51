//! Where a queue lives on the server, and creating it on first use.
//!
//! **One work-queue stream per queue** (`WB_<queue>_<hash>`), holding one subject per priority
//! band, `wasmboost.p<N>.<queue>` (N = 0..=9), and `wasmboost.delayed.<queue>` for messages
//! not due yet; one durable pull consumer per subject, shared by every host. Why a stream per
//! queue rather than one stream with a subject per queue: measured (`tests/layout.rs`, table in
//! the crate README), at 100 queues a stream per queue drains about 2× faster and answers every
//! confirmed ack, where the shared stream's filtered consumers contend on its one store; and
//! limits, purges and deleting a queue stay per queue.
//!
//! **Priority bands:** JetStream delivers one consumer's messages in stream order only, so each
//! priority is its own subject and consumer, and a fetch drains the bands highest first.
//!
//! **Dead letters:** a limits stream per queue, `WBD_<queue>_<hash>`, subject
//! `wasmboost.dead.<queue>`, listed oldest first and deleted by sequence on replay.
//!
//! Stream names cannot hold `.`, which queue names may: the name shows the queue with `.` as
//! `_` and ends with 8 hex of the queue name's sha256, so two queues never share a stream.
//! Subjects put the queue last, so a queue with dots (`a.b`) never shares a subject with
//! another (`a`): `wasmboost.p3.a.b` vs `wasmboost.p3.a`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use async_nats::jetstream::consumer::{self, AckPolicy, pull};
use async_nats::jetstream::{self, stream};
use sha2::{Digest, Sha256};
use tokio::sync::{Notify, OnceCell};
use wasmboost_broker::{BrokerError, MAX_PRIORITY};

use crate::config::NatsConfig;
use crate::error::op;

/// The subject prefix of every wasmboost subject.
pub const PREFIX: &str = "wasmboost";
/// Durable name of the consumer of not-yet-due messages.
const DELAYED: &str = "delayed";

/// The subject a message of priority `band` is published to (a foreign producer publishes
/// here: `wasmboost.p0.<queue>` is priority 0).
pub fn band_subject(queue: &str, band: u8) -> String {
    format!("{PREFIX}.p{}.{queue}", band.min(MAX_PRIORITY))
}

/// The subject of messages waiting for their due time.
pub fn delayed_subject(queue: &str) -> String {
    format!("{PREFIX}.delayed.{queue}")
}

/// The subject of the queue's dead letters.
pub fn dead_subject(queue: &str) -> String {
    format!("{PREFIX}.dead.{queue}")
}

/// Every subject a publish to `queue` may use (a core subscription to it wakes idle fetches).
pub fn wake_subject(queue: &str) -> String {
    format!("{PREFIX}.*.{queue}")
}

fn stream_name(kind: &str, queue: &str) -> String {
    let hash = Sha256::digest(queue.as_bytes());
    let short = hex::encode(&hash[..4]);
    format!("{kind}_{}_{short}", queue.replace('.', "_"))
}

/// The queue's work stream.
pub fn work_stream(queue: &str) -> String {
    stream_name("WB", queue)
}

/// The queue's dead-letter stream.
pub fn dead_stream(queue: &str) -> String {
    stream_name("WBD", queue)
}

/// A queue's streams and consumers, created once per process.
#[derive(Debug)]
pub(crate) struct Queue {
    pub(crate) name: String,
    pub(crate) js: jetstream::Context,
    pub(crate) dead: stream::Stream,
    /// Band consumers, index = priority.
    pub(crate) bands: Vec<consumer::Consumer<pull::Config>>,
    pub(crate) delayed: consumer::Consumer<pull::Config>,
    /// Rung when this process put a message back (a lease ended): local fetches look again.
    pub(crate) wake: Notify,
}

/// The queues this process has set up.
///
/// No caller waits on a lock across another caller's network I/O: a queue's setup (several
/// JetStream round trips) runs on a task of its own, which fills the queue's cell, and each
/// caller only awaits that task. Had the first caller's own future run the setup, a caller
/// kept but not polled (a task's select loop busy in another arm while the guest's publish
/// sits mid-setup) would hold every other caller of that queue, fetch loops included, until
/// it was polled again (the pattern that hung the PostgreSQL store after a restart).
#[derive(Debug)]
pub(crate) struct Topology {
    setup: Arc<Setup>,
    queues: Mutex<HashMap<String, Arc<OnceCell<Arc<Queue>>>>>,
}

/// What setting up a queue needs, shared with the setup tasks.
#[derive(Debug)]
struct Setup {
    js: jetstream::Context,
    config: NatsConfig,
}

impl Topology {
    pub(crate) fn new(js: jetstream::Context, config: NatsConfig) -> Self {
        Topology {
            setup: Arc::new(Setup { js, config }),
            queues: Mutex::new(HashMap::new()),
        }
    }

    pub(crate) fn client(&self) -> async_nats::Client {
        self.setup.js.client()
    }

    /// The queue's streams and consumers, creating what is missing (idempotent: every host
    /// does this on first use and they agree).
    pub(crate) async fn queue(&self, name: &str) -> Result<Arc<Queue>, BrokerError> {
        let cell = {
            let mut queues = self.queues.lock().unwrap_or_else(PoisonError::into_inner);
            Arc::clone(queues.entry(name.to_owned()).or_default())
        };
        if let Some(q) = cell.get() {
            return Ok(Arc::clone(q));
        }
        // The setup runs on its own task (see [`Topology`]): the cell's initializer is always
        // polled, whatever becomes of this caller.
        let setup = Arc::clone(&self.setup);
        let name = name.to_owned();
        let made = tokio::spawn(async move {
            cell.get_or_try_init(|| setup.create(&name))
                .await
                .map(Arc::clone)
        });
        made.await.map_err(|e| {
            BrokerError::Backend(format!("nats: the setup of a queue did not finish: {e}"))
        })?
    }

    /// Forget what is known of `name`'s streams and consumers: the next use makes them again
    /// (they may have vanished under a running host).
    pub(crate) fn forget(&self, name: &str) {
        let mut queues = self.queues.lock().unwrap_or_else(PoisonError::into_inner);
        queues.remove(name);
    }
}

impl Setup {
    async fn create(&self, name: &str) -> Result<Arc<Queue>, BrokerError> {
        let client = self.js.client();
        let err = |what: &str, e: String| op(&client, &format!("set up {what} of {name:?}"), e);
        let mut subjects: Vec<String> = (0..=MAX_PRIORITY).map(|b| band_subject(name, b)).collect();
        subjects.push(delayed_subject(name));
        let work = ensure_stream(
            &self.js,
            stream::Config {
                name: work_stream(name),
                subjects,
                retention: stream::RetentionPolicy::WorkQueue,
                storage: stream::StorageType::File,
                num_replicas: self.config.replicas,
                duplicate_window: self.config.duplicate_window(),
                allow_direct: true,
                ..Default::default()
            },
        )
        .await
        .map_err(|e| err("the work stream", e))?;
        let dead = ensure_stream(
            &self.js,
            stream::Config {
                name: dead_stream(name),
                subjects: vec![dead_subject(name)],
                retention: stream::RetentionPolicy::Limits,
                storage: stream::StorageType::File,
                num_replicas: self.config.replicas,
                duplicate_window: self.config.duplicate_window(),
                allow_direct: true,
                ..Default::default()
            },
        )
        .await
        .map_err(|e| err("the dead-letter stream", e))?;
        let mut bands = Vec::new();
        for band in 0..=MAX_PRIORITY {
            let durable = format!("p{band}");
            let c = self
                .consumer(&work, &durable, band_subject(name, band))
                .await;
            bands.push(c.map_err(|e| err("a band consumer", e))?);
        }
        let delayed = self
            .consumer(&work, DELAYED, delayed_subject(name))
            .await
            .map_err(|e| err("the delay consumer", e))?;
        Ok(Arc::new(Queue {
            name: name.to_owned(),
            js: self.js.clone(),
            dead,
            bands,
            delayed,
            wake: Notify::new(),
        }))
    }

    async fn consumer(
        &self,
        work: &stream::Stream,
        durable: &str,
        filter: String,
    ) -> Result<consumer::Consumer<pull::Config>, String> {
        let config = pull::Config {
            durable_name: Some(durable.to_owned()),
            filter_subject: filter,
            ack_policy: AckPolicy::Explicit,
            ack_wait: self.config.ack_wait(),
            // Unbounded: lease ends and delays are the host's to bound, not a count.
            max_deliver: -1,
            // Delayed messages wait as unacknowledged deliveries (NAK with delay): no cap
            // but the server's.
            max_ack_pending: -1,
            num_replicas: self.config.replicas,
            ..Default::default()
        };
        let mut tries = SETUP_TRIES;
        loop {
            match work.get_or_create_consumer(durable, config.clone()).await {
                Ok(c) => return Ok(c),
                Err(e) if tries <= 1 => return Err(e.to_string()),
                // Another host created it between our look and our create: look again.
                Err(_) => tries -= 1,
            }
            tokio::time::sleep(SETUP_PAUSE).await;
        }
    }
}

/// How often setting up a stream or consumer is tried: hosts starting together race to create
/// the same one, and the loser's create can fail although the object now exists.
const SETUP_TRIES: u32 = 5;
const SETUP_PAUSE: std::time::Duration = std::time::Duration::from_millis(50);

/// The stream of `config`, created if missing (retried: see [`SETUP_TRIES`]).
pub(crate) async fn ensure_stream(
    js: &jetstream::Context,
    config: stream::Config,
) -> Result<stream::Stream, String> {
    let mut tries = SETUP_TRIES;
    loop {
        match js.get_or_create_stream(config.clone()).await {
            Ok(s) => return Ok(s),
            Err(e) if tries <= 1 => return Err(e.to_string()),
            Err(_) => tries -= 1,
        }
        tokio::time::sleep(SETUP_PAUSE).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_keep_queues_apart() {
        assert_ne!(work_stream("a.b"), work_stream("a_b"));
        assert!(work_stream("a.b").starts_with("WB_a_b_"));
        assert!(!work_stream("x.y").contains('.'));
        assert_ne!(band_subject("a.b", 3), band_subject("a", 3));
        assert_eq!(band_subject("add", 0), "wasmboost.p0.add");
        assert_eq!(band_subject("add", 200), "wasmboost.p9.add");
    }
}

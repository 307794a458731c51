//! [`Host`]: a running wasmboost host — the API the server and CLI use (publish, results,
//! deploy, pause, stats, dead letters, shutdown).

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use wasmboost_broker::{Backend, Broker, DeadLetter, StateStore, now_ms};
use wasmboost_registry::{Compiler, Registry, RegistryLimits, Version, default_max_compiles};
use wasmboost_runtime::{Runtime, RuntimeConfig};

use crate::bindings::{rebind, sync_bindings};
use crate::config::Config;
use crate::error::HostError;
use crate::metrics::{BrokerOp, Snapshot};
use crate::publish::{self, PublishOptions};
use crate::record::{TaskRecord, TaskState};
use crate::records::Records;
use crate::shared::{Paused, Shared};
use crate::stats::{History, Meter};
use crate::upkeep;

/// Dead letters replayed per step of `dlq_replay` (each step lists, re-records and moves them).
const REPLAY_CHUNK: u64 = 1000;

/// A running host. Cheap to clone; every clone drives the same host.
#[derive(Debug, Clone)]
pub struct Host {
    pub(crate) shared: Arc<Shared>,
}

fn runtime_config(config: &Config) -> RuntimeConfig {
    let rt = &config.runtime;
    RuntimeConfig {
        cache_dir: Some(config.cache_dir()),
        cache_key_file: Some(config.cache_key_file()),
        max_component_bytes: rt.max_component_bytes.0,
        max_instances: rt.max_instances,
        max_memory_bytes: rt.max_memory.0,
        memory_reservation: rt.memory_reservation.0,
        output_cap_bytes: usize::try_from(rt.output_cap.0).unwrap_or(usize::MAX),
    }
}

fn compiler(config: &Config) -> Result<Compiler, HostError> {
    if !config.runtime.compile_in_child {
        return Ok(Compiler::InProcess);
    }
    let exe = std::env::current_exe()
        .map_err(|e| HostError::Internal(format!("cannot find the wasmboost executable: {e}")))?;
    Ok(Compiler::Child {
        exe,
        timeout: config.runtime.compile_timeout.0,
        memory_limit: Some(config.runtime.compile_memory.0),
    })
}

fn registry_limits(config: &Config) -> RegistryLimits {
    let rt = &config.runtime;
    RegistryLimits {
        max_bytes: rt.max_component_bytes.0,
        max_compiles: rt
            .max_compiles
            .map_or_else(default_max_compiles, |n| n as usize),
        compile_wait: rt.compile_wait.0,
        keep_versions: config.versions.keep as usize,
    }
}

impl Host {
    /// On `backend` (opened from `config.broker` by the composition root,
    /// `wasmboost-backends`), load the registry and start one worker per queue that has a
    /// deployed module (and later ones as they are deployed).
    pub async fn start(config: Config, backend: Backend) -> Result<Host, HostError> {
        config.validate()?;
        let policies = config.policies()?;
        let data_dir = &config.host.data_dir;
        wasmboost_broker::private_dir(data_dir).map_err(|e| {
            HostError::Internal(format!(
                "cannot create the data directory {}: {e}",
                data_dir.display()
            ))
        })?;
        let Backend {
            broker,
            store,
            one_commit,
        } = backend;
        let runtime = Runtime::new(runtime_config(&config))
            .map_err(|e| HostError::Internal(format!("cannot start the runtime: {e}")))?;
        let registry = Registry::new(
            Arc::clone(&store),
            runtime,
            compiler(&config)?,
            registry_limits(&config),
        );
        let paused = Paused::default();
        paused.replace(store.paused_queues().await?);
        let schedules = crate::config::schedule::resolve_all(&config.schedules)?;
        let shared = Arc::new(Shared {
            schedules,
            host_id: config.host_id(),
            config,
            policies,
            broker,
            one_commit,
            records: Records::new(Arc::clone(&store)),
            store,
            registry,
            paused,
            workers: Default::default(),
            bound: Default::default(),
            stop: CancellationToken::new(),
            abandon: CancellationToken::new(),
            tracker: TaskTracker::new(),
            started_ms: now_ms(),
            metrics: Default::default(),
        });
        sync_bindings(&shared).await?;
        let upkeep_shared = Arc::clone(&shared);
        tokio::spawn(upkeep::run(upkeep_shared));
        let host = Host {
            shared: Arc::clone(&shared),
        };
        tokio::spawn(crate::schedule::run(host, shared.schedules.clone()));
        tracing::info!(host_id = %shared.host_id, broker = shared.broker.kind(), "host started");
        Ok(Host { shared })
    }

    pub fn config(&self) -> &Config {
        &self.shared.config
    }

    /// This host's id (heartbeats, stats).
    pub fn host_id(&self) -> &str {
        &self.shared.host_id
    }

    /// The broker this host uses (for tools and tests that inject raw messages, like a foreign
    /// producer would).
    pub fn broker(&self) -> Arc<dyn Broker> {
        Arc::clone(&self.shared.broker)
    }

    /// The state store this host uses (the control API keeps API tokens and the audit log
    /// there).
    pub fn store(&self) -> Arc<dyn StateStore> {
        Arc::clone(&self.shared.store)
    }

    /// Declared or deployed queues, sorted.
    pub fn queues(&self) -> Vec<String> {
        self.shared.known_queues()
    }

    /// A name that breaks the queue-name rule is a 400 `bad_queue_name`, checked before the
    /// name reaches any store; then the queue must be declared or deployed.
    fn check_queue(&self, queue: &str) -> Result<(), HostError> {
        wasmboost_policy::validate_queue_name(queue)?;
        if self.shared.is_known(queue) {
            Ok(())
        } else {
            Err(HostError::UnknownQueue {
                queue: queue.to_owned(),
                known: self.shared.known_queues(),
            })
        }
    }

    fn check_open(&self) -> Result<(), HostError> {
        if self.shared.stop.is_cancelled() {
            Err(HostError::ShuttingDown)
        } else {
            Ok(())
        }
    }

    /// Validate and publish one message; durable when it returns. Returns the task id.
    pub async fn publish(
        &self,
        queue: &str,
        body: &[u8],
        opts: PublishOptions,
    ) -> Result<String, HostError> {
        self.check_open()?;
        self.check_queue(queue)?;
        publish_one(&self.shared, queue, body, opts).await
    }

    /// Validate and publish many messages in one broker call. A bad one fails the whole call,
    /// naming its index; nothing is published then. Each task gets its `queued` (or `delayed`)
    /// record, as a single publish does.
    pub async fn publish_batch(
        &self,
        queue: &str,
        bodies: Vec<Vec<u8>>,
        opts: PublishOptions,
    ) -> Result<Vec<String>, HostError> {
        self.check_open()?;
        self.check_queue(queue)?;
        let now = now_ms();
        let max = self.shared.config.host.max_message_bytes.0;
        let settings = self.shared.settings(queue);
        let mut ids = Vec::with_capacity(bodies.len());
        let mut records = Vec::with_capacity(bodies.len());
        let mut messages = Vec::with_capacity(bodies.len());
        for (i, body) in bodies.iter().enumerate() {
            let mut one = opts.clone();
            // One task id cannot name many tasks.
            one.task_id = None;
            let prepared = publish::prepare(body, &one, max, now, &settings.budget)
                .map_err(|e| at_index(i, e))?;
            let id = prepared.message.id.clone();
            records.push(TaskRecord::new(
                &id,
                queue,
                prepared.state,
                prepared.published_ms,
            ));
            ids.push(id);
            messages.push(prepared.message);
        }
        // `queued`/`delayed` records are kept only by a queue that keeps every record.
        if !settings.results.keeps(TaskState::Queued, false) {
            records.clear();
        }
        // As in `publish`: the records are queued first, then the messages.
        let put = self.shared.records.put_all(&records, settings.result_ttl);
        let publish = self.shared.broker.publish(queue, messages);
        let (put, published) = tokio::join!(put, publish);
        published.inspect_err(|_| self.shared.metrics.broker_error(BrokerOp::Publish))?;
        put?;
        Ok(ids)
    }

    /// The task's current record.
    pub async fn record(&self, task_id: &str) -> Result<Option<TaskRecord>, HostError> {
        wasmboost_policy::validate_task_id(task_id)?;
        let bytes = self.shared.store.get_record(task_id).await?;
        bytes.map(|b| parse_record(task_id, &b)).transpose()
    }

    /// Wait until the task's record is terminal (woken by the store), or `None` after `timeout`.
    pub async fn wait_result(
        &self,
        task_id: &str,
        timeout: Duration,
    ) -> Result<Option<TaskRecord>, HostError> {
        wasmboost_policy::validate_task_id(task_id)?;
        let bytes = self.shared.store.wait_terminal(task_id, timeout).await?;
        bytes.map(|b| parse_record(task_id, &b)).transpose()
    }

    /// Deploy a component to `queue` as a new version; new deliveries use it, running tasks
    /// finish on theirs. A refused upload leaves the current version serving.
    pub async fn deploy(&self, queue: &str, wasm: Vec<u8>) -> Result<Version, HostError> {
        self.check_open()?;
        wasmboost_broker::validate_queue_name(queue)?;
        let version = self.shared.registry.deploy(queue, wasm).await?;
        rebind(&self.shared, queue).await?;
        Ok(version)
    }

    pub async fn versions(&self, queue: &str) -> Result<Vec<Version>, HostError> {
        self.check_queue(queue)?;
        Ok(self.shared.registry.versions(queue).await?)
    }

    /// Bind `queue` to version `to` (default: the one before the current).
    pub async fn rollback(&self, queue: &str, to: Option<u32>) -> Result<Version, HostError> {
        self.check_queue(queue)?;
        let version = self.shared.registry.rollback(queue, to).await?;
        rebind(&self.shared, queue).await?;
        Ok(version)
    }

    /// Pause or resume a queue (persisted in the state store).
    pub async fn set_paused(&self, queue: &str, paused: bool) -> Result<(), HostError> {
        self.check_queue(queue)?;
        self.shared.store.set_paused(queue, paused).await?;
        self.shared.paused.set(queue, paused);
        Ok(())
    }

    pub async fn stats(&self) -> Result<Vec<crate::stats::QueueStats>, HostError> {
        crate::stats_query::all(&self.shared).await
    }

    /// The live hosts on this host's state store (itself included once it sent a heartbeat),
    /// with their queues and last heartbeat.
    pub async fn hosts(&self) -> Vec<crate::upkeep::HostInfo> {
        crate::stats_query::hosts(&self.shared).await
    }

    /// This host's task histograms, traps, rate waits, broker errors and registry counts, for
    /// `/metrics` (the queue stats come from [`Host::stats`]).
    pub fn metrics(&self) -> Snapshot {
        let shared = &self.shared;
        Snapshot {
            host_id: shared.host_id.clone(),
            queues: shared
                .all_workers()
                .iter()
                .map(|q| q.metrics.snapshot(&q.name))
                .collect(),
            broker_errors: shared.metrics.broker_errors(),
            broker_reconnects: shared.broker.reconnects(),
            registry: shared.registry.counts(),
        }
    }

    pub async fn history(&self, queue: &str) -> Result<History, HostError> {
        self.check_queue(queue)?;
        let now = now_ms();
        Ok(match self.shared.worker(queue) {
            Some(q) => q
                .meter
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .history(queue, now),
            None => Meter::new(now).history(queue, now),
        })
    }

    pub async fn dlq_list(&self, queue: &str, limit: usize) -> Result<Vec<DeadLetter>, HostError> {
        self.check_queue(queue)?;
        Ok(self.shared.broker.dead_letters(queue, limit).await?)
    }

    /// Move every dead letter of `queue` back onto it (attempts start again at 1), in chunks.
    /// Each replayed task's record is set back to `queued` first: its next ending is a new
    /// outcome, counted as such (a terminal record would make the store take it for a rerun).
    pub async fn dlq_replay(&self, queue: &str) -> Result<u64, HostError> {
        self.check_queue(queue)?;
        let broker = &self.shared.broker;
        let ttl = self.shared.settings(queue).result_ttl;
        // Bounded by what is dead now, so letters that die again meanwhile are not replayed
        // in a loop.
        let mut left = broker.counts(queue).await?.dead;
        let mut moved = 0;
        while left > 0 {
            let chunk = usize::try_from(left.min(REPLAY_CHUNK)).unwrap_or(usize::MAX);
            let letters = broker.dead_letters(queue, chunk).await?;
            if letters.is_empty() {
                break;
            }
            let ids: Vec<String> = letters.iter().map(|l| l.message.id.clone()).collect();
            for letter in &letters {
                let record = self.requeued_record(queue, letter).await?;
                self.shared.records.put(&record, ttl).await?;
            }
            let n = broker.replay_dead_letters(queue, Some(&ids)).await?;
            moved += n;
            left = left.saturating_sub(ids.len() as u64);
        }
        Ok(moved)
    }

    /// The record of a dead letter about to be replayed: its own, back to `queued`.
    async fn requeued_record(
        &self,
        queue: &str,
        letter: &DeadLetter,
    ) -> Result<TaskRecord, HostError> {
        let id = &letter.message.id;
        let stored = self.shared.store.get_record(id).await?;
        let mut record = stored
            .and_then(|bytes| TaskRecord::from_bytes(&bytes).ok())
            .filter(|r| r.queue == queue)
            .unwrap_or_else(|| TaskRecord::new(id, queue, TaskState::Queued, letter.dead_ms));
        record.state = TaskState::Queued;
        record.finished_ms = None;
        Ok(record)
    }

    pub async fn dlq_purge(&self, queue: &str) -> Result<u64, HostError> {
        self.check_queue(queue)?;
        Ok(self.shared.broker.purge_dead_letters(queue).await?)
    }

    /// True from the start of [`shutdown`](Self::shutdown) on: the host takes no new work
    /// (`/readyz` answers 503 so load balancers and Kubernetes stop sending it any).
    pub fn is_stopping(&self) -> bool {
        self.shared.stop.is_cancelled()
    }

    /// Stop fetching, let running tasks finish within `grace`, hand the rest back to the
    /// broker, flush counters and close the broker.
    pub async fn shutdown(&self, grace: Duration) -> Result<(), HostError> {
        let shared = &self.shared;
        shared.stop.cancel();
        shared.tracker.close();
        if tokio::time::timeout(grace, shared.tracker.wait())
            .await
            .is_err()
        {
            tracing::warn!(
                running = shared
                    .all_workers()
                    .iter()
                    .map(|q| q.running())
                    .sum::<u64>(),
                "grace period over; returning running tasks to the broker"
            );
            shared.abandon.cancel();
            shared.tracker.wait().await;
        }
        upkeep::flush_counters(shared).await;
        upkeep::deregister(shared).await;
        shared.broker.close().await?;
        tracing::info!(host_id = %shared.host_id, "host stopped");
        Ok(())
    }
}

fn at_index(i: usize, err: HostError) -> HostError {
    match err {
        HostError::BadMessage { reason } => HostError::BadMessage {
            reason: format!("message {i}: {reason}"),
        },
        HostError::TooLarge { size, max } => HostError::BadMessage {
            reason: format!("message {i}: {size} bytes exceeds the limit of {max} bytes"),
        },
        other => other,
    }
}

fn parse_record(task_id: &str, bytes: &[u8]) -> Result<TaskRecord, HostError> {
    TaskRecord::from_bytes(bytes).map_err(|e| {
        HostError::Internal(format!(
            "stored record of task {task_id} is unreadable: {e}"
        ))
    })
}

/// Validate and publish one message to a known queue; durable when it returns. Returns the task
/// id. Shared by the API and a task's follow-up publishes (`crate::services`).
pub(crate) async fn publish_one(
    shared: &Shared,
    queue: &str,
    body: &[u8],
    opts: PublishOptions,
) -> Result<String, HostError> {
    let now = now_ms();
    let settings = shared.settings(queue);
    let max = shared.config.host.max_message_bytes.0;
    let prepared = publish::prepare(body, &opts, max, now, &settings.budget)?;
    let id = prepared.message.id.clone();
    let record = TaskRecord::new(&id, queue, prepared.state, prepared.published_ms);
    let ttl = settings.result_ttl;
    let publish = shared.broker.publish(queue, vec![prepared.message]);
    if !settings.results.keeps(record.state, opts.reply) {
        publish
            .await
            .inspect_err(|_| shared.metrics.broker_error(BrokerOp::Publish))?;
        return Ok(id);
    }
    // Both go to the same group commit on the embedded store; the record is queued first,
    // so a fast worker's terminal record cannot be overwritten by it.
    let put = shared.records.put(&record, ttl);
    let (put, published) = tokio::join!(put, publish);
    published.inspect_err(|_| shared.metrics.broker_error(BrokerOp::Publish))?;
    put?;
    Ok(id)
}

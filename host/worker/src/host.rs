//! [`Host`]: a running wasmboost host — the API the server and CLI use (publish, results,
//! deploy, pause, stats, dead letters, shutdown).

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use wasmboost_broker::{Broker, DeadLetter, StateStore, now_ms};
use wasmboost_registry::{Compiler, Registry, Version};
use wasmboost_runtime::{Runtime, RuntimeConfig};

use crate::config::Config;
use crate::engine::{Bound, Paused, QueueWorker, Shared};
use crate::error::HostError;
use crate::publish::{self, PublishOptions};
use crate::record::TaskRecord;
use crate::stats::{History, Meter};
use crate::{backend, fetch, upkeep};

/// A running host. Cheap to clone; every clone drives the same host.
#[derive(Debug, Clone)]
pub struct Host {
    shared: Arc<Shared>,
}

fn runtime_config(config: &Config) -> RuntimeConfig {
    let rt = &config.runtime;
    RuntimeConfig {
        cache_dir: Some(config.cache_dir()),
        max_component_bytes: rt.max_component_bytes.0,
        max_instances: rt.max_instances,
        max_memory_bytes: rt.max_memory.0,
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
    })
}

impl Host {
    /// Open the broker + state store from config, load the registry, start one worker per
    /// queue that has a deployed module (and later ones as they are deployed).
    pub async fn start(config: Config) -> Result<Host, HostError> {
        config.validate()?;
        let (broker, store) = backend::open(&config).await?;
        let runtime = Runtime::new(runtime_config(&config))
            .map_err(|e| HostError::Internal(format!("cannot start the runtime: {e}")))?;
        let registry = Registry::new(
            Arc::clone(&store),
            runtime,
            compiler(&config)?,
            config.runtime.max_component_bytes.0,
        );
        let paused = Paused::default();
        paused.replace(store.paused_queues().await?);
        let shared = Arc::new(Shared {
            host_id: config.host_id(),
            config,
            broker,
            store,
            registry,
            paused,
            workers: Default::default(),
            bound: Default::default(),
            stop: CancellationToken::new(),
            abandon: CancellationToken::new(),
            tracker: TaskTracker::new(),
            started_ms: now_ms(),
        });
        sync_bindings(&shared).await?;
        let upkeep_shared = Arc::clone(&shared);
        tokio::spawn(upkeep::run(upkeep_shared));
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

    fn check_queue(&self, queue: &str) -> Result<(), HostError> {
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
        let now = now_ms();
        let prepared = publish::prepare(
            body,
            &opts,
            self.shared.config.host.max_message_bytes.0,
            now,
        )?;
        let id = prepared.message.id.clone();
        let record = TaskRecord::new(&id, queue, prepared.state, prepared.published_ms);
        let ttl = self.shared.settings(queue).result_ttl;
        // Both go to the same group commit on the embedded store; the record is queued first,
        // so a fast worker's terminal record cannot be overwritten by it.
        let put = self
            .shared
            .store
            .put_record(&id, record.to_bytes(), false, ttl);
        let publish = self.shared.broker.publish(queue, vec![prepared.message]);
        let (put, published) = tokio::join!(put, publish);
        published?;
        put?;
        Ok(id)
    }

    /// Validate and publish many messages in one broker call. A bad one fails the whole call,
    /// naming its index; nothing is published then. Records appear when the tasks start.
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
        let mut ids = Vec::with_capacity(bodies.len());
        let mut messages = Vec::with_capacity(bodies.len());
        for (i, body) in bodies.iter().enumerate() {
            let mut one = opts.clone();
            // One task id cannot name many tasks.
            one.task_id = None;
            let prepared = publish::prepare(body, &one, max, now).map_err(|e| at_index(i, e))?;
            ids.push(prepared.message.id.clone());
            messages.push(prepared.message);
        }
        self.shared.broker.publish(queue, messages).await?;
        Ok(ids)
    }

    /// The task's current record.
    pub async fn record(&self, task_id: &str) -> Result<Option<TaskRecord>, HostError> {
        let bytes = self.shared.store.get_record(task_id).await?;
        bytes.map(|b| parse_record(task_id, &b)).transpose()
    }

    /// Wait until the task's record is terminal (woken by the store), or `None` after `timeout`.
    pub async fn wait_result(
        &self,
        task_id: &str,
        timeout: Duration,
    ) -> Result<Option<TaskRecord>, HostError> {
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

    /// Move every dead letter of `queue` back onto it (attempts start again at 1).
    pub async fn dlq_replay(&self, queue: &str) -> Result<u64, HostError> {
        self.check_queue(queue)?;
        Ok(self.shared.broker.replay_dead_letters(queue, None).await?)
    }

    pub async fn dlq_purge(&self, queue: &str) -> Result<u64, HostError> {
        self.check_queue(queue)?;
        Ok(self.shared.broker.purge_dead_letters(queue).await?)
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

/// Make sure every queue with a deployment has a running worker on its current module.
pub(crate) async fn sync_bindings(shared: &Arc<Shared>) -> Result<(), HostError> {
    let queues = shared.registry.queues().await?;
    let new: BTreeSet<String> = queues.iter().cloned().collect();
    shared
        .bound
        .write()
        .unwrap_or_else(|p| p.into_inner())
        .extend(new);
    for queue in queues {
        rebind(shared, &queue).await?;
    }
    Ok(())
}

/// Load `queue`'s current module into its worker, starting the worker if it has none.
async fn rebind(shared: &Arc<Shared>, queue: &str) -> Result<(), HostError> {
    let current = shared.registry.current(queue).await?;
    shared
        .bound
        .write()
        .unwrap_or_else(|p| p.into_inner())
        .insert(queue.to_owned());
    let worker = ensure_worker(shared, queue);
    let unchanged = match (worker.bound(), &current) {
        (Some(old), Some((v, _))) => {
            old.version.number == v.number && old.version.sha256 == v.sha256
        }
        _ => false,
    };
    if !unchanged {
        worker.set_bound(current.map(|(version, module)| Arc::new(Bound { version, module })));
    }
    Ok(())
}

fn ensure_worker(shared: &Arc<Shared>, queue: &str) -> Arc<QueueWorker> {
    let mut workers = shared.workers.write().unwrap_or_else(|p| p.into_inner());
    if let Some(q) = workers.get(queue) {
        return Arc::clone(q);
    }
    let q = Arc::new(QueueWorker::new(queue, shared.settings(queue)));
    workers.insert(queue.to_owned(), Arc::clone(&q));
    shared
        .tracker
        .spawn(fetch::run(Arc::clone(shared), Arc::clone(&q)));
    q
}

//! The state every part of a running host shares ([`Shared`]) and one queue's worker state
//! ([`QueueWorker`]): its settings, concurrency slots, rate limiter, module and meters.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use tokio::sync::{Notify, Semaphore};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use wasmboost_broker::{Broker, StateStore, now_ms};
use wasmboost_policy::rate::RateLimiter;
use wasmboost_registry::{Registry, Version};
use wasmboost_runtime::TaskModule;

use crate::config::Config;
use crate::config::settings::{Policies, QueueSettings};
use crate::metrics::{HostMetrics, QueueMetrics};
use crate::records::Records;
use crate::stats::Meter;

/// The module a queue runs now. In-flight tasks keep their own `Arc`, so a redeploy lets them
/// finish on the old version.
#[derive(Debug)]
pub(crate) struct Bound {
    pub version: Version,
    pub module: TaskModule,
}

/// Counter deltas not yet written to the state store, for stores that cannot commit them with
/// the task record (flushed about once a second, so the hot path never waits on them).
#[derive(Debug, Default, Clone)]
pub(crate) struct Deltas(BTreeMap<&'static str, i64>);

impl Deltas {
    pub(crate) fn add(&mut self, counts: &[(&'static str, i64)]) {
        for (name, delta) in counts {
            let value = self.0.entry(name).or_default();
            *value = value.saturating_add(*delta);
        }
    }

    pub(crate) fn pairs(&self) -> Vec<(&'static str, i64)> {
        self.0
            .iter()
            .filter(|(_, v)| **v != 0)
            .map(|(k, v)| (*k, *v))
            .collect()
    }
}

/// One queue on this host.
#[derive(Debug)]
pub(crate) struct QueueWorker {
    pub name: Arc<str>,
    pub settings: QueueSettings,
    /// One permit per task allowed to run at once.
    pub slots: Arc<Semaphore>,
    /// Host-local GCRA limiter (used when the state store is not shared).
    pub limiter: Option<Mutex<RateLimiter>>,
    pub module: RwLock<Option<Arc<Bound>>>,
    /// Woken when the module changes (a worker may have been waiting for one).
    pub module_changed: Notify,
    pub meter: Mutex<Meter>,
    pub deltas: Mutex<Deltas>,
    pub in_flight: AtomicU64,
    /// Duration, fuel and memory histograms, traps by kind, rate waits (`/metrics`).
    pub metrics: QueueMetrics,
}

impl QueueWorker {
    pub(crate) fn new(name: &str, settings: QueueSettings) -> QueueWorker {
        let limiter = settings
            .qps
            .and_then(|qps| RateLimiter::new(qps).ok())
            .map(Mutex::new);
        QueueWorker {
            name: Arc::from(name),
            slots: Arc::new(Semaphore::new(settings.concurrency as usize)),
            limiter,
            settings,
            module: RwLock::new(None),
            module_changed: Notify::new(),
            meter: Mutex::new(Meter::new(now_ms())),
            deltas: Mutex::new(Deltas::default()),
            in_flight: AtomicU64::new(0),
            metrics: QueueMetrics::default(),
        }
    }

    pub(crate) fn bound(&self) -> Option<Arc<Bound>> {
        self.module
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    pub(crate) fn set_bound(&self, bound: Option<Arc<Bound>>) {
        *self.module.write().unwrap_or_else(|p| p.into_inner()) = bound;
        self.module_changed.notify_waiters();
    }

    pub(crate) fn count(&self, counts: &[(&'static str, i64)]) {
        self.deltas
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .add(counts);
    }

    pub(crate) fn take_deltas(&self) -> Deltas {
        std::mem::take(&mut *self.deltas.lock().unwrap_or_else(|p| p.into_inner()))
    }

    pub(crate) fn meter(&self, f: impl FnOnce(&mut Meter)) {
        f(&mut self.meter.lock().unwrap_or_else(|p| p.into_inner()));
    }

    pub(crate) fn running(&self) -> u64 {
        self.in_flight.load(Ordering::Relaxed)
    }
}

/// A concurrency permit held by one running task; returned on drop, whatever way the task ends.
#[derive(Debug)]
pub(crate) struct Slot(pub Arc<Semaphore>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.add_permits(1);
    }
}

/// Paused queues, cached in memory (the store is the truth; refreshed for shared stores).
#[derive(Debug, Default)]
pub(crate) struct Paused {
    set: RwLock<HashSet<String>>,
    pub changed: Notify,
}

impl Paused {
    pub(crate) fn contains(&self, queue: &str) -> bool {
        self.set
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .contains(queue)
    }

    pub(crate) fn replace(&self, queues: impl IntoIterator<Item = String>) {
        let new: HashSet<String> = queues.into_iter().collect();
        let mut set = self.set.write().unwrap_or_else(|p| p.into_inner());
        if *set != new {
            *set = new;
            self.changed.notify_waiters();
        }
    }

    pub(crate) fn set(&self, queue: &str, paused: bool) {
        let mut set = self.set.write().unwrap_or_else(|p| p.into_inner());
        if paused {
            set.insert(queue.to_owned());
        } else {
            set.remove(queue);
        }
        self.changed.notify_waiters();
    }
}

/// Everything a running host shares between its API, its queue loops and its tasks.
#[derive(Debug)]
pub(crate) struct Shared {
    pub config: Config,
    /// Every queue's settings, resolved once from `config`.
    pub policies: Policies,
    pub broker: Arc<dyn Broker>,
    pub store: Arc<dyn StateStore>,
    /// Settles and store writes share one commit ([`wasmboost_broker::Backend::one_commit`]).
    pub one_commit: bool,
    /// Every task-record write goes through here.
    pub records: Records,
    pub registry: Registry,
    /// The configured schedules, resolved (`[[schedules]]`).
    pub schedules: Vec<crate::config::schedule::Schedule>,
    pub host_id: String,
    pub paused: Paused,
    pub workers: RwLock<BTreeMap<String, Arc<QueueWorker>>>,
    /// Queues with a deployment (declared ones come from the config).
    pub bound: RwLock<BTreeSet<String>>,
    /// Cancelled to stop fetching (shutdown began).
    pub stop: CancellationToken,
    /// Cancelled when the grace period ran out: running tasks are returned to the broker.
    pub abandon: CancellationToken,
    /// Every queue loop and task, so shutdown can wait for them.
    pub tracker: TaskTracker,
    pub started_ms: u64,
    /// Broker errors by operation (`/metrics`).
    pub metrics: HostMetrics,
}

impl Shared {
    pub(crate) fn worker(&self, queue: &str) -> Option<Arc<QueueWorker>> {
        self.workers
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(queue)
            .cloned()
    }

    pub(crate) fn all_workers(&self) -> Vec<Arc<QueueWorker>> {
        self.workers
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .cloned()
            .collect()
    }

    /// Declared or deployed queues, sorted.
    pub(crate) fn known_queues(&self) -> Vec<String> {
        let bound = self.bound.read().unwrap_or_else(|p| p.into_inner());
        let mut all: BTreeSet<String> = bound.iter().cloned().collect();
        all.extend(self.config.queues.keys().cloned());
        all.into_iter().collect()
    }

    pub(crate) fn is_known(&self, queue: &str) -> bool {
        self.config.queues.contains_key(queue)
            || self
                .bound
                .read()
                .unwrap_or_else(|p| p.into_inner())
                .contains(queue)
    }

    pub(crate) fn settings(&self, queue: &str) -> &QueueSettings {
        self.policies.of(queue)
    }
}

//! [`Registry`]: deploy, list, roll back and look up the modules bound to queues.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use wasmboost_broker::{StateStore, now_ms, validate_queue_name};
use wasmboost_runtime::{LoadError, Runtime, TaskModule};

use crate::binding::{Binding, Version};
use crate::compile::{ChildJob, Compiler};

use crate::error::RegistryError;
use crate::metrics::{RegistryCounts, RegistryMetrics};

/// Default number of versions kept per queue (`versions.keep`).
pub const DEFAULT_KEEP_VERSIONS: usize = 10;
/// Default time a deploy waits for a free compile slot before it is refused.
pub const DEFAULT_COMPILE_WAIT: Duration = Duration::from_secs(10);

/// The operator's bounds on uploads and on what the registry keeps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistryLimits {
    /// Largest upload accepted, in bytes.
    pub max_bytes: u64,
    /// Compiles that may run at once (each is a process of up to the compile memory limit).
    pub max_compiles: usize,
    /// How long a deploy waits for a free compile slot before it is refused.
    pub compile_wait: Duration,
    /// Versions kept per queue; older ones, their blobs and `.cwasm` files are collected.
    pub keep_versions: usize,
}

impl RegistryLimits {
    /// The defaults, refusing uploads over `max_bytes`: one compile per core,
    /// [`DEFAULT_COMPILE_WAIT`], [`DEFAULT_KEEP_VERSIONS`].
    pub fn new(max_bytes: u64) -> RegistryLimits {
        RegistryLimits {
            max_bytes,
            max_compiles: default_max_compiles(),
            compile_wait: DEFAULT_COMPILE_WAIT,
            keep_versions: DEFAULT_KEEP_VERSIONS,
        }
    }
}

/// One compile slot per core: compiles are CPU-bound, more at once only add memory.
pub fn default_max_compiles() -> usize {
    std::thread::available_parallelism().map_or(1, usize::from)
}

/// The module store and queue bindings, on a [`StateStore`]. Cheap to clone (shared inside).
///
/// Blobs are stored by sha256 before a binding names them, and a binding document is replaced
/// whole, so a reader sees the old or the new version, never a half deploy. Deploys and
/// rollbacks through one `Registry` are serialized; two hosts deploying the same queue at the
/// same instant on a shared store race (the last binding written wins, both blobs are kept).
///
/// A binding keeps the newest `keep_versions` versions; a version that leaves it takes its blob
/// and its `.cwasm` with it unless another version of any queue still names the same sha256.
/// On a shared store, a host collecting a blob at the instant another host deploys the same
/// bytes can remove it under that deploy; the next load then reports the blob missing, and
/// deploying the bytes again repairs it.
#[derive(Clone)]
pub struct Registry {
    inner: Arc<Inner>,
}

struct Inner {
    store: Arc<dyn StateStore>,
    runtime: Runtime,
    compiler: Compiler,
    limits: RegistryLimits,
    /// One permit per compile allowed to run at once.
    compile_slots: tokio::sync::Semaphore,
    /// Serializes read-modify-write of binding documents, and module loads (so one sha is
    /// compiled once even when several lookups race).
    writes: tokio::sync::Mutex<()>,
    modules: Mutex<Modules>,
    metrics: RegistryMetrics,
}

/// Loaded modules, kept while some queue's last looked-up binding uses them.
#[derive(Default)]
struct Modules {
    by_sha: HashMap<String, TaskModule>,
    /// queue -> sha256 of the module it was last seen bound to.
    in_use: HashMap<String, String>,
}

impl Modules {
    fn bind(&mut self, queue: &str, sha256: &str, module: &TaskModule) {
        self.by_sha.insert(sha256.to_owned(), module.clone());
        self.in_use.insert(queue.to_owned(), sha256.to_owned());
        let in_use = &self.in_use;
        self.by_sha
            .retain(|sha, _| in_use.values().any(|s| s == sha));
    }
}

impl fmt::Debug for Registry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Registry")
            .field("store", &self.inner.store)
            .field("compiler", &self.inner.compiler)
            .field("limits", &self.inner.limits)
            .finish_non_exhaustive()
    }
}

impl Registry {
    /// A registry keeping modules and bindings in `store`, compiling with `compiler` within
    /// `limits`.
    pub fn new(
        store: Arc<dyn StateStore>,
        runtime: Runtime,
        compiler: Compiler,
        limits: RegistryLimits,
    ) -> Registry {
        let inner = Inner {
            store,
            runtime,
            compiler,
            compile_slots: tokio::sync::Semaphore::new(limits.max_compiles.max(1)),
            limits,
            writes: tokio::sync::Mutex::new(()),
            modules: Mutex::new(Modules::default()),
            metrics: RegistryMetrics::default(),
        };
        Registry {
            inner: Arc::new(inner),
        }
    }

    /// Validate (size, component, world), compile (bounded by the compile slots, the
    /// compiler's time and memory limits), store the blob by sha256 and bind `queue` to a new
    /// version; the newest `keep_versions` are kept and older ones collected. A refused upload
    /// leaves the current binding untouched and nothing in the cache. Deploying the bytes
    /// already current returns the current version unchanged.
    pub async fn deploy(&self, queue: &str, wasm: Vec<u8>) -> Result<Version, RegistryError> {
        let deployed = self.deploy_counted(queue, wasm).await;
        self.inner.metrics.deployed(deployed.is_ok());
        deployed
    }

    /// Compiles, cache hits and misses, deploys since this registry was opened.
    pub fn counts(&self) -> RegistryCounts {
        self.inner.metrics.counts()
    }

    async fn deploy_counted(&self, queue: &str, wasm: Vec<u8>) -> Result<Version, RegistryError> {
        check_queue(queue)?;
        let size = wasm.len() as u64;
        let max = self.inner.limits.max_bytes;
        if size > max {
            return Err(RegistryError::TooLarge { size, max });
        }
        let wasm = Bytes::from(wasm);
        let sha256 = Runtime::sha256_hex(&wasm);
        let wait = Some(self.inner.limits.compile_wait);
        let module = match self.compile_and_load(&wasm, &sha256, wait).await {
            Ok(module) => module,
            Err(err) => {
                if matches!(err, RegistryError::CompilerBusy { .. }) {
                    return Err(err);
                }
                // Whatever a refused compile left (an artifact, a killed child's temporary
                // file) goes. Bytes that compiled before never get here: they load from cache.
                self.inner.runtime.evict(&sha256);
                return Err(err);
            }
        };
        let _writing = self.inner.writes.lock().await;
        let previous = self.read_binding(queue).await?;
        let (mut binding, changed) = Binding::deploy(previous, &sha256, size, now_ms());
        if changed {
            let dropped = binding.trim(self.inner.limits.keep_versions);
            // The blob goes first: a binding must never name a blob that is not stored.
            self.inner.store.put_module(&sha256, wasm).await?;
            self.inner
                .store
                .put_binding(queue, binding.encode().into())
                .await?;
            tracing::info!(queue, version = binding.current().number, %sha256, "deployed");
            self.lock_modules().bind(queue, &sha256, &module);
            self.collect(dropped).await;
        } else {
            self.lock_modules().bind(queue, &sha256, &module);
        }
        Ok(binding.current())
    }

    /// Remove the blobs and `.cwasm` files of versions that left a binding, unless some
    /// binding still names them. Failures are logged, not returned: the deploy that caused
    /// the collection has already succeeded, and a later one retries nothing it missed.
    async fn collect(&self, dropped: Vec<String>) {
        if dropped.is_empty() {
            return;
        }
        let referenced = match self.referenced().await {
            Ok(referenced) => referenced,
            Err(err) => {
                tracing::warn!(error = %err, "cannot list the bound versions; no module collected");
                return;
            }
        };
        let garbage: HashSet<String> = dropped
            .into_iter()
            .filter(|sha| !referenced.contains(sha))
            .collect();
        for sha256 in garbage {
            if let Err(err) = self.inner.store.delete_module(&sha256).await {
                tracing::warn!(%sha256, error = %err, "cannot delete an old module blob");
                continue;
            }
            self.inner.runtime.evict(&sha256);
            self.lock_modules().by_sha.remove(&sha256);
            tracing::info!(%sha256, "collected a module no version names any more");
        }
    }

    /// The sha256 of every version of every bound queue.
    async fn referenced(&self) -> Result<HashSet<String>, RegistryError> {
        let mut referenced = HashSet::new();
        for queue in self.inner.store.bound_queues().await? {
            if let Some(binding) = self.read_binding(&queue).await? {
                referenced.extend(binding.shas().map(str::to_owned));
            }
        }
        Ok(referenced)
    }

    /// Every version deployed to `queue`, oldest first; empty when nothing was deployed.
    pub async fn versions(&self, queue: &str) -> Result<Vec<Version>, RegistryError> {
        check_queue(queue)?;
        Ok(self
            .read_binding(queue)
            .await?
            .map_or_else(Vec::new, |b| b.versions()))
    }

    /// Bind `queue` to version `to`, or to the one before the current version when `None`.
    /// The target module is loaded first, so a rollback to a module that no longer loads is
    /// refused and changes nothing.
    pub async fn rollback(&self, queue: &str, to: Option<u32>) -> Result<Version, RegistryError> {
        check_queue(queue)?;
        let _writing = self.inner.writes.lock().await;
        let mut binding =
            self.read_binding(queue)
                .await?
                .ok_or_else(|| RegistryError::NoModule {
                    queue: queue.to_owned(),
                })?;
        binding.rollback(queue, to)?;
        let current = binding.current();
        let module = self.load_stored(queue, &current.sha256).await?;
        self.inner
            .store
            .put_binding(queue, binding.encode().into())
            .await?;
        self.lock_modules().bind(queue, &current.sha256, &module);
        tracing::info!(queue, version = current.number, "rolled back");
        Ok(current)
    }

    /// The version `queue` is bound to now and its loaded module. The binding is read from the
    /// store on every call, so a deploy by another host sharing the store is seen; the module is
    /// loaded once per sha256 (its blob's hash verified) and cached while bound.
    pub async fn current(
        &self,
        queue: &str,
    ) -> Result<Option<(Version, TaskModule)>, RegistryError> {
        check_queue(queue)?;
        let Some(binding) = self.read_binding(queue).await? else {
            return Ok(None);
        };
        let version = binding.current();
        let cached = self.lock_modules().by_sha.get(&version.sha256).cloned();
        let module = match cached {
            Some(module) => module,
            None => {
                let _loading = self.inner.writes.lock().await;
                self.load_stored(queue, &version.sha256).await?
            }
        };
        self.lock_modules().bind(queue, &version.sha256, &module);
        Ok(Some((version, module)))
    }

    /// Every queue that has a deployment, in name order.
    pub async fn queues(&self) -> Result<Vec<String>, RegistryError> {
        let mut queues = self.inner.store.bound_queues().await?;
        queues.sort();
        Ok(queues)
    }

    async fn read_binding(&self, queue: &str) -> Result<Option<Binding>, RegistryError> {
        match self.inner.store.get_binding(queue).await? {
            Some(bytes) => Binding::decode(queue, &bytes).map(Some),
            None => Ok(None),
        }
    }

    /// A stored module, from memory if loaded, else from the store (hash verified), compiled
    /// through the configured compiler if this host has not compiled it yet.
    async fn load_stored(&self, queue: &str, sha256: &str) -> Result<TaskModule, RegistryError> {
        if let Some(module) = self.lock_modules().by_sha.get(sha256) {
            return Ok(module.clone());
        }
        let corrupt = |detail: String| RegistryError::Corrupt {
            what: format!("module {sha256} of queue {queue:?}"),
            detail,
        };
        let wasm = self
            .inner
            .store
            .get_module(sha256)
            .await?
            .ok_or_else(|| corrupt("missing from the module store".to_owned()))?;
        let actual = Runtime::sha256_hex(&wasm);
        if actual != sha256 {
            return Err(corrupt(format!("the stored bytes hash to {actual}")));
        }
        // The host's own stored module: wait for a slot as long as it takes.
        self.compile_and_load(&wasm, sha256, None)
            .await
            .map_err(|err| match err {
                RegistryError::Rejected { reason } => RegistryError::Load {
                    queue: queue.to_owned(),
                    sha256: sha256.to_owned(),
                    detail: reason,
                },
                other => other,
            })
    }

    /// Load from the cache, else take a compile slot (waiting at most `wait`, or as long as it
    /// takes when `None`), compile with the configured compiler and load what it cached.
    async fn compile_and_load(
        &self,
        wasm: &Bytes,
        sha256: &str,
        wait: Option<Duration>,
    ) -> Result<TaskModule, RegistryError> {
        // A cache hit needs no slot and no child; a tampered entry is reported (with its path)
        // and removed here, in the host's own log, before it is compiled again.
        if let Some(module) = self.load_blocking(wasm, |rt, w| rt.load_cached(w)).await? {
            self.inner.metrics.cache_hit();
            return Ok(module);
        }
        let _slot = self.compile_slot(wait).await?;
        let started = std::time::Instant::now();
        if let Compiler::Child {
            exe,
            timeout,
            memory_limit,
        } = &self.inner.compiler
        {
            let config = self.inner.runtime.config();
            let job = ChildJob {
                exe,
                timeout: *timeout,
                cache_dir: config.cache_dir.as_deref(),
                cache_key_file: config.cache_key_file.as_deref(),
                max_bytes: self.inner.limits.max_bytes,
                max_memory_bytes: config.max_memory_bytes,
                memory_reservation: config.memory_reservation,
                memory_limit: *memory_limit,
            };
            job.run(wasm, sha256).await?;
        }
        let compiled_before = self.inner.runtime.compilations();
        let module = self.load_blocking(wasm, |rt, w| rt.load(w)).await?;
        if matches!(self.inner.compiler, Compiler::Child { .. })
            && self.inner.runtime.compilations() > compiled_before
        {
            tracing::warn!(%sha256, "the compiler child's artifact was not reused; compiled in process");
        }
        self.inner.metrics.compiled(started.elapsed());
        Ok(module)
    }

    /// A compile slot, or [`RegistryError::CompilerBusy`] once `wait` has passed.
    async fn compile_slot(
        &self,
        wait: Option<Duration>,
    ) -> Result<tokio::sync::SemaphorePermit<'_>, RegistryError> {
        let slots = &self.inner.compile_slots;
        let busy = |waited| RegistryError::CompilerBusy {
            slots: self.inner.limits.max_compiles.max(1),
            waited,
        };
        let acquired = match wait {
            None => slots.acquire().await,
            Some(wait) => tokio::time::timeout(wait, slots.acquire())
                .await
                .map_err(|_| busy(wait))?,
        };
        // The semaphore is never closed.
        acquired.map_err(|_| busy(Duration::ZERO))
    }

    /// Run a runtime load on the blocking pool (it may compile or read a large file).
    async fn load_blocking<T: Send + 'static>(
        &self,
        wasm: &Bytes,
        load: impl FnOnce(&Runtime, &[u8]) -> Result<T, LoadError> + Send + 'static,
    ) -> Result<T, RegistryError> {
        let runtime = self.inner.runtime.clone();
        let bytes = wasm.clone();
        tokio::task::spawn_blocking(move || load(&runtime, &bytes))
            .await
            .map_err(|e| RegistryError::Rejected {
                reason: format!("loading the component failed: {e}"),
            })?
            .map_err(rejection)
    }

    fn lock_modules(&self) -> std::sync::MutexGuard<'_, Modules> {
        // The map is only ever left consistent (single inserts and a retain), so a panic
        // elsewhere while holding the lock cannot have broken it.
        self.inner
            .modules
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

fn rejection(err: LoadError) -> RegistryError {
    match err {
        LoadError::TooLarge { size, max } => RegistryError::TooLarge { size, max },
        other => RegistryError::Rejected {
            reason: other.to_string(),
        },
    }
}

fn check_queue(queue: &str) -> Result<(), RegistryError> {
    Ok(validate_queue_name(queue)?)
}

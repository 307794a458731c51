//! [`Registry`]: deploy, list, roll back and look up the modules bound to queues.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};

use bytes::Bytes;
use wasmboost_broker::{StateStore, now_ms, validate_queue_name};
use wasmboost_runtime::{LoadError, Runtime, TaskModule};

use crate::binding::{Binding, Version};
use crate::compile::{ChildJob, Compiler};
use crate::error::RegistryError;

/// The module store and queue bindings, on a [`StateStore`]. Cheap to clone (shared inside).
///
/// Blobs are stored by sha256 before a binding names them, and a binding document is replaced
/// whole, so a reader sees the old or the new version, never a half deploy. Deploys and
/// rollbacks through one `Registry` are serialized; two hosts deploying the same queue at the
/// same instant on a shared store race (the last binding written wins, both blobs are kept).
#[derive(Clone)]
pub struct Registry {
    inner: Arc<Inner>,
}

struct Inner {
    store: Arc<dyn StateStore>,
    runtime: Runtime,
    compiler: Compiler,
    max_bytes: u64,
    /// Serializes read-modify-write of binding documents, and module loads (so one sha is
    /// compiled once even when several lookups race).
    writes: tokio::sync::Mutex<()>,
    modules: Mutex<Modules>,
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
            .field("max_bytes", &self.inner.max_bytes)
            .finish_non_exhaustive()
    }
}

impl Registry {
    /// A registry keeping modules and bindings in `store`, compiling with `compiler`, refusing
    /// uploads over `max_bytes`.
    pub fn new(
        store: Arc<dyn StateStore>,
        runtime: Runtime,
        compiler: Compiler,
        max_bytes: u64,
    ) -> Registry {
        let inner = Inner {
            store,
            runtime,
            compiler,
            max_bytes,
            writes: tokio::sync::Mutex::new(()),
            modules: Mutex::new(Modules::default()),
        };
        Registry {
            inner: Arc::new(inner),
        }
    }

    /// Validate (size, component, world), compile (bounded by the compiler's time limit), store
    /// the blob by sha256 and bind `queue` to a new version; earlier versions are kept. A refused
    /// upload leaves the current binding untouched. Deploying the bytes already current returns
    /// the current version unchanged.
    pub async fn deploy(&self, queue: &str, wasm: Vec<u8>) -> Result<Version, RegistryError> {
        check_queue(queue)?;
        let size = wasm.len() as u64;
        if size > self.inner.max_bytes {
            let max = self.inner.max_bytes;
            return Err(RegistryError::TooLarge { size, max });
        }
        let wasm = Bytes::from(wasm);
        let sha256 = Runtime::sha256_hex(&wasm);
        let module = self.compile_and_load(&wasm, &sha256).await?;
        let _writing = self.inner.writes.lock().await;
        let previous = self.read_binding(queue).await?;
        let (binding, changed) = Binding::deploy(previous, &sha256, size, now_ms());
        if changed {
            // The blob goes first: a binding must never name a blob that is not stored.
            self.inner.store.put_module(&sha256, wasm).await?;
            self.inner
                .store
                .put_binding(queue, binding.encode().into())
                .await?;
            tracing::info!(queue, version = binding.current().number, %sha256, "deployed");
        }
        self.lock_modules().bind(queue, &sha256, &module);
        Ok(binding.current())
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
        self.compile_and_load(&wasm, sha256)
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

    /// Compile with the configured compiler, then load (from the cache the child filled).
    async fn compile_and_load(
        &self,
        wasm: &Bytes,
        sha256: &str,
    ) -> Result<TaskModule, RegistryError> {
        if let Compiler::Child { exe, timeout } = &self.inner.compiler {
            let config = self.inner.runtime.config();
            let job = ChildJob {
                exe,
                timeout: *timeout,
                cache_dir: config.cache_dir.as_deref(),
                max_bytes: self.inner.max_bytes,
                max_memory_bytes: config.max_memory_bytes,
            };
            job.run(wasm, sha256).await?;
        }
        let runtime = self.inner.runtime.clone();
        let bytes = wasm.clone();
        let compiled_before = runtime.compilations();
        let loaded = tokio::task::spawn_blocking(move || runtime.load(&bytes))
            .await
            .map_err(|e| RegistryError::Rejected {
                reason: format!("loading the component failed: {e}"),
            })?;
        let module = loaded.map_err(rejection)?;
        if matches!(self.inner.compiler, Compiler::Child { .. })
            && self.inner.runtime.compilations() > compiled_before
        {
            tracing::warn!(%sha256, "the compiler child's artifact was not reused; compiled in process");
        }
        Ok(module)
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

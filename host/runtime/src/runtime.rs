//! [`Runtime`]: the process's wasmtime engine, its linker, the epoch ticker and the `.cwasm`
//! cache; loads components into [`TaskModule`]s.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use sha2::{Digest, Sha256};
use wasmtime::component::{Component, HasSelf, Linker};
use wasmtime::{Engine, EngineWeak};

use crate::bindings::TaskPre;
use crate::bindings::wasmboost::task::types;
use crate::cache::DiskCache;
use crate::config::{EPOCH_TICK, RuntimeConfig};
use crate::error::{LoadError, RuntimeError};
use crate::host::HostState;
use crate::module::TaskModule;
use crate::swap;

/// The shared engine. Cheap to clone; create one per process and share it.
#[derive(Clone, Debug)]
pub struct Runtime {
    inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) engine: Engine,
    linker: Linker<HostState>,
    pub(crate) config: RuntimeConfig,
    cache: Option<DiskCache>,
    compilations: AtomicU64,
}

impl std::fmt::Debug for Inner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime")
            .field("config", &self.config)
            .field("compilations", &self.compilations)
            .finish_non_exhaustive()
    }
}

impl Runtime {
    /// Builds the engine (pooling allocator, fuel, epochs), the linker (WASI, `wasi:http` and
    /// both contract versions' imports), starts the
    /// epoch ticker and opens the cache directory.
    pub fn new(config: RuntimeConfig) -> Result<Runtime, RuntimeError> {
        config.validate()?;
        let reset_dirty_pages = swap::pagemap_reset_is_safe();
        let engine = Engine::new(&config.wasmtime_config(reset_dirty_pages)?)
            .map_err(|err| engine_error(&config, &err))?;
        let linker = build_linker(&engine)?;
        let cache = match &config.cache_dir {
            Some(dir) => Some(DiskCache::open(
                dir,
                config.cache_key_file.as_deref(),
                &engine,
            )?),
            None => None,
        };
        spawn_epoch_ticker(engine.weak());
        let compilations = AtomicU64::new(0);
        let inner = Inner {
            engine,
            linker,
            config,
            cache,
            compilations,
        };
        Ok(Runtime {
            inner: Arc::new(inner),
        })
    }

    /// Validates, loads from the cache or compiles, and pre-links a component. A freshly
    /// compiled component enters the cache only once it links, so a refused component leaves
    /// nothing behind.
    pub fn load(&self, wasm: &[u8]) -> Result<TaskModule, LoadError> {
        let (sha256, component, fresh) = self.component(wasm)?;
        let pre = self.link(&component)?;
        if fresh {
            self.store_in_cache(&sha256, &component)?;
        }
        Ok(TaskModule::new(self.inner.clone(), sha256, pre))
    }

    /// The component from the cache only (no compile): `None` on a miss. A cached file that
    /// fails its integrity check is reported with a warning naming its path and removed.
    pub fn load_cached(&self, wasm: &[u8]) -> Result<Option<TaskModule>, LoadError> {
        crate::validate::precheck(wasm, self.inner.config.max_component_bytes)?;
        let sha256 = Self::sha256_hex(wasm);
        let Some(component) = self.cached(&sha256) else {
            return Ok(None);
        };
        let pre = self.link(&component)?;
        Ok(Some(TaskModule::new(self.inner.clone(), sha256, pre)))
    }

    /// Removes everything the cache holds for `sha256` (a refused upload, a collected version).
    pub fn evict(&self, sha256: &str) {
        if let Some(cache) = &self.inner.cache {
            cache.remove(sha256);
        }
    }

    /// Reads a component file (refusing it early if it is over the size cap) and loads it.
    pub fn load_file(&self, path: &Path) -> Result<TaskModule, LoadError> {
        let read_err = |source| LoadError::Read {
            path: path.to_path_buf(),
            source,
        };
        let size = std::fs::metadata(path).map_err(read_err)?.len();
        let max = self.inner.config.max_component_bytes;
        if size > max {
            return Err(LoadError::TooLarge { size, max });
        }
        self.load(&std::fs::read(path).map_err(read_err)?)
    }

    /// Compiles into the cache only (the host runs this in a child process to bound compile
    /// time). Returns the wasm's sha256. Without a cache directory it only validates.
    pub fn compile_to_cache(&self, wasm: &[u8]) -> Result<String, LoadError> {
        let (sha256, component, fresh) = self.component(wasm)?;
        self.link(&component)?;
        if fresh {
            self.store_in_cache(&sha256, &component)?;
        }
        Ok(sha256)
    }

    /// How many times Cranelift ran in this process (a cache hit does not count).
    pub fn compilations(&self) -> u64 {
        self.inner.compilations.load(Ordering::Relaxed)
    }

    /// Lowercase hex sha256 of a component's bytes: its identity in caches and registries.
    pub fn sha256_hex(wasm: &[u8]) -> String {
        hex::encode(Sha256::digest(wasm))
    }

    /// The configuration this runtime was built with.
    pub fn config(&self) -> &RuntimeConfig {
        &self.inner.config
    }

    /// Where the cache keeps the compiled form of a component, when there is a cache.
    pub fn cache_path(&self, sha256: &str) -> Option<std::path::PathBuf> {
        self.inner
            .cache
            .as_ref()
            .map(|cache| cache.artifact_path(sha256))
    }

    /// Prechecks, then the cached or freshly compiled component, and whether it was compiled
    /// now (and so still has to be stored once it links).
    fn component(&self, wasm: &[u8]) -> Result<(String, Component, bool), LoadError> {
        crate::validate::precheck(wasm, self.inner.config.max_component_bytes)?;
        let sha256 = Self::sha256_hex(wasm);
        if let Some(component) = self.cached(&sha256) {
            return Ok((sha256, component, false));
        }
        self.inner.compilations.fetch_add(1, Ordering::Relaxed);
        let component = Component::new(&self.inner.engine, wasm)
            .map_err(|err| LoadError::Compile(format!("{err:#}")))?;
        Ok((sha256, component, true))
    }

    fn cached(&self, sha256: &str) -> Option<Component> {
        let cache = self.inner.cache.as_ref()?;
        cache.load(&self.inner.engine, sha256)
    }

    /// Pre-links against the `task` world: a component that does not fit it is refused here.
    fn link(&self, component: &Component) -> Result<TaskPre<HostState>, LoadError> {
        let wrong_world = |err: wasmtime::Error| LoadError::WrongWorld(format!("{err:#}"));
        let pre = self
            .inner
            .linker
            .instantiate_pre(component)
            .map_err(wrong_world)?;
        TaskPre::new(pre).map_err(wrong_world)
    }

    fn store_in_cache(&self, sha256: &str, component: &Component) -> Result<(), LoadError> {
        let Some(cache) = &self.inner.cache else {
            return Ok(());
        };
        let cwasm = component.serialize().map_err(|err| LoadError::Cache {
            path: cache.artifact_path(sha256),
            message: format!("{err:#}"),
        })?;
        cache.store(sha256, &cwasm)
    }
}

/// A failed pool reservation names its size and the settings that shrink it.
fn engine_error(config: &RuntimeConfig, err: &wasmtime::Error) -> RuntimeError {
    let message = format!("{err:#}");
    if message.contains("memory pool") || message.contains("mmap failed to reserve") {
        return RuntimeError::PoolReservation {
            instances: config.max_instances,
            slot_bytes: config
                .memory_reservation
                .saturating_add(crate::config::MEMORY_GUARD_BYTES),
            total_bytes: config.pool_reservation_bytes(),
            message,
        };
    }
    RuntimeError::Engine(message)
}

fn build_linker(engine: &Engine) -> Result<Linker<HostState>, RuntimeError> {
    let mut linker = Linker::new(engine);
    let link_err = |err: wasmtime::Error| RuntimeError::Engine(format!("{err:#}"));
    wasmtime_wasi::p2::add_to_linker_async(&mut linker).map_err(link_err)?;
    types::add_to_linker::<HostState, HasSelf<HostState>>(&mut linker, |state| state)
        .map_err(link_err)?;
    crate::host::add_log_to_linker(&mut linker).map_err(link_err)?;
    // 0.2.0: outbound HTTP (every request goes through the egress hooks) and the grant imports.
    // Linked for every component: an import the queue was not granted is refused per call.
    wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker).map_err(link_err)?;
    {
        use crate::bindings::v2::wasmboost::task::{config, kv, publish, types};
        fn this(state: &mut HostState) -> &mut HostState {
            state
        }
        types::add_to_linker::<HostState, HasSelf<HostState>>(&mut linker, this)
            .map_err(link_err)?;
        kv::add_to_linker::<HostState, HasSelf<HostState>>(&mut linker, this).map_err(link_err)?;
        publish::add_to_linker::<HostState, HasSelf<HostState>>(&mut linker, this)
            .map_err(link_err)?;
        config::add_to_linker::<HostState, HasSelf<HostState>>(&mut linker, this)
            .map_err(link_err)?;
    }
    Ok(linker)
}

/// One thread per engine advances the epoch; it exits once the engine is dropped.
fn spawn_epoch_ticker(engine: EngineWeak) {
    let spawned = std::thread::Builder::new()
        .name("wasmboost-epoch".into())
        .spawn(move || {
            while let Some(engine) = engine.upgrade() {
                engine.increment_epoch();
                drop(engine);
                std::thread::sleep(EPOCH_TICK);
            }
        });
    if let Err(err) = spawned {
        // Without the ticker the tokio timeout still bounds every call, just less promptly.
        tracing::error!("cannot start the epoch ticker thread: {err}");
    }
}

//! Errors of the runtime facade: building the engine and loading a component.

use std::path::PathBuf;

/// The engine could not be built from a [`crate::RuntimeConfig`].
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// A configuration value is out of range.
    #[error("invalid runtime config: {0}")]
    InvalidConfig(String),
    /// wasmtime rejected the engine configuration.
    #[error("cannot create the wasmtime engine: {0}")]
    Engine(String),
    /// The instance pool's address space could not be reserved (a small machine, `ulimit -v`,
    /// valgrind): the message names the knobs that shrink it.
    #[error(
        "cannot reserve the instance pool ({instances} instances x {slot_bytes} bytes of address space each, {total_bytes} in all): {message}; lower runtime.max_instances or runtime.memory_reservation"
    )]
    PoolReservation {
        instances: u32,
        slot_bytes: u64,
        total_bytes: u64,
        message: String,
    },
    /// The `.cwasm` cache directory cannot be created or secured.
    #[error("cannot prepare the cache directory {path}: {source}")]
    CacheDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// A component was rejected or could not be prepared for invocation.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The file is larger than `RuntimeConfig::max_component_bytes`.
    #[error("component is {size} bytes, over the limit of {max} bytes")]
    TooLarge { size: u64, max: u64 },
    /// The bytes are not WebAssembly at all.
    #[error("not a WebAssembly component: {0}")]
    NotWasm(String),
    /// A core module where a component was expected.
    #[error(
        "this is a core WebAssembly module, not a component: build for wasm32-wasip2 \
         (`cargo build --release --target wasm32-wasip2`)"
    )]
    CoreModule,
    /// A component that does not target the `wasmboost:task` world; names what is missing.
    #[error("component does not target the wasmboost:task@0.1.0 world: {0}")]
    WrongWorld(String),
    /// Validation or compilation failed.
    #[error("cannot compile component: {0}")]
    Compile(String),
    /// Reading or writing the `.cwasm` cache failed.
    #[error("component cache error at {path}: {message}")]
    Cache { path: PathBuf, message: String },
    /// Reading the component file failed.
    #[error("cannot read component {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

//! Content-addressed module store, versions, and queue -> module bindings.
//!
//! - [`registry`]: [`Registry`]: `deploy`, `versions`, `rollback`, `current`, `queues`; the
//!   bounds on compiles and kept versions ([`RegistryLimits`]) and the collection of old ones.
//! - [`binding`]: [`Version`] and the per-queue binding document kept in the state store.
//! - [`compile`]: [`Compiler`]: compile uploads in process or in a killable, memory-limited child.
//! - [`metrics`]: [`RegistryCounts`]: compile time, cache hits and misses, deploys.
//! - [`error`]: [`RegistryError`] with predicates (`is_rejection`, `is_not_found`).

pub mod binding;
pub mod compile;
pub mod error;
pub mod metrics;
pub mod registry;

pub use binding::Version;
pub use compile::{COMPILE_SUBCOMMAND, Compiler, DEFAULT_COMPILE_MEMORY, DEFAULT_COMPILE_TIMEOUT};
pub use error::RegistryError;
pub use metrics::RegistryCounts;
pub use registry::{
    DEFAULT_COMPILE_WAIT, DEFAULT_KEEP_VERSIONS, Registry, RegistryLimits, default_max_compiles,
};

//! Content-addressed module store, versions, and queue -> module bindings.
//!
//! - [`registry`]: [`Registry`]: `deploy`, `versions`, `rollback`, `current`, `queues`.
//! - [`binding`]: [`Version`] and the per-queue binding document kept in the state store.
//! - [`compile`]: [`Compiler`]: compile uploads in process or in a killable child process.
//! - [`error`]: [`RegistryError`] with predicates (`is_rejection`, `is_not_found`).

pub mod binding;
pub mod compile;
pub mod error;
pub mod registry;

pub use binding::Version;
pub use compile::{COMPILE_SUBCOMMAND, Compiler, DEFAULT_COMPILE_TIMEOUT};
pub use error::RegistryError;
pub use registry::Registry;

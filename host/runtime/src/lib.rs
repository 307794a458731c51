//! The only crate that touches wasmtime: one engine per process, the pooling allocator, compile
//! and `.cwasm` cache, per-invocation budgets (fuel, wall clock, memory) and typed outcomes.
//!
//! - [`config`]: [`RuntimeConfig`] and the wasmtime configuration built from it.
//! - [`error`]: [`RuntimeError`], [`LoadError`].
//! - [`outcome`]: what an invocation asks for ([`Invocation`], [`Limits`]) and reports ([`Report`]).
//! - `runtime`: [`Runtime`] (engine, linker, epoch ticker, load).
//! - `module`: [`TaskModule`] and its `invoke`.
//! - [`interrupt`]: [`Interrupt`], which stops one running invocation (cancel by id).
//! - `host`: per-invocation store data, the memory limiter, the `log` import.
//! - `capture`: bounded stdout/stderr/log buffers; the guest log, capped and escaped.
//! - [`text`]: capping and escaping of guest text before the host logs or records it.
//! - `cache`: the HMAC-checked `.cwasm` cache.
//! - `validate`: size and component checks before compiling.
//! - `trap`: mapping errors to [`TrapKind`].
//! - `swap`: whether the dirty-page reset is safe (no swap).
//! - `bindings`: host bindings for `wit/0.1.0` and `wit/0.2.0`.
//! - [`grants`]: what a queue's tasks may reach ([`Grants`], [`Access`]), denied by default.
//! - [`egress`]: outbound HTTP through the allow-list, public addresses only, capped.
//! - `imports`: the host side of the 0.2.0 `kv`, `publish` and `config` imports.
//! - [`services`]: [`TaskServices`], the state store and broker behind `kv` and `publish`.

mod bindings;
mod cache;
mod capture;
pub mod config;
pub mod egress;
pub mod error;
pub mod grants;
mod host;
mod imports;
pub mod interrupt;
mod module;
pub mod outcome;
mod runtime;
pub mod services;
mod swap;
pub mod text;
mod trap;
mod validate;

pub use bindings::CONTRACTS;
pub use capture::GUEST_TARGET;
pub use config::RuntimeConfig;
pub use error::{LoadError, RuntimeError};
pub use grants::{Access, DirGrant, Grants, HttpGrant, KvGrant, Secret};
pub use imports::MAX_KV_KEY_BYTES;
pub use interrupt::Interrupt;
pub use module::TaskModule;
pub use outcome::{
    Captured, Invocation, Limits, Outcome, Phases, Report, TaskContext, TaskError, TrapKind,
};
pub use runtime::Runtime;
pub use services::{FollowUp, ServiceError, TaskServices};

/// Version of the wasmtime engine compiled into this host (`wasmboost --version` prints it).
pub const ENGINE_VERSION: &str = wasmtime_environ::VERSION;

//! Write a wasmboost task as a plain Rust function.
//!
//! ```ignore
//! #[wasmboost_guest::task]
//! fn add(x: i64, y: i64) -> i64 {
//!     x + y
//! }
//! ```
//!
//! Build the crate (`crate-type = ["cdylib"]`) with `cargo build --release --target
//! wasm32-wasip2`; the `.wasm` file is a component the host runs once per message. See
//! `guest-sdk/README.md` for the guide.
//!
//! Modules:
//! - [`context`]: [`Context`], what the host says about the invocation in progress.
//! - [`error`]: [`TaskError`], how a task asks to fail, retry or dead-letter.
//! - [`log`](mod@log): [`log()`], [`Level`] and the [`trace!`]..[`error!`] macros.
//! - [`http`]: blocking outbound HTTP over `wasi:http` (`http::get(url)?.text()?`).
//! - [`kv`]: the queue's key-value namespace.
//! - [`publish`](mod@publish): follow-up tasks to other queues.
//! - [`config`]: granted configuration values and secrets.
//! - [`grant`]: [`GrantError`], how kv, publish and config report a refusal.
//!
//! Everything in `http`, `kv`, `publish` and `config` reaches only what the queue's `grants` in
//! the host's `wasmboost.toml` allow; nothing is granted by default.
//! - `args` (private): decoding the JSON payload into the function's arguments.
//! - `glue` (private): the code behind the component export that `#[task]` generates.

// The generated bindings name the runtime by its public path, which must resolve here too.
extern crate self as wasmboost_guest;

mod args;
pub mod config;
pub mod context;
pub mod error;
mod glue;
pub mod grant;
pub mod http;
pub mod kv;
pub mod log;
pub mod publish;

pub use context::Context;
pub use error::{ErrorKind, TaskError};
pub use grant::{GrantError, GrantErrorKind};
pub use log::{Level, log};
pub use publish::{PublishOptions, publish, publish_with};

/// Turns a function into the task's component export.
///
/// Parameters are read by name from the published JSON object (`{"x": 1, "y": 2}`); an `extra`
/// key is delivery metadata and is skipped. Every parameter type must implement
/// `serde::Deserialize`; `Option<T>` parameters may be omitted, and a parameter marked
/// `#[default]` (or `#[default(expr)]`) takes `Default::default()` (or `expr`) when omitted. A
/// missing, mistyped or unknown argument fails the task with a message naming the argument and
/// its expected type.
///
/// The first parameter may be `ctx: &Context`. The return type must implement
/// `serde::Serialize`; a return type spelled `Result<T, E>` maps `Err(e)` to a failure through
/// `E: Into<TaskError>` (any `Display` error fails; a [`TaskError`] keeps its kind: fail, retry
/// or dead-letter).
///
/// Only one function per crate may carry this attribute: a component has one `handle` export.
pub use wasmboost_guest_macros::task;

/// Starts the line a panicking task writes to stderr, followed by `FILE:LINE:COL:` and, on the
/// next line(s), the panic message. The host maps the trap that follows a panic to a `panic`
/// outcome carrying that message.
pub const PANIC_MARKER: &str = "panicked at ";

/// The code `#[task]` generates calls into this module. Not a public API: it may change in any
/// release.
#[doc(hidden)]
pub mod __private {
    pub use crate::args::{Args, Param};
    pub use crate::glue::bindings::wasmboost::task::types::{
        Context as WitContext, TaskError as WitTaskError,
    };
    pub use crate::glue::bindings::{self, Guest, export};
    pub use crate::glue::{handle, output, output_result};
    pub use wit_bindgen;
}

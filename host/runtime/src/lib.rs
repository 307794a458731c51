//! The only crate that touches wasmtime.
//!
//! - [`outcome`]: what an invocation asks for ([`Invocation`], [`Limits`]) and reports ([`Report`]).

pub mod outcome;

pub use outcome::{Captured, Invocation, Limits, Outcome, Report, TaskContext, TaskError, TrapKind};

//! What an invocation asks for and what it reports: plain data, no wasmtime types.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Per-invocation budgets. Every invocation gets all three.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limits {
    /// Fuel units (roughly one per wasm instruction) the call may consume.
    pub fuel: u64,
    /// Wall-clock time from the start of instantiation to the end of the call.
    pub timeout: Duration,
    /// Maximum bytes of linear memory the instance may hold (all memories together).
    pub memory_bytes: u64,
}

/// Who is running and why: handed to the guest as its `context`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskContext {
    pub task_id: String,
    pub queue: String,
    /// 1-based attempt number.
    pub attempt: u32,
    /// Milliseconds since the Unix epoch.
    pub publish_time_ms: u64,
}

/// One call of a task.
#[derive(Debug, Clone)]
pub struct Invocation {
    pub context: TaskContext,
    /// The message as a JSON object (arguments + optional `extra`).
    pub payload: String,
    pub limits: Limits,
}

/// A task's own report that it did not produce a result (the WIT `task-error`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum TaskError {
    /// Do not retry.
    Fail { reason: String },
    /// Retry later; `delay` overrides the queue's backoff when present.
    Retry {
        reason: String,
        delay: Option<Duration>,
    },
    /// Give up now and dead-letter.
    DeadLetter { reason: String },
}

/// Why the host stopped a guest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "message", rename_all = "kebab-case")]
pub enum TrapKind {
    /// The fuel budget ran out.
    OutOfFuel,
    /// The wall-clock deadline passed (epoch interruption or the host-side timeout).
    Timeout,
    /// A memory or table grow beyond the budget failed.
    MemoryLimit,
    /// The guest exhausted its stack: the native one wasmtime bounds (`max_wasm_stack`, 512 KiB),
    /// or the shadow stack a Rust guest keeps in linear memory (its `-zstack-size`, 128 KiB in
    /// the SDK's build profile), recognised by the fault address its wrapped pointer produces.
    StackOverflow,
    /// The guest panicked (wasm `unreachable` after a panic); the panic message when captured.
    Panic(String),
    /// Stopped from outside through its [`Interrupt`](crate::Interrupt) (a cancel by id).
    Cancelled,
    /// Any other trap, with wasmtime's message.
    Other(String),
}

impl TrapKind {
    /// Every kind's [`name`](TrapKind::name), in [`index`](TrapKind::index) order (the
    /// `/metrics` traps counter keeps one slot per kind).
    pub const NAMES: [&'static str; 7] = [
        "out-of-fuel",
        "timeout",
        "memory-limit",
        "stack-overflow",
        "panic",
        "cancelled",
        "trap",
    ];

    /// Short stable name used in logs, metrics and the CLI: `out-of-fuel`, `timeout`, ...
    pub fn name(&self) -> &'static str {
        Self::NAMES[self.index()]
    }

    /// This kind's position in [`TrapKind::NAMES`].
    pub fn index(&self) -> usize {
        match self {
            TrapKind::OutOfFuel => 0,
            TrapKind::Timeout => 1,
            TrapKind::MemoryLimit => 2,
            TrapKind::StackOverflow => 3,
            TrapKind::Panic(_) => 4,
            TrapKind::Cancelled => 5,
            TrapKind::Other(_) => 6,
        }
    }
}

/// How an invocation ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "kebab-case")]
pub enum Outcome {
    /// The task returned this JSON document (validated by the host).
    Ok { result: String },
    /// The task returned a typed error.
    TaskError { error: TaskError },
    /// The host stopped the guest.
    Trap { trap: TrapKind },
}

/// Output a guest wrote, bounded by the host.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Captured {
    pub text: String,
    /// True when the guest wrote more than the bound and the rest was dropped.
    pub truncated: bool,
}

/// How long each step of one invocation took.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Phases {
    /// Creating the instance: allocating its memories and tables from the pool, linking, and
    /// running the component's start functions.
    pub instantiate: Duration,
    /// The `handle` call itself.
    pub call: Duration,
    /// Dropping the store: resetting the memory and tables so their pool slots can be reused.
    pub teardown: Duration,
}

/// Everything known about one finished invocation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Report {
    pub outcome: Outcome,
    pub fuel_used: u64,
    pub duration: Duration,
    /// Where `duration` went; the rest is host bookkeeping around the call.
    #[serde(default)]
    pub phases: Phases,
    pub peak_memory_bytes: u64,
    pub stdout: Captured,
    pub stderr: Captured,
    /// Lines the guest wrote through the `log` import, `LEVEL message` each.
    pub logs: Captured,
    /// Calls the queue's grants refused (0.2.0 imports and `wasi:http`): each also returned a
    /// typed error to the guest.
    #[serde(default)]
    pub denied: u32,
}

//! Per-invocation store data: the WASI context (no ambient authority), the resource limiter and
//! the bounded captures, plus the host side of the `log` import.

use wasmtime::component::{Linker, ResourceTable, WasmStr};
use wasmtime::{AsContext, ResourceLimiter, StoreContextMut};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use crate::bindings::wasmboost::task::log::Level;
use crate::capture::{BoundedPipe, GuestLog};
use crate::config::MAX_LOG_MESSAGE_BYTES;
use crate::text::prefix;

/// Core instances one invocation may create.
const MAX_INSTANCES_PER_STORE: usize = 32;
/// Tables one invocation may create.
const MAX_TABLES_PER_STORE: usize = 16;
/// Memories one invocation may create.
const MAX_MEMORIES_PER_STORE: usize = 4;
/// Elements any one table may hold.
const MAX_TABLE_ELEMENTS_PER_TABLE: usize = 100_000;

/// Raised from the limiter when a memory or table grow passes the budget; becomes
/// [`crate::TrapKind::MemoryLimit`].
#[derive(Debug, thiserror::Error)]
#[error("{what} grow to {desired} bytes exceeds the limit of {limit} bytes")]
pub(crate) struct MemoryLimitExceeded {
    what: &'static str,
    desired: u64,
    limit: u64,
}

/// Memory accounting for one store: all linear memories together, plus the peak reached.
#[derive(Debug)]
pub(crate) struct Limiter {
    limit: u64,
    current: u64,
    pub(crate) peak: u64,
}

impl Limiter {
    fn new(limit: u64) -> Self {
        Limiter {
            limit,
            current: 0,
            peak: 0,
        }
    }
}

impl ResourceLimiter for Limiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let delta = (desired as u64).saturating_sub(current as u64);
        let total = self.current.saturating_add(delta);
        if total > self.limit {
            return Err(wasmtime::Error::new(MemoryLimitExceeded {
                what: "memory",
                desired: total,
                limit: self.limit,
            }));
        }
        self.current = total;
        self.peak = self.peak.max(total);
        Ok(true)
    }

    fn memory_grow_failed(&mut self, error: wasmtime::Error) -> wasmtime::Result<()> {
        // The pool slot is smaller than the request: still the memory budget that ended it.
        Err(wasmtime::Error::new(MemoryLimitExceeded {
            what: "memory",
            desired: self.current,
            limit: self.limit,
        })
        .context(error.to_string()))
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= MAX_TABLE_ELEMENTS_PER_TABLE)
    }

    fn instances(&self) -> usize {
        MAX_INSTANCES_PER_STORE
    }

    fn tables(&self) -> usize {
        MAX_TABLES_PER_STORE
    }

    fn memories(&self) -> usize {
        MAX_MEMORIES_PER_STORE
    }
}

/// Everything a store holds for one invocation.
pub(crate) struct HostState {
    wasi: WasiCtx,
    table: ResourceTable,
    pub(crate) limiter: Limiter,
    pub(crate) logs: GuestLog,
    task_id: String,
}

impl std::fmt::Debug for HostState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HostState")
            .field("task_id", &self.task_id)
            .finish_non_exhaustive()
    }
}

/// The captures the host reads after the call.
#[derive(Debug, Clone)]
pub(crate) struct Pipes {
    pub(crate) stdout: BoundedPipe,
    pub(crate) stderr: BoundedPipe,
    pub(crate) logs: BoundedPipe,
}

impl HostState {
    /// A fresh state: no env, no args, no preopens, no sockets, no name lookup, stdin closed,
    /// stdout/stderr into bounded buffers.
    pub(crate) fn new(
        queue: String,
        task_id: String,
        memory_limit: u64,
        output_cap: usize,
    ) -> (Self, Pipes) {
        let pipes = Pipes {
            stdout: BoundedPipe::new(output_cap),
            stderr: BoundedPipe::new(output_cap),
            logs: BoundedPipe::new(output_cap),
        };
        let wasi = WasiCtx::builder()
            .stdout(pipes.stdout.clone())
            .stderr(pipes.stderr.clone())
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .build();
        let state = HostState {
            wasi,
            table: ResourceTable::new(),
            limiter: Limiter::new(memory_limit),
            logs: GuestLog::new(
                pipes.logs.clone(),
                MAX_LOG_MESSAGE_BYTES,
                queue,
                task_id.clone(),
            ),
            task_id,
        };
        (state, pipes)
    }
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

/// Links the `log` import by hand rather than through the generated trait: the generated one
/// lifts the whole message into a `String`, so a 40 MB `log()` would cost a 40 MB copy before
/// any cap applied. Here the message stays in the guest's memory ([`WasmStr`] borrows it) and
/// only the first [`MAX_LOG_MESSAGE_BYTES`] are copied out.
pub(crate) fn add_log_to_linker(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    let mut instance = linker.instance(LOG_INTERFACE)?;
    instance.func_wrap(
        "log",
        |mut store: StoreContextMut<'_, HostState>, (level, message): (Level, WasmStr)| {
            let (head, len) = {
                let text = message.to_str(store.as_context())?;
                (prefix(&text, MAX_LOG_MESSAGE_BYTES).to_owned(), text.len())
            };
            store.data_mut().logs.write(level, &head, len);
            Ok(())
        },
    )
}

/// The `log` interface's name in `wit/0.1.0/task.wit`.
const LOG_INTERFACE: &str = "wasmboost:task/log@0.1.0";

impl crate::bindings::wasmboost::task::types::Host for HostState {}

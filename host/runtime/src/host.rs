//! Per-invocation store data: the WASI context (no ambient authority beyond the queue's
//! granted directories), the `wasi:http` context with the egress hooks, the resource limiter
//! and the bounded captures, plus the host side of the `log` import (both contract versions).

use std::sync::Arc;
use std::sync::atomic::AtomicU32;
use std::time::Instant;

use wasmtime::component::{Linker, ResourceTable, WasmStr};
use wasmtime::{AsContext, ResourceLimiter, StoreContextMut};
use wasmtime_wasi::{FsPerms, WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

use crate::bindings::wasmboost::task::log::Level;
use crate::capture::{BoundedPipe, GuestLog};
use crate::config::MAX_LOG_MESSAGE_BYTES;
use crate::egress::Egress;
use crate::grants::{Access, DirGrant};
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
    http: WasiHttpCtx,
    egress: Egress,
    table: ResourceTable,
    pub(crate) limiter: Limiter,
    pub(crate) logs: GuestLog,
    task_id: String,
    /// The invocation's queue: the kv namespace and the publisher of follow-ups.
    pub(crate) queue: String,
    pub(crate) access: Access,
    /// Calls refused by the grants (kv, publish, config, http), reported with the outcome.
    pub(crate) denied: Arc<AtomicU32>,
    /// Follow-ups published so far.
    pub(crate) publishes: u32,
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

/// Who runs, under which budgets and grants: what [`HostState::new`] needs.
#[derive(Debug)]
pub(crate) struct Setup<'a> {
    pub(crate) queue: String,
    pub(crate) task_id: String,
    pub(crate) memory_limit: u64,
    pub(crate) output_cap: usize,
    pub(crate) access: &'a Access,
    pub(crate) deadline: Instant,
}

impl HostState {
    /// A fresh state: no env, no args, no sockets, no name lookup, stdin closed, stdout/stderr
    /// into bounded buffers; the granted directories preopened and outbound HTTP through the
    /// egress hooks (which refuse everything without an `http` grant). Fails only when a
    /// granted directory cannot be opened.
    pub(crate) fn new(setup: Setup<'_>) -> wasmtime::Result<(Self, Pipes)> {
        let pipes = Pipes {
            stdout: BoundedPipe::new(setup.output_cap),
            stderr: BoundedPipe::new(setup.output_cap),
            logs: BoundedPipe::new(setup.output_cap),
        };
        let mut builder = WasiCtx::builder();
        builder
            .stdout(pipes.stdout.clone())
            .stderr(pipes.stderr.clone())
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false);
        preopen(&mut builder, &setup.access.grants.dirs)?;
        let denied = Arc::new(AtomicU32::new(0));
        let grant = setup.access.grants.http.clone();
        let state = HostState {
            wasi: builder.build(),
            http: WasiHttpCtx::new(),
            egress: Egress::new(grant, denied.clone(), setup.deadline),
            table: ResourceTable::new(),
            limiter: Limiter::new(setup.memory_limit),
            logs: GuestLog::new(
                pipes.logs.clone(),
                MAX_LOG_MESSAGE_BYTES,
                setup.queue.clone(),
                setup.task_id.clone(),
            ),
            task_id: setup.task_id,
            queue: setup.queue,
            access: setup.access.clone(),
            denied,
            publishes: 0,
        };
        Ok((state, pipes))
    }
}

/// Preopens each granted directory (cap-std: no `..`, absolute or symlink escape); a read-only
/// one gets read permissions only.
fn preopen(builder: &mut WasiCtxBuilder, dirs: &[DirGrant]) -> wasmtime::Result<()> {
    for dir in dirs {
        let perms = if dir.writable {
            FsPerms::ReadWrite
        } else {
            FsPerms::ReadOnly
        };
        builder
            .preopened_dir(&dir.host, &dir.guest, perms)
            .map_err(|err| {
                err.context(format!(
                    "cannot open the granted directory {}",
                    dir.host.display()
                ))
            })?;
    }
    Ok(())
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for HostState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.egress,
        }
    }
}

/// Links the `log` import by hand rather than through the generated trait: the generated one
/// lifts the whole message into a `String`, so a 40 MB `log()` would cost a 40 MB copy before
/// any cap applied. Here the message stays in the guest's memory ([`WasmStr`] borrows it) and
/// only the first [`MAX_LOG_MESSAGE_BYTES`] are copied out.
pub(crate) fn add_log_to_linker(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    for interface in LOG_INTERFACES {
        let mut instance = linker.instance(interface)?;
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
        )?;
    }
    Ok(())
}

/// The `log` interface's name in `wit/0.1.0/task.wit` and `wit/0.2.0/task.wit` (the same
/// interface in both: its `level` enum has the same cases).
const LOG_INTERFACES: [&str; 2] = ["wasmboost:task/log@0.1.0", "wasmboost:task/log@0.2.0"];

impl crate::bindings::wasmboost::task::types::Host for HostState {}

//! [`RuntimeConfig`] and the wasmtime [`Config`] built from it: every engine-wide limit in one place.

use std::path::PathBuf;

use wasmtime::{Config, Enabled, InstanceAllocationStrategy, PoolingAllocationConfig};

use crate::error::RuntimeError;

/// Default cap on a component's size in bytes (50 MiB).
pub const DEFAULT_MAX_COMPONENT_BYTES: u64 = 50 * 1024 * 1024;
/// Default pool capacity: concurrently live instances.
pub const DEFAULT_MAX_INSTANCES: u32 = 1000;
/// Default largest linear memory a caller may ask for per invocation (256 MiB).
pub const DEFAULT_MAX_MEMORY_BYTES: u64 = 256 * 1024 * 1024;
/// Default address space reserved for each pooled linear memory (4 GiB): every 32-bit address a
/// guest can form lands in the reservation or its guard, so compiled code needs no bounds checks.
/// The pool reserves `max_instances` times this plus [`MEMORY_GUARD_BYTES`] up front (4.1 TiB of
/// address space at the defaults; none of it is memory until touched).
pub const DEFAULT_MEMORY_RESERVATION: u64 = 4 * 1024 * 1024 * 1024;
/// The guard region after each pooled linear memory (wasmtime's default, 32 MiB).
pub const MEMORY_GUARD_BYTES: u64 = 32 * 1024 * 1024;
/// Default bound on captured stdout, stderr and log output, each (64 KiB).
pub const DEFAULT_OUTPUT_CAP_BYTES: usize = 64 * 1024;

/// Longest piece of guest text the host keeps as one line: each `log` message, each error
/// reason a task returns, and the stdout/stderr excerpt in the host's debug log. Longer text is
/// cut and marked `…[truncated N bytes]` before the host logger or a record sees it.
pub const MAX_GUEST_LINE_BYTES: usize = 4 * 1024;
/// The per-message cap of the `log` import.
pub const MAX_LOG_MESSAGE_BYTES: usize = MAX_GUEST_LINE_BYTES;

/// Fuel for an invocation when the caller does not choose (about a few seconds of CPU).
pub const DEFAULT_FUEL: u64 = 10_000_000_000;
/// Wall-clock budget for an invocation when the caller does not choose.
pub const DEFAULT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);
/// Memory budget for an invocation when the caller does not choose (64 MiB).
pub const DEFAULT_MEMORY_BYTES: u64 = 64 * 1024 * 1024;

/// The budgets used when a caller does not choose: [`DEFAULT_FUEL`], [`DEFAULT_TIMEOUT`],
/// [`DEFAULT_MEMORY_BYTES`].
pub fn default_limits() -> crate::outcome::Limits {
    crate::outcome::Limits {
        fuel: DEFAULT_FUEL,
        timeout: DEFAULT_TIMEOUT,
        memory_bytes: DEFAULT_MEMORY_BYTES,
    }
}

/// Native stack a guest may use before it traps with a stack overflow (512 KiB).
pub const MAX_WASM_STACK: usize = 512 * 1024;
/// Fiber stack per live instance; must exceed [`MAX_WASM_STACK`] plus room for host calls.
pub const ASYNC_STACK_SIZE: usize = 1024 * 1024;
/// Bytes of each pooled linear memory and table kept resident between instances, reset with
/// `pagemap_scan` (only the pages a call dirtied are copied back) instead of being unmapped and
/// faulted in again. A Rust guest touches about 1 MiB; a componentize-py guest starts from a
/// 12.4 MiB image, so anything below ~13 MiB sends most of its pages back to the kernel after
/// every call. Untouched pages cost nothing, so the bound is generous.
pub const KEEP_RESIDENT_BYTES: usize = 64 * 1024 * 1024;
/// Core instances a component may hold (a Rust wasip2 component uses 3 to 5).
pub const MAX_CORE_INSTANCES_PER_COMPONENT: u32 = 16;
/// Tables a component may hold (a Rust wasip2 component uses 2 to 3).
pub const MAX_TABLES_PER_COMPONENT: u32 = 4;
/// Memories a component may hold.
pub const MAX_MEMORIES_PER_COMPONENT: u32 = 1;
/// Largest number of elements in one table.
pub const MAX_TABLE_ELEMENTS: usize = 20_000;
/// How often the engine-wide epoch ticks; wall-clock deadlines are checked at this granularity.
pub const EPOCH_TICK: std::time::Duration = std::time::Duration::from_millis(1);

/// Engine-wide settings. Per-invocation budgets come with each [`crate::Invocation`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuntimeConfig {
    /// Where compiled components (`.cwasm`) are cached; `None` keeps no disk cache.
    pub cache_dir: Option<PathBuf>,
    /// The file holding the cache's HMAC key (created `0600` when missing). Keep it with the
    /// data directory's secrets, not beside the artifacts it vouches for; `None` keeps it in the
    /// cache directory itself (for the one-user `wasmboost run` cache).
    pub cache_key_file: Option<PathBuf>,
    /// Largest component accepted, in bytes.
    pub max_component_bytes: u64,
    /// Pool capacity: how many instances may be live at once (sleeping tasks count).
    pub max_instances: u32,
    /// Largest per-invocation memory limit a caller may ask for.
    pub max_memory_bytes: u64,
    /// Address space reserved per pooled linear memory (the pool's slot size, at least
    /// `max_memory_bytes`). Below 4 GiB the compiled code checks every memory access itself:
    /// for machines or tools (valgrind, `ulimit -v`) that cannot reserve terabytes.
    pub memory_reservation: u64,
    /// Bound on captured stdout, stderr and log output, each, per invocation.
    pub output_cap_bytes: usize,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        RuntimeConfig {
            cache_dir: None,
            cache_key_file: None,
            max_component_bytes: DEFAULT_MAX_COMPONENT_BYTES,
            max_instances: DEFAULT_MAX_INSTANCES,
            max_memory_bytes: DEFAULT_MAX_MEMORY_BYTES,
            memory_reservation: DEFAULT_MEMORY_RESERVATION,
            output_cap_bytes: DEFAULT_OUTPUT_CAP_BYTES,
        }
    }
}

impl RuntimeConfig {
    /// Rejects values the engine cannot honour.
    pub fn validate(&self) -> Result<(), RuntimeError> {
        if self.max_instances == 0 {
            return Err(RuntimeError::InvalidConfig(
                "max_instances must be at least 1".into(),
            ));
        }
        if self.max_memory_bytes < 65536 || self.max_memory_bytes > 4 * 1024 * 1024 * 1024 {
            return Err(RuntimeError::InvalidConfig(format!(
                "max_memory_bytes {} must be between 64 KiB and 4 GiB",
                self.max_memory_bytes
            )));
        }
        if self.memory_reservation < self.max_memory_bytes {
            return Err(RuntimeError::InvalidConfig(format!(
                "memory_reservation {} is below max_memory_bytes {}: a slot must hold the largest memory",
                self.memory_reservation, self.max_memory_bytes
            )));
        }
        if self.memory_reservation > DEFAULT_MEMORY_RESERVATION {
            return Err(RuntimeError::InvalidConfig(format!(
                "memory_reservation {} is above 4 GiB, more than a 32-bit memory can address",
                self.memory_reservation
            )));
        }
        Ok(())
    }

    /// Address space the instance pool reserves for linear memories at start-up.
    pub fn pool_reservation_bytes(&self) -> u64 {
        u64::from(self.max_instances)
            .saturating_mul(MAX_MEMORIES_PER_COMPONENT.into())
            .saturating_mul(self.memory_reservation.saturating_add(MEMORY_GUARD_BYTES))
    }

    /// The wasmtime configuration for this runtime. `reset_dirty_pages` enables `pagemap_scan`.
    pub(crate) fn wasmtime_config(&self, reset_dirty_pages: bool) -> Result<Config, RuntimeError> {
        let mut config = Config::new();
        config
            .wasm_component_model(true)
            // WASIp2 hosts never run component-model async; skipping its per-store state is faster.
            .concurrency_support(false)
            // Tasks are Rust/Python compiled to linear memory; no wasm GC proposal, no collector.
            .gc_support(false)
            .consume_fuel(true)
            .epoch_interruption(true)
            .max_wasm_stack(MAX_WASM_STACK)
            .async_stack_size(ASYNC_STACK_SIZE)
            .memory_init_cow(true)
            .memory_reservation(self.memory_reservation)
            .memory_guard_size(MEMORY_GUARD_BYTES)
            .allocation_strategy(InstanceAllocationStrategy::Pooling(
                self.pooling_config(reset_dirty_pages)?,
            ));
        Ok(config)
    }

    fn pooling_config(
        &self,
        reset_dirty_pages: bool,
    ) -> Result<PoolingAllocationConfig, RuntimeError> {
        let instances = self.max_instances;
        let max_memory = usize::try_from(self.max_memory_bytes)
            .map_err(|_| RuntimeError::InvalidConfig("max_memory_bytes exceeds usize".into()))?;
        let mut pool = PoolingAllocationConfig::new();
        pool.total_component_instances(instances)
            .total_core_instances(instances.saturating_mul(MAX_CORE_INSTANCES_PER_COMPONENT))
            .total_memories(instances.saturating_mul(MAX_MEMORIES_PER_COMPONENT))
            .total_tables(instances.saturating_mul(MAX_TABLES_PER_COMPONENT))
            .total_stacks(instances)
            .max_core_instances_per_component(MAX_CORE_INSTANCES_PER_COMPONENT)
            .max_memories_per_component(MAX_MEMORIES_PER_COMPONENT)
            .max_tables_per_component(MAX_TABLES_PER_COMPONENT)
            .max_tables_per_module(MAX_TABLES_PER_COMPONENT)
            .table_elements(MAX_TABLE_ELEMENTS)
            .max_memory_size(max_memory);
        if reset_dirty_pages {
            pool.linear_memory_keep_resident(KEEP_RESIDENT_BYTES)
                .table_keep_resident(KEEP_RESIDENT_BYTES)
                .pagemap_scan(Enabled::Auto);
        }
        Ok(pool)
    }
}

//! `wasmboost __compile` (hidden): compile one component from stdin into the host's cache.
//!
//! The host runs this in a child process so it can kill a compile that takes too long and bound
//! the memory it takes (see `wasmboost_registry::Compiler::Child`). On success it prints the
//! component's sha256 and exits 0; otherwise it prints the reason on stderr and exits non-zero.
//! The engine settings that shape compiled code come from the same `RuntimeConfig` fields as the
//! parent's, so the parent can load the artifact.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use tokio::io::AsyncReadExt;
use wasmboost_runtime::{Runtime, RuntimeConfig};

#[derive(Debug, clap::Args)]
pub struct CompileCommand {
    /// The host's compiled-component cache directory; without it the component is only
    /// validated and compiled, and nothing is kept.
    #[arg(long, value_name = "DIR")]
    cache_dir: Option<PathBuf>,
    /// The cache's HMAC key file (default: `cache.key` in the cache directory).
    #[arg(long, value_name = "FILE", requires = "cache_dir")]
    cache_key: Option<PathBuf>,
    /// Refuse components larger than this many bytes.
    #[arg(long, value_name = "BYTES", default_value_t = wasmboost_runtime::config::DEFAULT_MAX_COMPONENT_BYTES)]
    max_bytes: u64,
    /// The parent's largest per-invocation memory (its pool slot size).
    #[arg(long, value_name = "BYTES", default_value_t = wasmboost_runtime::config::DEFAULT_MAX_MEMORY_BYTES)]
    max_memory_bytes: u64,
    /// The parent's address space per pooled memory (decides whether code checks bounds).
    #[arg(long, value_name = "BYTES", default_value_t = wasmboost_runtime::config::DEFAULT_MEMORY_RESERVATION)]
    memory_reservation: u64,
    /// Limit this process's heap (`RLIMIT_DATA`) to this many bytes before reading anything;
    /// an allocation past it fails and the compile stops.
    #[arg(long, value_name = "BYTES")]
    max_data_bytes: Option<u64>,
}

impl CompileCommand {
    pub async fn execute(self) -> anyhow::Result<ExitCode> {
        if let Some(limit) = self.max_data_bytes {
            limit_data(limit)?;
        }
        let wasm = read_stdin(self.max_bytes).await?;
        let config = RuntimeConfig {
            cache_dir: self.cache_dir,
            cache_key_file: self.cache_key,
            max_component_bytes: self.max_bytes,
            max_memory_bytes: self.max_memory_bytes,
            memory_reservation: self.memory_reservation,
            // One compile needs no instance pool; a small one keeps the child's reservation low.
            max_instances: 1,
            ..RuntimeConfig::default()
        };
        let runtime = Runtime::new(config).context("cannot start the compiler runtime")?;
        let sha256 = tokio::task::spawn_blocking(move || runtime.compile_to_cache(&wasm))
            .await
            .context("the compile thread failed")??;
        println!("{sha256}");
        Ok(ExitCode::SUCCESS)
    }
}

/// Caps this process's data segment (heap, anonymous writable mappings, thread stacks) at
/// `limit` bytes. `RLIMIT_DATA` rather than `RLIMIT_AS`: the engine reserves gigabytes of
/// address space it never touches (guard regions, the instance pool), which `RLIMIT_AS` would
/// count and `RLIMIT_DATA` does not, so the limit measures what a compile really uses.
#[expect(
    unsafe_code,
    reason = "setrlimit is a plain system call; the struct is fully initialized"
)]
fn limit_data(limit: u64) -> anyhow::Result<()> {
    let rlim = libc::rlimit {
        rlim_cur: limit,
        rlim_max: limit,
    };
    // SAFETY: `rlim` is a valid, initialized `rlimit` that outlives the call.
    let rc = unsafe { libc::setrlimit(libc::RLIMIT_DATA, &rlim) };
    if rc != 0 {
        let err = std::io::Error::last_os_error();
        anyhow::bail!("cannot limit the compiler's memory to {limit} bytes: {err}");
    }
    Ok(())
}

/// All of stdin, refusing more than `max` bytes without reading past it.
async fn read_stdin(max: u64) -> anyhow::Result<Vec<u8>> {
    let mut wasm = Vec::new();
    tokio::io::stdin()
        .take(max.saturating_add(1))
        .read_to_end(&mut wasm)
        .await
        .context("cannot read the component from stdin")?;
    if wasm.len() as u64 > max {
        anyhow::bail!("component is over the limit of {max} bytes");
    }
    Ok(wasm)
}

//! `wasmboost __compile` (hidden): compile one component from stdin into the host's cache.
//!
//! The host runs this in a child process so it can kill a compile that takes too long (see
//! `wasmboost_registry::Compiler::Child`). On success it prints the component's sha256 and exits
//! 0; otherwise it prints the reason on stderr and exits non-zero. The engine settings that shape
//! compiled code come from the same `RuntimeConfig` fields as the parent's, so the parent can
//! load the artifact.

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
    /// Refuse components larger than this many bytes.
    #[arg(long, value_name = "BYTES", default_value_t = wasmboost_runtime::config::DEFAULT_MAX_COMPONENT_BYTES)]
    max_bytes: u64,
    /// The parent's largest per-invocation memory (its pool slot size).
    #[arg(long, value_name = "BYTES", default_value_t = wasmboost_runtime::config::DEFAULT_MAX_MEMORY_BYTES)]
    max_memory_bytes: u64,
}

impl CompileCommand {
    pub async fn execute(self) -> anyhow::Result<ExitCode> {
        let wasm = read_stdin(self.max_bytes).await?;
        let config = RuntimeConfig {
            cache_dir: self.cache_dir,
            max_component_bytes: self.max_bytes,
            max_memory_bytes: self.max_memory_bytes,
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

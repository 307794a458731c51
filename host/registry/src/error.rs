//! [`RegistryError`]: why a deploy, rollback or lookup failed. Messages are lowercase and name
//! the queue, version or size at fault.

use std::time::Duration;

use thiserror::Error;
use wasmboost_broker::StateError;

#[derive(Debug, Error)]
pub enum RegistryError {
    /// The upload is bigger than the registry accepts.
    #[error("module is {size} bytes, over the limit of {max} bytes")]
    TooLarge { size: u64, max: u64 },
    /// The upload is not a component this host can run (not wasm, a core module, wrong world,
    /// does not compile). `reason` is the runtime's explanation.
    #[error("{reason}")]
    Rejected { reason: String },
    /// Compiling the upload took longer than the compiler's time limit; the compiler was killed.
    #[error("compiling the module took longer than {}s; it was stopped and the module refused", timeout.as_secs_f64())]
    CompileTimeout { timeout: Duration },
    /// Every compile slot stayed busy for the whole wait; the upload was not compiled.
    #[error(
        "the host is already compiling {slots} module(s), its limit (runtime.max_compiles); \
         waited {}s for a free slot; try again later",
        waited.as_secs_f64()
    )]
    CompilerBusy { slots: usize, waited: Duration },
    /// Compiling the upload needed more memory than one compile may use; the compiler was
    /// stopped.
    #[error(
        "compiling the module needed more than the compile memory limit of {limit} bytes \
         (runtime.compile_memory); it was stopped and the module refused"
    )]
    CompileMemory { limit: u64 },
    /// The compiler child process could not be run at all (a host problem, not the upload's).
    #[error("cannot run the compiler process {exe}: {detail}")]
    Compiler { exe: String, detail: String },
    /// A queue name that breaks the queue-name rule (`wasmboost_policy::names`).
    #[error(transparent)]
    InvalidQueue(#[from] wasmboost_broker::NameError),
    /// Nothing was ever deployed to the queue.
    #[error("no module deployed to queue {queue:?}")]
    NoModule { queue: String },
    /// A rollback target that does not exist.
    #[error("queue {queue:?} has no version {version} (versions: {})", list(.available))]
    NoSuchVersion {
        queue: String,
        version: u32,
        available: Vec<u32>,
    },
    /// `rollback` without a version when the current one is the oldest.
    #[error("queue {queue:?} has no version before {current} to roll back to")]
    NoPreviousVersion { queue: String, current: u32 },
    /// Stored registry data that does not read back (bad binding document, missing blob, a blob
    /// whose sha256 does not match its name).
    #[error("corrupt registry data for {what}: {detail}")]
    Corrupt { what: String, detail: String },
    /// A stored module that validated when deployed no longer loads (e.g. the host was upgraded
    /// to an incompatible runtime).
    #[error("module {sha256} of queue {queue:?} does not load: {detail}")]
    Load {
        queue: String,
        sha256: String,
        detail: String,
    },
    #[error(transparent)]
    State(#[from] StateError),
}

fn list(versions: &[u32]) -> String {
    if versions.is_empty() {
        return "none".to_owned();
    }
    let text: Vec<String> = versions.iter().map(u32::to_string).collect();
    text.join(", ")
}

impl RegistryError {
    /// The upload itself was refused (HTTP 413/422-like); the current binding is untouched.
    pub fn is_rejection(&self) -> bool {
        matches!(
            self,
            RegistryError::TooLarge { .. }
                | RegistryError::Rejected { .. }
                | RegistryError::CompileTimeout { .. }
                | RegistryError::CompileMemory { .. }
                | RegistryError::CompilerBusy { .. }
        )
    }

    /// A queue or version that does not exist (HTTP 404-like).
    pub fn is_not_found(&self) -> bool {
        matches!(
            self,
            RegistryError::NoModule { .. }
                | RegistryError::NoSuchVersion { .. }
                | RegistryError::NoPreviousVersion { .. }
        )
    }

    /// Worth retrying later (the state store was unreachable).
    pub fn is_transient(&self) -> bool {
        matches!(self, RegistryError::State(e) if e.is_transient())
    }
}

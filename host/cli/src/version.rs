//! The long `--version` text: this build's version, the task contracts it runs and the engine
//! under it, which is what an operator needs to know before deploying a module to a fleet.

use std::sync::LazyLock;

/// `wasmboost --version` prints `wasmboost ` and then this.
pub fn long_version() -> &'static str {
    static TEXT: LazyLock<String> = LazyLock::new(|| {
        format!(
            "{}\ncontracts: {}\nwasmtime: {}",
            env!("CARGO_PKG_VERSION"),
            wasmboost_runtime::CONTRACTS.join(", "),
            wasmboost_runtime::ENGINE_VERSION
        )
    });
    TEXT.as_str()
}

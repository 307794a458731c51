//! Host bindings generated from the released task contract (`wit/0.1.0/task.wit`).

wasmtime::component::bindgen!({
    path: "../../wit/0.1.0",
    world: "task",
    // `log` is a quick synchronous append; only the export needs async (fuel/epoch yielding).
    exports: { default: async },
});

/// The task contracts this host runs, `package@version`: one per folder of `wit/` that is bound
/// above (`wasmboost --version` prints them; a test checks they match `wit/`).
pub const CONTRACTS: &[&str] = &["wasmboost:task@0.1.0"];

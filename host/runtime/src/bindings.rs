//! Host bindings generated from the released task contracts (`wit/0.1.0/task.wit`,
//! `wit/0.2.0/task.wit`).
//!
//! Both versions export the same `handle` (structurally equal types), so one [`TaskPre`] serves
//! either; what differs is the imports, and the linker provides both versions' imports. A
//! 0.2.0 import reaches nothing unless the queue's grants allow it (see `imports`).

wasmtime::component::bindgen!({
    path: "../../wit/0.1.0",
    world: "task",
    // `log` is a quick synchronous append; only the export needs async (fuel/epoch yielding).
    exports: { default: async },
});

/// The 0.2.0 world: its `kv`, `publish` and `config` imports (`log` is linked by hand, as in
/// 0.1.0, and the export is called through the 0.1.0 [`TaskPre`]).
pub(crate) mod v2 {
    wasmtime::component::bindgen!({
        path: "../../wit/0.2.0",
        world: "task",
        // kv and publish wait on the state store and the broker.
        imports: { default: async },
        exports: { default: async },
    });
}

/// The task contracts this host runs, `package@version`: one per folder of `wit/` that is bound
/// above (`wasmboost --version` prints them; a test checks they match `wit/`).
pub const CONTRACTS: &[&str] = &["wasmboost:task@0.1.0", "wasmboost:task@0.2.0"];

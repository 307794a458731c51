//! Host bindings generated from the released task contract (`wit/0.1.0/task.wit`).

wasmtime::component::bindgen!({
    path: "../../wit/0.1.0",
    world: "task",
    // `log` is a quick synchronous append; only the export needs async (fuel/epoch yielding).
    exports: { default: async },
});

//! Tries to read `/etc/passwd` and list `/`, and reports what happened: with no preopened
//! directories both must fail.

use serde_json::{Value, json};

/// The outcome of one attempt: `{"ok": ...}` or `{"error": "..."}`.
fn attempt<T: Into<Value>>(result: std::io::Result<T>) -> Value {
    match result {
        Ok(v) => json!({ "ok": v.into() }),
        Err(err) => json!({ "error": err.to_string() }),
    }
}

/// `{"passwd": {...}, "root": {...}}`.
#[wasmboost_guest::task]
fn fs() -> Value {
    let passwd = attempt(std::fs::read_to_string("/etc/passwd"));
    let root = attempt(std::fs::read_dir("/").map(|entries| {
        entries
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect::<Vec<_>>()
    }));
    json!({ "passwd": passwd, "root": root })
}

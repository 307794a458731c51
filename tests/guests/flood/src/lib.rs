//! Writes `mb` MiB to stdout (64 KiB at a time) and reports how much was accepted: the host
//! must keep only its bounded capture and mark it truncated.

use std::io::Write;

use serde_json::{Value, json};

/// Bytes per write.
const CHUNK: usize = 64 * 1024;

/// `{"written": bytes, "error": null | "..."}`.
#[wasmboost_guest::task]
fn flood(mb: u64) -> Value {
    let line = [b'x'; CHUNK];
    let mut stdout = std::io::stdout().lock();
    let mut written: u64 = 0;
    for _ in 0..mb * 16 {
        if let Err(err) = stdout.write_all(&line) {
            return json!({ "written": written, "error": err.to_string() });
        }
        written += CHUNK as u64;
    }
    let flushed = stdout.flush().err().map(|e| e.to_string());
    json!({ "written": written, "error": flushed })
}

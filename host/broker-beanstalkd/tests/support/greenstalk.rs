//! Python's `greenstalk` as a foreign producer: a virtualenv (made once, reused by later runs)
//! with `greenstalk` from PyPI, made by the workspace harness's std-only venv helper.

use std::path::PathBuf;
use std::process::Command;

#[path = "../../../../tests/harness/producer.rs"]
#[allow(dead_code, reason = "this crate's tests use only the venv part")]
mod producer;

pub const WHY_SKIPPED: &str =
    "python3 -m venv or pip install greenstalk failed (no python3-venv, or PyPI unreachable)";

/// The venv's python with greenstalk importable, or `None` if it cannot be made here.
pub fn python() -> Option<PathBuf> {
    producer::venv_with("greenstalk", "greenstalk")
}

/// Put `body` into `tube` with greenstalk's defaults (priority 65536, TTR 60).
pub fn put(python: &PathBuf, port: u16, tube: &str, body: &str) {
    let script = "import sys, greenstalk\n\
        with greenstalk.Client(('127.0.0.1', int(sys.argv[1])), use=sys.argv[2]) as c:\n\
        \x20   print(c.put(sys.argv[3]))\n";
    let out = Command::new(python)
        .args(["-c", script, &port.to_string(), tube, body])
        .output()
        .expect("run python");
    assert!(out.status.success(), "greenstalk put failed: {out:?}");
}

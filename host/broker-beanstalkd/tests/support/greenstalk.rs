//! Python's `greenstalk` as a foreign producer: a virtualenv under the target directory (made
//! once, reused by later runs) with `greenstalk` from PyPI.

use std::path::PathBuf;
use std::process::Command;

pub const WHY_SKIPPED: &str =
    "python3 -m venv or pip install greenstalk failed (no python3-venv, or PyPI unreachable)";

/// The venv's python with greenstalk importable, or `None` if it cannot be made here.
pub fn python() -> Option<PathBuf> {
    let venv = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("greenstalk-venv");
    let python = venv.join("bin").join("python");
    let importable = |py: &PathBuf| {
        Command::new(py)
            .args(["-c", "import greenstalk"])
            .status()
            .is_ok_and(|s| s.success())
    };
    if importable(&python) {
        return Some(python);
    }
    let made = Command::new("python3")
        .args(["-m", "venv"])
        .arg(&venv)
        .status()
        .is_ok_and(|s| s.success());
    let installed = made
        && Command::new(&python)
            .args(["-m", "pip", "install", "--quiet", "greenstalk"])
            .status()
            .is_ok_and(|s| s.success());
    (installed && importable(&python)).then_some(python)
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

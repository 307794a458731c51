//! Harness: foreign producers in Python, as a user's own program would publish: a throwaway
//! venv per PyPI client library (made once, kept in the temp dir), and running a script in it.
//! A machine without network access to PyPI skips such tests with a printed reason.

use std::path::PathBuf;
use std::process::{Command, Output};

/// The python of a venv that has `package` (importable as `module`), made on first use; `None`
/// when it cannot be installed (no network, no `python3 -m venv`).
pub fn venv_with(package: &str, module: &str) -> Option<PathBuf> {
    let venv = std::env::temp_dir().join(format!("wasmboost-{package}-venv"));
    let python = venv.join("bin/python");
    let import = format!("import {module}");
    let ready = |python: &PathBuf| {
        Command::new(python)
            .args(["-c", &import])
            .status()
            .is_ok_and(|s| s.success())
    };
    if ready(&python) {
        return Some(python);
    }
    let made = Command::new("python3")
        .args(["-m", "venv"])
        .arg(&venv)
        .status()
        .is_ok_and(|s| s.success());
    let installed = made
        && Command::new(&python)
            .args(["-m", "pip", "install", "--quiet", package])
            .status()
            .is_ok_and(|s| s.success());
    (installed && ready(&python)).then_some(python)
}

/// Run `script` with `args` on `python`.
pub fn run(python: &PathBuf, script: &str, args: &[&str]) -> Output {
    Command::new(python)
        .arg("-c")
        .arg(script)
        .args(args)
        .output()
        .expect("python runs")
}

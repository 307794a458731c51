//! Python task projects: scaffold and build with componentize-py (used by `new` and `build`).

use std::path::{Path, PathBuf};

/// True when `dir` holds a Python task project (an `app.py`).
pub fn is_python_project(dir: &Path) -> bool {
    dir.join("app.py").is_file()
}

/// Write a new Python task project named `name` into `dir` (which must not exist).
pub fn scaffold(dir: &Path, name: &str) -> anyhow::Result<()> {
    let _ = (dir, name);
    anyhow::bail!("python projects are not supported yet")
}

/// Build the Python task project in `dir` into a component; returns the component's path.
pub fn build(dir: &Path) -> anyhow::Result<PathBuf> {
    let _ = dir;
    anyhow::bail!("python projects are not supported yet")
}

//! `wasmboost build`: build a task project into a component and print its path.

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};

use anyhow::Context as _;

/// The target every task is built for.
const WASM_TARGET: &str = "wasm32-wasip2";

#[derive(Debug, clap::Args)]
pub struct BuildCommand {
    /// The project directory (a Rust crate, or a Python project with an `app.py`).
    #[arg(default_value = ".")]
    path: PathBuf,
    /// Print `{"components": [paths]}` instead of one path per line.
    #[arg(long)]
    json: bool,
}

impl BuildCommand {
    pub async fn execute(self) -> anyhow::Result<ExitCode> {
        let dir = self.path.clone();
        let components = if super::python::is_python_project(&dir) {
            vec![super::python::build(&dir)?]
        } else {
            // cargo blocks for minutes: keep it off the async workers.
            tokio::task::spawn_blocking(move || build_rust(&dir))
                .await
                .context("the build task stopped")??
        };
        if self.json {
            let paths: Vec<String> = components.iter().map(|p| p.display().to_string()).collect();
            println!("{}", serde_json::json!({ "components": paths }));
            return Ok(ExitCode::SUCCESS);
        }
        for path in components {
            println!("{}", path.display());
        }
        Ok(ExitCode::SUCCESS)
    }
}

/// Runs the release build in `dir` (so its `.cargo/config.toml` applies) and returns the
/// `.wasm` files cargo reports. cargo's diagnostics go to the user's stderr.
fn build_rust(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    anyhow::ensure!(
        dir.join("Cargo.toml").is_file(),
        "{} has no Cargo.toml (nor an app.py): not a task project",
        dir.display()
    );
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut child = Command::new(cargo)
        .current_dir(dir)
        .args(["build", "--release", "--target", WASM_TARGET])
        .arg("--message-format=json-render-diagnostics")
        .stdout(Stdio::piped())
        .spawn()
        .context("cannot run cargo: is a Rust toolchain installed?")?;
    let stdout = child
        .stdout
        .take()
        .context("cargo's stdout was not captured")?;
    let mut components = Vec::new();
    for line in std::io::BufReader::new(stdout).lines() {
        let line = line.context("cannot read cargo's output")?;
        components.extend(wasm_artifacts(&line));
    }
    let status = child.wait().context("cannot wait for cargo")?;
    anyhow::ensure!(
        status.success(),
        "cargo build failed ({status}); if the target is missing: rustup target add {WASM_TARGET}"
    );
    anyhow::ensure!(
        !components.is_empty(),
        "the build produced no .wasm file: is `crate-type = [\"cdylib\"]` under [lib] in {}?",
        dir.join("Cargo.toml").display()
    );
    Ok(components)
}

/// The `.wasm` files named by one line of cargo's JSON messages.
fn wasm_artifacts(line: &str) -> Vec<PathBuf> {
    let Ok(msg) = serde_json::from_str::<serde_json::Value>(line) else {
        return Vec::new();
    };
    if msg["reason"] != "compiler-artifact" {
        return Vec::new();
    }
    let files = msg["filenames"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    files
        .iter()
        .filter_map(|f| f.as_str())
        .filter(|f| f.ends_with(".wasm"))
        .map(PathBuf::from)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_wasm_files_in_cargo_messages() {
        let line =
            r#"{"reason":"compiler-artifact","filenames":["/p/target/a.wasm","/p/target/a.rlib"]}"#;
        assert_eq!(
            wasm_artifacts(line),
            vec![PathBuf::from("/p/target/a.wasm")]
        );
        assert!(wasm_artifacts(r#"{"reason":"build-finished","success":true}"#).is_empty());
        assert!(wasm_artifacts("not json").is_empty());
    }
}

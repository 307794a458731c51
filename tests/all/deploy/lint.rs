//! The linters the deploy tests run, from PyPI (`deploy/requirements-lint.txt`), in a virtualenv
//! under the cargo target dir, installed on first use and again when the requirements change.
//! A test skips (saying why) only when PyPI cannot be reached.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use wasmboost_tests::host::workspace_root;

/// Installed linters: `bin` holds `python`, `hadolint`, `kubernetes-validate`.
#[derive(Debug)]
pub struct Tools {
    bin: PathBuf,
}

/// Words in pip's output that mean the package index could not be reached (not a bad pin).
const OFFLINE_SIGNS: &[&str] = &[
    "NewConnectionError",
    "Temporary failure in name resolution",
    "Network is unreachable",
    "Failed to establish a new connection",
    "ConnectTimeoutError",
    "No route to host",
];

impl Tools {
    /// The linters, installed if needed; `None` (after printing why) when PyPI is unreachable.
    pub fn get() -> Option<&'static Tools> {
        static TOOLS: OnceLock<Result<Tools, String>> = OnceLock::new();
        match TOOLS.get_or_init(install) {
            Ok(tools) => Some(tools),
            Err(why) => {
                eprintln!("SKIPPED: {why}");
                None
            }
        }
    }

    pub fn command(&self, tool: &str) -> Command {
        Command::new(self.bin.join(tool))
    }

    /// Every YAML document of `path`, as JSON (PyYAML's safe loader).
    pub fn yaml(&self, path: &Path) -> Vec<serde_json::Value> {
        let out = self
            .command("python")
            .args([
                "-c",
                "import json, sys, yaml; \
                 print(json.dumps(list(yaml.safe_load_all(open(sys.argv[1])))))",
            ])
            .arg(path)
            .output()
            .expect("the virtualenv's python runs");
        assert!(
            out.status.success(),
            "{} is not valid YAML: {}",
            path.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).expect("python printed JSON")
    }
}

fn install() -> Result<Tools, String> {
    let requirements = workspace_root().join("deploy/requirements-lint.txt");
    let wanted = std::fs::read_to_string(&requirements)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", requirements.display()));
    let venv = target_dir().join("deploy-lint-venv");
    let stamp = venv.join("requirements-lint.txt");
    let tools = Tools {
        bin: venv.join("bin"),
    };
    if std::fs::read_to_string(&stamp).is_ok_and(|have| have == wanted) {
        return Ok(tools);
    }
    let status = Command::new("python3")
        .args(["-m", "venv", "--clear"])
        .arg(&venv)
        .status()
        .expect("python3 runs (the Python SDK tests need it too)");
    assert!(
        status.success(),
        "python3 -m venv {} failed",
        venv.display()
    );
    let out = tools
        .command("pip")
        .args(["install", "--quiet", "--disable-pip-version-check", "-r"])
        .arg(&requirements)
        .output()
        .expect("the virtualenv's pip runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() {
        if OFFLINE_SIGNS.iter().any(|sign| stderr.contains(sign)) {
            return Err(format!(
                "PyPI is unreachable, cannot install the deploy linters: {}",
                stderr.lines().last().unwrap_or_default()
            ));
        }
        panic!(
            "pip install -r {} failed:\n{stderr}",
            requirements.display()
        );
    }
    std::fs::write(&stamp, wanted).expect("the virtualenv is writable");
    Ok(tools)
}

/// The cargo target dir these tests run from (`CARGO_TARGET_DIR`, else `<workspace>/target`).
fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| workspace_root().join("target"), PathBuf::from)
}

/// `deploy/<rel>` in this checkout.
pub fn deploy_file(rel: &str) -> PathBuf {
    let path = workspace_root().join("deploy").join(rel);
    assert!(path.is_file(), "{} is missing", path.display());
    path
}

/// `Config::load` + `validate` + the broker check on a TOML file (what `serve --config` does
/// first).
pub fn load_config(path: &Path) -> wasmboost_worker::Config {
    let config = wasmboost_worker::Config::load(path)
        .unwrap_or_else(|e| panic!("{} does not load: {e:#}", path.display()));
    config
        .validate()
        .unwrap_or_else(|e| panic!("{} is invalid: {e:#}", path.display()));
    wasmboost_backends::check(&config.broker)
        .unwrap_or_else(|e| panic!("{} has an invalid [broker]: {e:#}", path.display()));
    config
}

/// A duration such as `45s`, `2m` or `45` (seconds), in whole seconds.
pub fn seconds(text: &str) -> u64 {
    let text = text.trim();
    let (number, unit) = text.split_at(
        text.find(|c: char| !c.is_ascii_digit())
            .unwrap_or(text.len()),
    );
    let n: u64 = number
        .parse()
        .unwrap_or_else(|_| panic!("{text:?} is not a duration"));
    match unit {
        "" | "s" => n,
        "min" | "m" => n * 60,
        other => panic!("unit {other:?} of {text:?} is not handled here"),
    }
}

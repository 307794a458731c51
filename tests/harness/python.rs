//! Harness: Python guests built with the real componentize-py.
//!
//! The pinned componentize-py lives in the checkout's `.venv/` (created once by
//! `scripts/setup-python.sh`). A component build takes tens of seconds, so each build is cached
//! under the test target directory, keyed by a hash of everything that goes into it (the app
//! source, the SDK, the WIT and the tool version), and built at most once per test process.
//!
//! The build runs componentize-py with the same command line `wasmboost build` uses
//! (`host/cli/src/commands/python.rs`), but with the SDK from the checkout.

use std::collections::HashMap;
use std::fs;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex, OnceLock};

/// The componentize-py pinned by `scripts/setup-python.sh`.
pub const COMPONENTIZE_PY_VERSION: &str = "0.25.1";

/// How a failed componentize-py run's error starts (as opposed to a failure to run it at all).
const COMPONENTIZE_FAILED: &str = "componentize-py exited with";

/// A test guest that exercises the sandbox from Python: `probe(mode=..., n=..., port=...)`.
pub const PROBE_APP: &str = r#"
import logging
import socket

from wasmboost_guest import DeadLetter, Retry, context, task

COUNTER = 0


def _recurse(depth):
    return _recurse(depth + 1) + 1


@task
def probe(mode: str, n: int = 0, port: int = 0, path: str = "/etc/passwd"):
    global COUNTER
    COUNTER += 1
    if mode == "counter":
        return COUNTER
    if mode == "context":
        return [context.task_id, context.queue, context.attempt, context.deadline_ms]
    if mode == "spin":
        while True:
            pass
    if mode == "alloc":
        return len([0] * (n * 1024 * 1024))
    if mode == "recurse":
        return _recurse(0)
    if mode == "open":
        with open(path) as f:
            return f.read()
    if mode == "connect":
        with socket.create_connection(("127.0.0.1", port), timeout=2) as conn:
            conn.sendall(b"hello from the sandbox")
            return "connected"
    if mode == "log":
        for i in range(n):
            logging.info("log line %d %s", i, "x" * 100)
        return n
    if mode == "print":
        for i in range(n):
            print("print line", i, "y" * 100)
        return n
    if mode == "retry":
        raise Retry("not yet", delay=n)
    if mode == "retry-default":
        raise Retry("not yet")
    if mode == "dead":
        raise DeadLetter("poison message")
    if mode == "raise":
        raise ValueError(f"bad value {n}")
    if mode == "set":
        return {1, 2}
    raise ValueError(f"unknown mode {mode!r}")
"#;

/// A task that fails when it finds module state an earlier call left: a module-level list, a
/// dict and a large buffer (`mb` MiB, to dirty memory below and above the resident threshold).
pub const LEFTOVER_APP: &str = r#"
from wasmboost_guest import task

SEEN = []
STATE = {"calls": 0}
BIG = None


@task
def leftover(mb: int = 0):
    global BIG
    if SEEN or STATE["calls"] or BIG is not None:
        raise RuntimeError(f"found an earlier call's state: {SEEN!r} {STATE!r} {BIG is not None}")
    SEEN.append(1)
    STATE["calls"] += 1
    BIG = bytearray(b"W" * (mb << 20))
    return len(SEEN)
"#;

/// A module without a `@task`: the build must fail and say so.
pub const NO_TASK_APP: &str = "def add(x, y):\n    return x + y\n";

/// A module with two `@task`s: the build must fail and say so.
pub const TWO_TASKS_APP: &str = r#"
from wasmboost_guest import task

@task
def one():
    return 1

@task
def two():
    return 2
"#;

/// The wasmboost checkout (the parent of `tests/`).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent: the checkout")
        .to_path_buf()
}

/// `examples/python/<name>/app.py`, built (cached); panics with the build error.
pub fn example(name: &str) -> PathBuf {
    let app = repo_root()
        .join("examples/python")
        .join(name)
        .join("app.py");
    let source = fs::read_to_string(&app)
        .unwrap_or_else(|e| panic!("cannot read example {}: {e}", app.display()));
    built(name, &source).unwrap_or_else(|e| panic!("building example {name} failed:\n{e}"))
}

/// The probe guest ([`PROBE_APP`]), built (cached).
pub fn probe() -> PathBuf {
    built("probe", PROBE_APP).unwrap_or_else(|e| panic!("building the probe guest failed:\n{e}"))
}

/// The module-state guest ([`LEFTOVER_APP`]), built (cached).
pub fn leftover() -> PathBuf {
    built("leftover", LEFTOVER_APP)
        .unwrap_or_else(|e| panic!("building the leftover guest failed:\n{e}"))
}

/// Builds `source` as a project's `app.py` at most once per process and once per content
/// (across processes, through the on-disk cache); returns the component or the build error.
pub fn built(name: &str, source: &str) -> Result<PathBuf, String> {
    /// One build slot per source hash; waiters block on the slot, not on the whole map.
    type Slot = Arc<OnceLock<Result<PathBuf, String>>>;
    static BUILDS: OnceLock<Mutex<HashMap<u64, Slot>>> = OnceLock::new();
    let key = cache_key(source);
    let slot = {
        let mut builds = BUILDS
            .get_or_init(Default::default)
            .lock()
            .expect("no panics while held");
        builds.entry(key).or_default().clone()
    };
    // Different guests build in parallel; the same one is built once and shared.
    slot.get_or_init(|| build_cached(name, source, key)).clone()
}

fn build_cached(name: &str, source: &str, key: u64) -> Result<PathBuf, String> {
    let dir = cache_dir().join(format!("{name}-{key:016x}"));
    let wasm = dir.join(format!("{name}.wasm"));
    if wasm.is_file() {
        return Ok(wasm);
    }
    // A failed build is as deterministic as a good one: remember its output too.
    let failure = cache_dir().join(format!("{name}-{key:016x}.err"));
    if let Ok(error) = fs::read_to_string(&failure) {
        return Err(error);
    }
    let result = componentize(name, source, key, &dir);
    if let Err(error) = &result
        && error.starts_with(COMPONENTIZE_FAILED)
    {
        let _ = fs::write(&failure, error);
    }
    result
}

fn componentize(name: &str, source: &str, key: u64, dir: &Path) -> Result<PathBuf, String> {
    let wasm = dir.join(format!("{name}.wasm"));
    let tool = componentize_py()?;
    let scratch = cache_dir().join(format!("{name}-{key:016x}.tmp-{}", std::process::id()));
    let _ = fs::remove_dir_all(&scratch);
    fs::create_dir_all(&scratch).map_err(|e| format!("mkdir {}: {e}", scratch.display()))?;
    fs::write(scratch.join("app.py"), source).map_err(|e| format!("write app.py: {e}"))?;
    let out = scratch.join(format!("{name}.wasm"));
    let output = Command::new(&tool)
        .args(["--quiet", "-d"])
        .arg(repo_root().join("guest-sdk/python/wit"))
        .args([
            "-w",
            "task",
            "componentize",
            "wasmboost_guest._component",
            "-p",
        ])
        .arg(&scratch)
        .arg("-p")
        .arg(repo_root().join("guest-sdk/python"))
        .arg("-o")
        .arg(&out)
        .current_dir(&scratch)
        .output()
        .map_err(|e| format!("cannot run {}: {e}", tool.display()))?;
    if !output.status.success() {
        let _ = fs::remove_dir_all(&scratch);
        return Err(format!(
            "{COMPONENTIZE_FAILED} {}\n{}{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    // Another process may have finished the same build first; either copy is fine.
    match fs::rename(&scratch, dir) {
        Ok(()) => Ok(wasm),
        Err(_) if wasm.is_file() => {
            let _ = fs::remove_dir_all(&scratch);
            Ok(wasm)
        }
        Err(e) => Err(format!("cannot move the build to {}: {e}", dir.display())),
    }
}

/// A hash of every input of a build: the app, the SDK sources, the WIT, the tool version.
fn cache_key(source: &str) -> u64 {
    let mut hasher = DefaultHasher::new();
    COMPONENTIZE_PY_VERSION.hash(&mut hasher);
    source.hash(&mut hasher);
    let root = repo_root();
    let mut inputs = vec![
        root.join("wit/0.2.0/task.wit"),
        root.join("guest-sdk/python/wit/world.wit"),
    ];
    let sdk = root.join("guest-sdk/python/wasmboost_guest");
    if let Ok(entries) = fs::read_dir(&sdk) {
        inputs.extend(entries.filter_map(|e| e.ok().map(|e| e.path())));
    }
    inputs.retain(|p| p.extension().is_some_and(|e| e == "py" || e == "wit"));
    inputs.sort();
    for path in inputs {
        path.file_name().hash(&mut hasher);
        fs::read(&path).unwrap_or_default().hash(&mut hasher);
    }
    hasher.finish()
}

/// `<target>/<profile>/python-guests`, next to the test binary.
fn cache_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary has a path");
    // <target>/<profile>/deps/all-<hash>
    let profile = exe
        .parent()
        .and_then(Path::parent)
        .expect("the test binary lives in <target>/<profile>/deps");
    profile.join("python-guests")
}

/// The pinned componentize-py in the checkout's `.venv`, running the setup script once.
pub fn componentize_py() -> Result<PathBuf, String> {
    static SETUP: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    SETUP
        .get_or_init(|| {
            let root = repo_root();
            let output = Command::new("bash")
                .arg(root.join("scripts/setup-python.sh"))
                .output()
                .map_err(|e| format!("cannot run scripts/setup-python.sh: {e}"))?;
            if !output.status.success() {
                return Err(format!(
                    "scripts/setup-python.sh failed: {}",
                    String::from_utf8_lossy(&output.stderr)
                ));
            }
            Ok(root.join(".venv/bin/componentize-py"))
        })
        .clone()
}

//! Python task projects: scaffold and build with componentize-py (used by `new` and `build`).
//!
//! A Python project is a directory with an `app.py` holding exactly one `@task` function. The
//! build runs the pinned componentize-py from a virtualenv (created by the setup script when
//! missing) against the `task` world. The guest SDK and the WIT contract are compiled into this
//! binary and written into `<project>/.wasmboost/` for each build, so a component always carries
//! the SDK of the host that built it.

use std::ffi::OsString;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use anyhow::{Context, bail};

/// The componentize-py version every Python task is built with (also pinned in the setup script).
pub const COMPONENTIZE_PY_VERSION: &str = "0.25.1";
/// Environment variable naming the virtualenv to build with (created there when missing).
pub const VENV_ENV: &str = "WASMBOOST_PY_VENV";
/// The module componentize-py wraps: the SDK's entry point, which imports the user's `app`.
const ENTRY_MODULE: &str = "wasmboost_guest._component";
/// The world every Python task targets (`guest-sdk/python/wit/world.wit`: the 0.2.0 task world
/// plus `wasi:http/outgoing-handler`; a task may use what its queue grants).
const WORLD: &str = "task";
/// Build inputs written into the project, next to the user's files.
const WORK_DIR: &str = ".wasmboost";
/// Lines of componentize-py's error output shown when a build fails for an unknown reason.
const ERROR_TAIL_LINES: usize = 25;

/// The released task contract, compiled in.
const TASK_WIT: &str = include_str!("../../../../wit/0.2.0/task.wit");
/// The Python world (the package componentize-py builds against), compiled in.
const PYTHON_WORLD_WIT: &str = include_str!("../../../../guest-sdk/python/wit/world.wit");
/// The WASI packages `wasi:http` refers to, compiled in: `(file name under deps/, contents)`.
const WASI_DEPS: &[(&str, &str)] = &[
    (
        "cli.wit",
        include_str!("../../../../guest-sdk/python/wit/deps/cli.wit"),
    ),
    (
        "clocks.wit",
        include_str!("../../../../guest-sdk/python/wit/deps/clocks.wit"),
    ),
    (
        "filesystem.wit",
        include_str!("../../../../guest-sdk/python/wit/deps/filesystem.wit"),
    ),
    (
        "http.wit",
        include_str!("../../../../guest-sdk/python/wit/deps/http.wit"),
    ),
    (
        "io.wit",
        include_str!("../../../../guest-sdk/python/wit/deps/io.wit"),
    ),
    (
        "random.wit",
        include_str!("../../../../guest-sdk/python/wit/deps/random.wit"),
    ),
    (
        "sockets.wit",
        include_str!("../../../../guest-sdk/python/wit/deps/sockets.wit"),
    ),
];
/// The venv setup script, compiled in so a binary outside the checkout can still build.
const SETUP_SCRIPT: &str = include_str!("../../../../scripts/setup-python.sh");
/// The guest SDK package, compiled in: `(file name, contents)`.
const SDK_FILES: &[(&str, &str)] = &[
    (
        "__init__.py",
        include_str!("../../../../guest-sdk/python/wasmboost_guest/__init__.py"),
    ),
    (
        "_component.py",
        include_str!("../../../../guest-sdk/python/wasmboost_guest/_component.py"),
    ),
    (
        "_context.py",
        include_str!("../../../../guest-sdk/python/wasmboost_guest/_context.py"),
    ),
    (
        "_dispatch.py",
        include_str!("../../../../guest-sdk/python/wasmboost_guest/_dispatch.py"),
    ),
    (
        "_errors.py",
        include_str!("../../../../guest-sdk/python/wasmboost_guest/_errors.py"),
    ),
    (
        "_host.py",
        include_str!("../../../../guest-sdk/python/wasmboost_guest/_host.py"),
    ),
    (
        "_publish.py",
        include_str!("../../../../guest-sdk/python/wasmboost_guest/_publish.py"),
    ),
    (
        "config.py",
        include_str!("../../../../guest-sdk/python/wasmboost_guest/config.py"),
    ),
    (
        "http.py",
        include_str!("../../../../guest-sdk/python/wasmboost_guest/http.py"),
    ),
    (
        "_wasi_http.py",
        include_str!("../../../../guest-sdk/python/wasmboost_guest/_wasi_http.py"),
    ),
    (
        "kv.py",
        include_str!("../../../../guest-sdk/python/wasmboost_guest/kv.py"),
    ),
    (
        "_logging.py",
        include_str!("../../../../guest-sdk/python/wasmboost_guest/_logging.py"),
    ),
    (
        "_task.py",
        include_str!("../../../../guest-sdk/python/wasmboost_guest/_task.py"),
    ),
    (
        "_types.py",
        include_str!("../../../../guest-sdk/python/wasmboost_guest/_types.py"),
    ),
];

/// True when `dir` holds a Python task project (an `app.py`).
pub fn is_python_project(dir: &Path) -> bool {
    dir.join("app.py").is_file()
}

/// Write a new Python task project named `name` into `dir` (which must not exist).
pub fn scaffold(dir: &Path, name: &str) -> anyhow::Result<()> {
    check_name(name)?;
    if dir.exists() {
        bail!("{} already exists; choose a new directory", dir.display());
    }
    fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let files = [
        ("app.py", APP_TEMPLATE.to_owned()),
        ("README.md", README_TEMPLATE.replace("{name}", name)),
        ("pyproject.toml", PYPROJECT_TEMPLATE.replace("{name}", name)),
        (".gitignore", GITIGNORE.to_owned()),
    ];
    for (file, text) in files {
        let path = dir.join(file);
        fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(())
}

/// Build the Python task project in `dir` into a component; returns the component's path.
pub fn build(dir: &Path) -> anyhow::Result<PathBuf> {
    if !is_python_project(dir) {
        bail!("{} has no app.py: not a Python task project", dir.display());
    }
    let dir = dir
        .canonicalize()
        .with_context(|| format!("cannot resolve {}", dir.display()))?;
    let output = dir.join(format!("{}.wasm", project_name(&dir)?));
    let tool = componentize_py(&dir)?;
    let work = write_build_inputs(&dir)?;
    let result = Command::new(&tool)
        .args(componentize_args(&work, &dir, &output))
        .current_dir(&dir)
        // componentize-py is Rust: a caller's RUST_BACKTRACE would bury the Python traceback
        // under a Rust one, past the lines the error keeps.
        .env("RUST_BACKTRACE", "0")
        .output()
        .with_context(|| format!("cannot run {}", tool.display()))?;
    if !result.status.success() {
        bail!("{}", build_failure(&result));
    }
    Ok(output)
}

/// componentize-py's command line for a project (`work` holds the SDK and the WIT).
fn componentize_args(work: &Path, dir: &Path, output: &Path) -> Vec<OsString> {
    let mut args: Vec<OsString> = vec!["--quiet".into(), "-d".into(), work.join("wit").into()];
    args.extend([
        "-w".into(),
        WORLD.into(),
        "componentize".into(),
        ENTRY_MODULE.into(),
    ]);
    args.extend([
        "-p".into(),
        dir.into(),
        "-p".into(),
        work.join("sdk").into(),
    ]);
    args.extend(["-o".into(), output.into()]);
    args
}

/// Writes the compiled-in SDK and WIT under `<dir>/.wasmboost/`, afresh: a file an older
/// wasmboost left there (the WIT's layout changed with contract 0.2.0) would be parsed with the
/// new ones and fail the build. Returns that directory.
fn write_build_inputs(dir: &Path) -> anyhow::Result<PathBuf> {
    let work = dir.join(WORK_DIR);
    if fs::symlink_metadata(&work).is_ok() {
        fs::remove_dir_all(&work).with_context(|| format!("cannot clear {}", work.display()))?;
    }
    let sdk = work.join("sdk").join("wasmboost_guest");
    let wit = work.join("wit");
    let deps = wit.join("deps");
    let contract = deps.join("wasmboost-task");
    for d in [&sdk, &wit, &deps, &contract] {
        fs::create_dir_all(d).with_context(|| format!("cannot create {}", d.display()))?;
    }
    let mut files: Vec<(PathBuf, &str)> = vec![
        (wit.join("world.wit"), PYTHON_WORLD_WIT),
        (contract.join("task.wit"), TASK_WIT),
    ];
    files.extend(
        WASI_DEPS
            .iter()
            .map(|(name, text)| (deps.join(name), *text)),
    );
    files.extend(SDK_FILES.iter().map(|(name, text)| (sdk.join(name), *text)));
    for (path, text) in files {
        fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(work)
}

/// Explains a failed componentize-py run: the SDK's own `wasmboost:` message when there is one
/// (no `@task`, two `@task`s), else the tail of the tool's output with the user's traceback.
fn build_failure(result: &Output) -> String {
    let stderr = String::from_utf8_lossy(&result.stderr);
    let stdout = String::from_utf8_lossy(&result.stdout);
    let text = format!("{stdout}{stderr}");
    if let Some(line) = text.lines().rev().find_map(sdk_message) {
        return format!("componentize-py failed: {line}");
    }
    let lines: Vec<&str> = text.lines().collect();
    let tail = lines[lines.len().saturating_sub(ERROR_TAIL_LINES)..].join("\n");
    format!(
        "componentize-py failed ({}); importing app.py at build time raised:\n{tail}",
        result.status
    )
}

/// The SDK's build-time message inside a traceback line such as `RuntimeError: wasmboost: ...`.
fn sdk_message(line: &str) -> Option<&str> {
    line.find("wasmboost: ")
        .map(|at| &line[at + "wasmboost: ".len()..])
}

/// The component's name: `[project] name` in `pyproject.toml`, else the directory's name.
fn project_name(dir: &Path) -> anyhow::Result<String> {
    let from_pyproject = fs::read_to_string(dir.join("pyproject.toml"))
        .ok()
        .and_then(|text| pyproject_name(&text));
    let name = match from_pyproject {
        Some(name) => name,
        None => dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .with_context(|| format!("{} has no directory name", dir.display()))?,
    };
    check_name(&name)?;
    Ok(name)
}

/// `name = "..."` under `[project]`: the one key we need, without a TOML dependency.
fn pyproject_name(text: &str) -> Option<String> {
    let mut in_project = false;
    for line in text.lines().map(str::trim) {
        if line.starts_with('[') {
            in_project = line == "[project]";
        } else if let Some(value) = line.strip_prefix("name").map(str::trim_start)
            && in_project
            && let Some(value) = value.strip_prefix('=')
        {
            return Some(value.trim().trim_matches(['"', '\'']).to_owned());
        }
    }
    None
}

/// Names become file names and queue-friendly identifiers: letters, digits, `-` and `_`.
fn check_name(name: &str) -> anyhow::Result<()> {
    let valid = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if !valid {
        bail!("invalid project name {name:?}: use 1-64 letters, digits, '-' or '_'");
    }
    Ok(())
}

/// The pinned componentize-py, installing it into the chosen virtualenv when missing.
fn componentize_py(dir: &Path) -> anyhow::Result<PathBuf> {
    let venv = venv_dir(dir);
    let tool = venv.join("bin").join("componentize-py");
    let stamp = venv.join(format!(".wasmboost-setup-{COMPONENTIZE_PY_VERSION}"));
    if tool.is_file() && stamp.is_file() {
        return Ok(tool);
    }
    eprintln!(
        "installing componentize-py {COMPONENTIZE_PY_VERSION} into {} (once)",
        venv.display()
    );
    let status = Command::new("bash")
        .arg("-c")
        .arg(SETUP_SCRIPT)
        .env(VENV_ENV, &venv)
        .status()
        .context("cannot run bash to set up the Python build environment")?;
    if !status.success() || !tool.is_file() {
        bail!(
            "setting up componentize-py in {} failed ({status}); it needs python3 >= 3.10 with \
             venv and access to PyPI",
            venv.display()
        );
    }
    Ok(tool)
}

/// Where the build virtualenv lives: `$WASMBOOST_PY_VENV`, else the wasmboost checkout's
/// `.venv` when this binary was built from a checkout that is still there, else the project's.
fn venv_dir(dir: &Path) -> PathBuf {
    if let Some(venv) = std::env::var_os(VENV_ENV).filter(|v| !v.is_empty()) {
        return PathBuf::from(venv);
    }
    let checkout = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    if checkout.join("scripts/setup-python.sh").is_file() {
        return checkout.join(".venv");
    }
    dir.join(".venv")
}

const APP_TEMPLATE: &str = r#""""A wasmboost task. The message {"x": 1, "y": 2} calls add(x=1, y=2)."""

import logging

from wasmboost_guest import DeadLetter, Retry, context, task

log = logging.getLogger(__name__)


@task
def add(x: int, y: int = 0) -> int:
    """Keyword arguments come from the message's keys; the return value is sent back as JSON."""
    log.info("task %s attempt %d on %s", context.task_id, context.attempt, context.queue)
    if x < 0:
        raise DeadLetter(f"x must not be negative, got {x}")
    if x == 0 and context.attempt < 2:
        raise Retry("x is zero, trying once more", delay=1)
    return x + y
"#;

const README_TEMPLATE: &str = r#"# {name}

A wasmboost task written in Python. `app.py` holds exactly one function decorated with `@task`.

```sh
wasmboost build                                   # -> {name}.wasm (componentize-py, pinned)
wasmboost run {name}.wasm --payload '{"x": 1, "y": 2}'
```

- The message's top-level keys are the function's keyword arguments; `extra` is delivery
  metadata, not an argument. Defaults apply; a missing or unknown argument fails the message and
  names it; basic type hints (`int`, `float`, `str`, `bool`, `list[...]`, `dict[str, ...]`,
  `Optional[...]`) are checked.
- The return value must be JSON-serialisable. An uncaught exception fails the message with its
  type, message and traceback.
- `raise Retry("reason", delay=5)` asks for another attempt in 5 s; `raise DeadLetter("reason")`
  gives up now; `raise Fail("reason")` fails without a traceback.
- `from wasmboost_guest import context`: `task_id`, `queue`, `attempt`, `publish_time_ms`,
  `deadline_ms` (and `deadline` as a UTC datetime).
- `logging` (INFO and above by default) and `print` go to the host's bounded log capture.
- Every message runs in a fresh sandboxed instance: globals do not carry over between messages,
  and there are no files, no network and no environment variables. Only the standard library
  and pure-Python code in this directory can be imported.
"#;

const PYPROJECT_TEMPLATE: &str = r#"[project]
name = "{name}"
version = "0.1.0"
requires-python = ">=3.10"
"#;

const GITIGNORE: &str = "/.wasmboost/\n/.venv/\n*.wasm\n__pycache__/\n";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pyproject_name_reads_the_project_table_only() {
        let text = "[tool.x]\nname = \"other\"\n[project]\nversion = \"1\"\nname = \"mine\"\n";
        assert_eq!(pyproject_name(text).as_deref(), Some("mine"));
        assert_eq!(pyproject_name("[tool.x]\nname = \"other\"\n"), None);
    }

    #[test]
    fn names_are_checked() {
        assert!(check_name("csv_stats-2").is_ok());
        for bad in ["", "a b", "../x", "é"] {
            let err = check_name(bad).expect_err("name should be rejected");
            assert!(err.to_string().contains("invalid project name"), "{err}");
        }
    }

    #[test]
    fn scaffold_writes_a_project_and_refuses_an_existing_dir() {
        let root = std::env::temp_dir().join(format!("wb-py-scaffold-{}", std::process::id()));
        let dir = root.join("hello");
        scaffold(&dir, "hello").expect("scaffold into a fresh directory");
        assert!(is_python_project(&dir));
        let readme = fs::read_to_string(dir.join("README.md")).expect("README written");
        assert!(readme.contains("wasmboost run hello.wasm"), "{readme}");
        assert_eq!(project_name(&dir).expect("name"), "hello");
        let again = scaffold(&dir, "hello").expect_err("existing dir is refused");
        assert!(again.to_string().contains("already exists"), "{again}");
        fs::remove_dir_all(&root).expect("clean up the scratch dir");
    }

    #[test]
    fn sdk_messages_are_found_in_tracebacks() {
        let line = "RuntimeError: wasmboost: app.py defines no @task function; exactly one";
        assert_eq!(
            sdk_message(line),
            Some("app.py defines no @task function; exactly one")
        );
        assert_eq!(sdk_message("Traceback (most recent call last):"), None);
    }

    #[test]
    fn the_compiled_in_sdk_lists_every_module() {
        let dir =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../guest-sdk/python/wasmboost_guest");
        let mut on_disk: Vec<String> = fs::read_dir(&dir)
            .expect("the SDK sources are in the checkout")
            .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
            .filter(|n| n.ends_with(".py"))
            .collect();
        on_disk.sort();
        let mut compiled: Vec<&str> = SDK_FILES.iter().map(|(n, _)| *n).collect();
        compiled.sort_unstable();
        assert_eq!(on_disk, compiled, "add new SDK modules to SDK_FILES");
    }
}

//! `wasmboost new`: scaffold a task project (Rust by default, Python with `--lang python`).
//!
//! The Rust scaffold depends on the guest SDK by path (it is not on crates.io yet); the SDK is
//! found through `WASMBOOST_SDK_PATH`, next to the running binary, or where this binary was
//! built from.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;

/// Environment variable naming the SDK for scaffolds: the `wasmboost-guest` crate, its
/// `guest-sdk/` folder, or a wasmboost checkout.
pub const SDK_PATH_ENV: &str = "WASMBOOST_SDK_PATH";

/// The SDK crate's place inside a wasmboost checkout.
const SDK_IN_REPO: &str = "guest-sdk/wasmboost-guest";

#[derive(Debug, clap::Args)]
pub struct NewCommand {
    /// The task's name (letters, digits, `_` and `-`; it becomes the crate and component name),
    /// or a path whose last part is the name, as `cargo new` takes (`tasks/hello`).
    name: PathBuf,
    /// Where to create the project (default: `./<name>`). Must not exist yet.
    #[arg(long)]
    path: Option<PathBuf>,
    /// The language of the task.
    #[arg(long, value_enum, default_value_t = Lang::Rust)]
    lang: Lang,
    /// Print `{"name", "path", "lang"}` of the created project instead of the next steps.
    #[arg(long)]
    json: bool,
}

/// The languages a task can be written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Lang {
    Rust,
    Python,
}

impl NewCommand {
    pub async fn execute(self) -> anyhow::Result<ExitCode> {
        let (name, dir) = self.name_and_dir()?;
        anyhow::ensure!(
            !dir.exists(),
            "{} already exists: choose another name or --path",
            dir.display()
        );
        match self.lang {
            Lang::Python => super::python::scaffold(&dir, &name)?,
            Lang::Rust => scaffold_rust(&dir, &name, &find_sdk()?)?,
        }
        if self.json {
            let lang = match self.lang {
                Lang::Rust => "rust",
                Lang::Python => "python",
            };
            let line = serde_json::json!({ "name": name, "path": dir.display().to_string(), "lang": lang });
            println!("{line}");
            return Ok(ExitCode::SUCCESS);
        }
        println!("created {name} in {}", dir.display());
        println!("build it with: wasmboost build {}", dir.display());
        Ok(ExitCode::SUCCESS)
    }
}

impl NewCommand {
    /// The task name (the last part of `NAME`) and the project directory (`--path`, else
    /// `NAME` itself, so `wasmboost new tasks/hello` creates `tasks/hello` named `hello`).
    fn name_and_dir(&self) -> anyhow::Result<(String, PathBuf)> {
        let last = self
            .name
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let is_path = self.name.components().count() > 1;
        check_name(&last).map_err(|err| {
            if is_path {
                anyhow::anyhow!("{err} (the last part of {})", self.name.display())
            } else {
                err
            }
        })?;
        let dir = self.path.clone().unwrap_or_else(|| self.name.clone());
        Ok((last, dir))
    }
}

/// A name that is a valid crate name and a plain file name.
fn check_name(name: &str) -> anyhow::Result<()> {
    let mut chars = name.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphabetic());
    let rest_ok = chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    anyhow::ensure!(
        first_ok && rest_ok,
        "invalid task name `{name}`: use a letter then letters, digits, `_` or `-`"
    );
    Ok(())
}

/// The SDK crate directory, absolute.
fn find_sdk() -> anyhow::Result<PathBuf> {
    if let Some(given) = std::env::var_os(SDK_PATH_ENV) {
        let given = PathBuf::from(given);
        return sdk_at(&given).with_context(|| {
            format!(
                "{SDK_PATH_ENV}={} does not lead to the wasmboost-guest crate",
                given.display()
            )
        });
    }
    let near_binary = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.ancestors().find_map(sdk_at));
    let built_from = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    near_binary
        .or_else(|| sdk_at(&built_from))
        .with_context(|| {
            format!(
                "cannot find the wasmboost guest SDK: set {SDK_PATH_ENV} to a wasmboost checkout"
            )
        })
}

/// `dir` itself, `dir/wasmboost-guest` or `dir/guest-sdk/wasmboost-guest`, if it holds the SDK.
fn sdk_at(dir: &Path) -> Option<PathBuf> {
    [
        dir.to_path_buf(),
        dir.join("wasmboost-guest"),
        dir.join(SDK_IN_REPO),
    ]
    .into_iter()
    .find(|d| {
        std::fs::read_to_string(d.join("Cargo.toml"))
            .is_ok_and(|toml| toml.contains("name = \"wasmboost-guest\""))
    })
    .and_then(|d| d.canonicalize().ok())
}

/// Writes the Rust project: manifest, stack-size config, one task, README, `.gitignore`.
fn scaffold_rust(dir: &Path, name: &str, sdk: &Path) -> anyhow::Result<()> {
    let files = [
        ("Cargo.toml", cargo_toml(name, sdk)),
        (".cargo/config.toml", CARGO_CONFIG.to_owned()),
        ("src/lib.rs", LIB_RS.to_owned()),
        ("README.md", readme(name, sdk)),
        (".gitignore", "/target\n".to_owned()),
    ];
    for (path, text) in files {
        let path = dir.join(path);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("cannot create {}", parent.display()))?;
        }
        std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(())
}

fn cargo_toml(name: &str, sdk: &Path) -> String {
    let sdk = toml_string(&sdk.display().to_string());
    format!(
        r#"[package]
name = "{name}"
version = "0.1.0"
edition = "2024"

# A task is a library built as a WebAssembly component: target/wasm32-wasip2/release/{file}.wasm
[lib]
crate-type = ["cdylib"]

[dependencies]
# The SDK is not published on crates.io yet: this is a path dependency on a wasmboost checkout.
wasmboost-guest = {{ path = {sdk} }}
serde = {{ version = "1", features = ["derive"] }}

# Small, fast components: the host instantiates a fresh one for every message.
[profile.release]
opt-level = 3
lto = true
codegen-units = 1
panic = "abort"
strip = "debuginfo"

# A project of its own, even when created inside another Cargo workspace.
[workspace]
"#,
        file = name.replace('-', "_"),
    )
}

/// A TOML basic string: quotes and backslashes escaped.
fn toml_string(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

/// Shared with the SDK's own examples: see `guest-sdk/README.md` on the stack size.
const CARGO_CONFIG: &str = r#"# A 128 KiB stack instead of Rust's default 1 MiB: a smaller initial memory makes every fresh
# instance cheaper. Raise it if a task recurses deeply (it then traps, it never corrupts memory).
[target.wasm32-wasip2]
rustflags = ["-C", "link-arg=-zstack-size=131072"]
"#;

const LIB_RS: &str = r#"//! A wasmboost task. Publish `{"x": 1, "y": 2}` to its queue and it returns `3`.

use wasmboost_guest::{Context, TaskError, info};

/// Adds `x` and `y`. The payload's keys are the parameters; an `Err` fails the task.
#[wasmboost_guest::task]
fn add(ctx: &Context, x: i64, y: i64) -> Result<i64, TaskError> {
    info!("adding {x} and {y} (attempt {})", ctx.attempt());
    x.checked_add(y)
        .ok_or_else(|| TaskError::fail(format!("{x} + {y} overflows")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adds_and_fails_on_overflow() {
        let ctx = Context::new("task-1", "default", 1, 0, 0);
        assert_eq!(add(&ctx, 1, 2), Ok(3));
        assert!(add(&ctx, i64::MAX, 1).is_err());
    }
}
"#;

fn readme(name: &str, sdk: &Path) -> String {
    let file = name.replace('-', "_");
    format!(
        r#"# {name}

A wasmboost task: `src/lib.rs` is a plain Rust function marked `#[wasmboost_guest::task]`.

Build the component (needs `rustup target add wasm32-wasip2` once):

    wasmboost build            # or: cargo build --release --target wasm32-wasip2

It lands in `target/wasm32-wasip2/release/{file}.wasm`. Run it once:

    wasmboost run target/wasm32-wasip2/release/{file}.wasm --payload '{{"x": 1, "y": 2}}'

Unit-test the function natively with `cargo test`.

The SDK, `wasmboost-guest`, is not published on crates.io yet, so `Cargo.toml` uses a path
dependency on a wasmboost checkout ({sdk}). Point it elsewhere if you move the project to
another machine.
"#,
        sdk = sdk.display()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn command(name: &str, path: Option<&str>) -> NewCommand {
        NewCommand {
            name: PathBuf::from(name),
            path: path.map(PathBuf::from),
            lang: Lang::Python,
            json: false,
        }
    }

    #[test]
    fn a_path_names_the_task_by_its_last_part() {
        let (name, dir) = command("tasks/hello", None).name_and_dir().expect("valid");
        assert_eq!(
            (name.as_str(), dir),
            ("hello", PathBuf::from("tasks/hello"))
        );
        let (name, dir) = command("hello", Some("elsewhere"))
            .name_and_dir()
            .expect("valid");
        assert_eq!((name.as_str(), dir), ("hello", PathBuf::from("elsewhere")));
        let err = command("tasks/9lives", None)
            .name_and_dir()
            .expect_err("a digit first");
        assert!(err.to_string().contains("`9lives`"), "{err}");
        assert!(command("tasks/..", None).name_and_dir().is_err());
    }
}

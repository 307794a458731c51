//! The guest components the tests run, built from source once per test process.
//!
//! [`guest`] builds the `tests/guests/` workspace and [`example`] the `examples/` workspace (each
//! with `cargo build --release --target wasm32-wasip2`, in its own target dir, at most once per
//! process) and return the path of one `.wasm` component. A failed build fails the calling test
//! with cargo's output. [`core_module_bytes`] is a valid core module, for rejection tests.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// The target every guest is built for.
pub const WASM_TARGET: &str = "wasm32-wasip2";

/// A `cargo` command for a build from inside a test, without the variables cargo sets for the
/// test process itself (`CARGO_PKG_*`, `CARGO_MANIFEST_DIR`, `OUT_DIR`, ...). Build scripts
/// such as ring's rerun when those change, so a nested build that inherits them recompiles
/// every crate depending on ring, once for each test crate, in the middle of `make test`.
pub fn cargo() -> Command {
    let mut command = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    for (name, _) in std::env::vars_os() {
        let Some(name) = name.to_str() else { continue };
        let set_for_a_crate = [
            "CARGO_PKG_",
            "CARGO_MANIFEST_",
            "CARGO_BIN_",
            "CARGO_CRATE_",
        ]
        .iter()
        .any(|prefix| name.starts_with(prefix))
            || ["CARGO_PRIMARY_PACKAGE", "CARGO_TARGET_TMPDIR", "OUT_DIR"].contains(&name);
        if set_for_a_crate {
            command.env_remove(name);
        }
    }
    command
}

/// The repository root (this crate lives in `tests/`).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent: the repository root")
        .to_path_buf()
}

/// The component built from `tests/guests/<name>/` (e.g. `counter`, `spin`, `echo_v1`).
pub fn guest(name: &str) -> PathBuf {
    static BUILT: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    component(&BUILT, &repo_root().join("tests").join("guests"), name)
}

/// The component built from `examples/<name>/` (e.g. `add`, `wordcount`, `hello`, `sleep`).
pub fn example(name: &str) -> PathBuf {
    static BUILT: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    component(&BUILT, &repo_root().join("examples"), name)
}

/// The bytes of [`guest`]`(name)`.
pub fn guest_bytes(name: &str) -> Vec<u8> {
    read(&guest(name))
}

/// The bytes of [`example`]`(name)`.
pub fn example_bytes(name: &str) -> Vec<u8> {
    read(&example(name))
}

/// A valid core WebAssembly module (not a component) exporting an empty `handle` function:
/// what a user gets by building for `wasm32-unknown-unknown` or `wasm32-wasip1`.
pub fn core_module_bytes() -> Vec<u8> {
    let mut wasm = b"\0asm\x01\0\0\0".to_vec();
    wasm.extend_from_slice(&[0x01, 0x04, 0x01, 0x60, 0x00, 0x00]); // type: () -> ()
    wasm.extend_from_slice(&[0x03, 0x02, 0x01, 0x00]); // one function of type 0
    wasm.extend_from_slice(&[0x07, 0x0a, 0x01, 0x06]); // export section, one name of 6 bytes
    wasm.extend_from_slice(b"handle");
    wasm.extend_from_slice(&[0x00, 0x00]); // kind func, index 0
    wasm.extend_from_slice(&[0x0a, 0x04, 0x01, 0x02, 0x00, 0x0b]); // body: no locals, end
    wasm
}

fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|err| panic!("cannot read {}: {err}", path.display()))
}

/// Builds `workspace` the first time any test asks for one of its components.
fn component(built: &OnceLock<Result<PathBuf, String>>, workspace: &Path, name: &str) -> PathBuf {
    let out_dir = match built.get_or_init(|| build_workspace(workspace)) {
        Ok(dir) => dir,
        Err(err) => panic!("{err}"),
    };
    let path = out_dir.join(format!("{name}.wasm"));
    assert!(
        path.is_file(),
        "no component `{name}` in {}: is there a crate `{name}` in that workspace?",
        out_dir.display()
    );
    path
}

/// Runs the release build of a guest workspace; returns its output dir or cargo's stderr.
pub fn build_workspace(workspace: &Path) -> Result<PathBuf, String> {
    let target_dir = workspace.join("target");
    let output = cargo()
        .current_dir(workspace)
        .args([
            "build",
            "--release",
            "--target",
            WASM_TARGET,
            "--target-dir",
        ])
        .arg(&target_dir)
        // The host build's flags must not leak into the guests' (they would also override the
        // guests' own `.cargo/config.toml` rustflags).
        .env_remove("CARGO_TARGET_DIR")
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("CARGO_BUILD_TARGET")
        .output()
        .map_err(|err| format!("cannot run cargo in {}: {err}", workspace.display()))?;
    if !output.status.success() {
        return Err(format!(
            "building the guests in {} failed ({}); is the {WASM_TARGET} target installed \
             (`rustup target add {WASM_TARGET}`)?\n{}",
            workspace.display(),
            output.status,
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    Ok(target_dir.join(WASM_TARGET).join("release"))
}

//! `deploy/container/`: hadolint on the Dockerfile; its build stage replayed as far as it goes
//! without a second release build (the COPY sources exist, the copied tree resolves as a
//! workspace with `--locked`, the build command is the Makefile's); `compose.yaml`'s hosts;
//! the image's `HEALTHCHECK` command against a real host.

use std::path::Path;
use std::process::Command;

use wasmboost_tests::host::{HostProcess, cli, workspace_root};

use super::lint::{Tools, deploy_file, load_config, seconds};

fn dockerfile() -> String {
    std::fs::read_to_string(deploy_file("container/Dockerfile")).expect("readable")
}

/// Instructions with their continuation lines joined, comments dropped.
fn instructions(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    for line in text.lines().map(str::trim) {
        if line.starts_with('#') || (line.is_empty() && current.is_empty()) {
            continue;
        }
        match line.strip_suffix('\\') {
            Some(part) => current.push_str(part),
            None => {
                current.push_str(line);
                out.push(std::mem::take(&mut current));
            }
        }
    }
    out
}

/// The build stage's `COPY <src>... <dest>` sources (not `--from`), relative to the context.
fn copy_sources(text: &str) -> Vec<String> {
    instructions(text)
        .iter()
        .filter_map(|i| i.strip_prefix("COPY "))
        .filter(|args| !args.contains("--from"))
        .flat_map(|args| {
            let words: Vec<&str> = args
                .split_whitespace()
                .filter(|w| !w.starts_with("--"))
                .collect();
            let sources = &words[..words.len().saturating_sub(1)];
            sources.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>()
        })
        .collect()
}

#[test]
fn dockerfile_passes_hadolint() {
    let Some(tools) = Tools::get() else { return };
    let out = tools
        .command("hadolint")
        .arg(deploy_file("container/Dockerfile"))
        .output()
        .expect("hadolint runs");
    assert!(
        out.status.success(),
        "hadolint:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn dockerfile_runs_the_makefile_release_build_with_non_root_healthcheck_and_sigterm() {
    let text = dockerfile();
    let steps = instructions(&text);
    let makefile = std::fs::read_to_string(workspace_root().join("Makefile")).expect("readable");
    let release = makefile
        .lines()
        .skip_while(|l| !l.starts_with("build-release:"))
        .nth(1)
        .expect("the Makefile has a build-release target")
        .trim()
        .replace("$(CARGO)", "cargo");
    assert!(
        steps
            .iter()
            .any(|s| s.starts_with(&format!("RUN {release}"))),
        "no `RUN {release}` in the Dockerfile"
    );
    let last_from = steps
        .iter()
        .rposition(|s| s.starts_with("FROM "))
        .expect("a FROM");
    assert!(
        last_from > 0,
        "multi-stage: a build stage, then the runtime"
    );
    let runtime = &steps[last_from..];
    let has = |prefix: &str| runtime.iter().any(|s| s.starts_with(prefix));
    assert!(
        has("USER 65532"),
        "the runtime stage runs as a non-root uid"
    );
    assert!(has("STOPSIGNAL SIGTERM") && has("EXPOSE 7878") && has("HEALTHCHECK "));
    let copies: Vec<&String> = runtime.iter().filter(|s| s.starts_with("COPY ")).collect();
    assert!(
        copies.iter().all(|c| c.contains("--from=build")),
        "the runtime stage takes only built files: {copies:?}"
    );
}

/// What the build stage sees: the COPY sources, minus what `Dockerfile.dockerignore` drops.
fn copy_context(into: &Path) {
    let ignore = std::fs::read_to_string(deploy_file("container/Dockerfile.dockerignore"))
        .expect("readable");
    let ignored: Vec<String> = ignore
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| l.trim_start_matches("**/").to_owned())
        .collect();
    let root = workspace_root();
    for source in copy_sources(&dockerfile()) {
        let from = root.join(&source);
        assert!(from.exists(), "COPY source {source} does not exist");
        copy_tree(&from, &into.join(&source), &ignored);
    }
}

fn copy_tree(from: &Path, to: &Path, ignored: &[String]) {
    if from.is_file() {
        std::fs::create_dir_all(to.parent().expect("a parent")).expect("writable");
        std::fs::copy(from, to).expect("copied");
        return;
    }
    for entry in std::fs::read_dir(from).expect("readable") {
        let entry = entry.expect("readable");
        let name = entry.file_name().to_string_lossy().into_owned();
        if !ignored.contains(&name) {
            copy_tree(&entry.path(), &to.join(&name), ignored);
        }
    }
}

#[test]
fn dockerfile_build_context_resolves_as_a_locked_workspace() {
    let context = tempfile::tempdir().expect("a temporary dir");
    copy_context(context.path());
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    // The build stage's `cargo build --locked` resolves exactly this: every member present,
    // Cargo.lock current. (Compiling it would be a second release build.)
    let out = Command::new(cargo)
        .args([
            "metadata",
            "--locked",
            "--offline",
            "--format-version",
            "1",
            "--no-deps",
        ])
        .current_dir(context.path())
        .output()
        .expect("cargo runs");
    assert!(
        out.status.success(),
        "the Dockerfile's build context is not a buildable workspace:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let packages = meta["packages"].as_array().expect("packages");
    assert!(packages.iter().any(|p| p["name"] == "wasmboost-cli"));
}

#[test]
fn compose_runs_three_hosts_on_one_redis_with_a_valid_config() {
    let Some(tools) = Tools::get() else { return };
    let docs = tools.yaml(&deploy_file("container/compose.yaml"));
    let compose = &docs[0];
    let services = compose["services"].as_object().expect("services");
    let config = load_config(&deploy_file("container/wasmboost.redis.toml"));
    assert_eq!(config.broker.kind(), "redis");
    let grace = config.host.shutdown_grace.0.as_secs();
    let hosts: Vec<_> = services
        .iter()
        .filter(|(_, s)| s["profiles"].is_null() && s["image"] == "wasmboost:latest")
        .collect();
    assert_eq!(hosts.len(), 3, "three hosts: {:?}", services.keys());
    for (name, host) in hosts {
        let stop = seconds(
            host["stop_grace_period"]
                .as_str()
                .expect("stop_grace_period"),
        );
        assert!(
            stop > grace,
            "{name}: stop_grace_period {stop}s ≤ shutdown_grace {grace}s"
        );
        assert_eq!(
            host["build"]["dockerfile"], "deploy/container/Dockerfile",
            "{name}"
        );
        assert_eq!(host["depends_on"]["redis"]["condition"], "service_healthy");
    }
    assert!(
        services["redis"]["image"]
            .as_str()
            .is_some_and(|i| i.starts_with("redis:"))
    );
    let file = compose["configs"]["wasmboost-redis"]["file"]
        .as_str()
        .expect("a config file");
    assert_eq!(file, "./wasmboost.redis.toml");
    load_config(&deploy_file("container/wasmboost.toml"));
}

#[test]
fn healthcheck_command_of_the_image_answers_for_a_live_host_only() {
    let host = HostProcess::start();
    let ok = cli(["healthcheck", "--addr", host.addr()]);
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let ready = cli(["healthcheck", "--ready", "--addr", host.addr()]);
    assert!(
        ready.status.success(),
        "{}",
        String::from_utf8_lossy(&ready.stderr)
    );
    drop(host);
    // Nothing listens on port 9 (discard) here: the check must fail, not hang.
    let dead = cli(["healthcheck", "--addr", "http://127.0.0.1:9"]);
    assert_eq!(dead.status.code(), Some(1));
}

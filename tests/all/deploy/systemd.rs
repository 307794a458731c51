//! `deploy/systemd/wasmboost.service`, checked by systemd's own `systemd-analyze` (no running
//! systemd needed): `verify` with the real binary as `ExecStart`, and `security --offline`.

use std::path::Path;
use std::process::{Command, Output};

use wasmboost_tests::host::wasmboost_bin;

use super::lint::{deploy_file, seconds};

/// Where the unit expects the binary; the test points it at the one just built.
const INSTALLED_BIN: &str = "/usr/local/bin/wasmboost";
/// `systemd-analyze security` exposure (0–100, lower is safer) the unit must stay under. It
/// scores 32 today ("OK"); losing one of its sandboxing lines pushes it over.
const MAX_EXPOSURE: &str = "35";

/// `systemd-analyze` if it runs here; `None` (after saying why) where it does not.
fn analyze() -> Option<Command> {
    match Command::new("systemd-analyze").arg("--version").output() {
        Ok(out) if out.status.success() => Some(Command::new("systemd-analyze")),
        Ok(out) => {
            eprintln!(
                "SKIPPED: systemd-analyze cannot run here: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            None
        }
        Err(err) => {
            eprintln!(
                "SKIPPED: no systemd-analyze ({err}); `apt-get install -y systemd` provides it \
                 (.ci/run installs it)"
            );
            None
        }
    }
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The unit as installed, but with `ExecStart` on the freshly built binary.
fn unit_under_test(dir: &Path) -> std::path::PathBuf {
    let unit = std::fs::read_to_string(deploy_file("systemd/wasmboost.service"))
        .expect("the unit is readable");
    assert!(unit.contains(&format!("ExecStart={INSTALLED_BIN} serve")));
    let bin = wasmboost_bin();
    let unit = unit.replace(
        INSTALLED_BIN,
        bin.to_str().expect("the target path is UTF-8"),
    );
    let path = dir.join("wasmboost.service");
    std::fs::write(&path, unit).expect("the temporary dir is writable");
    path
}

/// The value of `Key=` in the unit (the last one wins, as in systemd).
fn key<'a>(unit: &'a str, name: &str) -> Option<&'a str> {
    unit.lines()
        .rev()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix('='))
}

#[test]
fn unit_passes_systemd_analyze_verify_without_a_warning() {
    let Some(mut analyze) = analyze() else { return };
    let dir = tempfile::tempdir().expect("a temporary dir");
    let unit = unit_under_test(dir.path());
    let out = analyze.arg("verify").arg(&unit).output().expect("runs");
    // verify exits 0 on an unknown or misplaced key and only warns: any output is a finding.
    assert!(
        out.status.success() && text(&out).trim().is_empty(),
        "systemd-analyze verify: {}\n{}",
        out.status,
        text(&out)
    );
}

#[test]
fn unit_sandbox_scores_ok_in_systemd_analyze_security() {
    let Some(mut analyze) = analyze() else { return };
    let dir = tempfile::tempdir().expect("a temporary dir");
    let unit = unit_under_test(dir.path());
    let out = analyze
        .args(["security", "--offline=yes", "--threshold", MAX_EXPOSURE])
        .arg(&unit)
        .output()
        .expect("runs");
    assert!(
        out.status.success(),
        "exposure above {MAX_EXPOSURE}:\n{}",
        text(&out)
    );
}

#[test]
fn unit_drains_within_its_stop_timeout_and_has_no_reload() {
    let unit = std::fs::read_to_string(deploy_file("systemd/wasmboost.service"))
        .expect("the unit is readable");
    for (name, want) in [
        ("DynamicUser", "yes"),
        ("StateDirectory", "wasmboost"),
        ("ProtectSystem", "strict"),
        ("NoNewPrivileges", "yes"),
        ("KillSignal", "SIGTERM"),
        ("Restart", "on-failure"),
    ] {
        assert_eq!(key(&unit, name), Some(want), "{name}= in the unit");
    }
    assert!(key(&unit, "MemoryMax").is_some() && key(&unit, "LimitNOFILE").is_some());
    let grace = wasmboost_worker::Config::default()
        .host
        .shutdown_grace
        .0
        .as_secs();
    let stop = seconds(key(&unit, "TimeoutStopSec").expect("TimeoutStopSec= is set"));
    assert!(
        stop > grace,
        "TimeoutStopSec={stop}s must exceed the default shutdown_grace {grace}s"
    );
    // `serve` handles SIGTERM and SIGINT only: a reload command would kill it.
    assert_eq!(key(&unit, "ExecReload"), None);
}

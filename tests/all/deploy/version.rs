//! `wasmboost --version`: the crate version, every task contract the host runs (one per
//! `wit/<version>/` folder) and the wasmtime version, which an operator checks before rolling
//! a module or a host upgrade through a fleet.

use wasmboost_tests::host::{cli, workspace_root};

/// `package wasmboost:task@X.Y.Z;` of every `wit/*/*.wit`.
fn contracts_in_wit() -> Vec<String> {
    let mut found = Vec::new();
    for dir in std::fs::read_dir(workspace_root().join("wit")).expect("wit/ exists") {
        let dir = dir.expect("readable").path();
        for file in std::fs::read_dir(&dir).expect("readable") {
            let text = std::fs::read_to_string(file.expect("readable").path()).expect("text");
            found.extend(text.lines().filter_map(|l| {
                let package = l.trim().strip_prefix("package ")?.strip_suffix(';')?;
                Some(package.to_owned())
            }));
        }
    }
    found.sort();
    found.dedup();
    found
}

#[test]
fn version_names_the_crate_the_contracts_and_the_engine() {
    let out = cli(["--version"]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    let mut lines = text.lines();
    assert_eq!(
        lines.next(),
        Some(format!("wasmboost {}", env!("CARGO_PKG_VERSION")).as_str())
    );
    let contracts = contracts_in_wit();
    assert!(!contracts.is_empty());
    assert_eq!(
        lines.next(),
        Some(format!("contracts: {}", contracts.join(", ")).as_str()),
        "every wit/ contract and only those"
    );
    let engine = lines
        .next()
        .and_then(|l| l.strip_prefix("wasmtime: "))
        .unwrap_or_else(|| panic!("no `wasmtime: ` line in {text}"));
    let lock = std::fs::read_to_string(workspace_root().join("Cargo.lock")).expect("readable");
    let locked = lock
        .split("[[package]]")
        .find(|p| p.contains("\nname = \"wasmtime\"\n"))
        .and_then(|p| p.lines().find_map(|l| l.strip_prefix("version = ")))
        .expect("wasmtime in Cargo.lock")
        .trim_matches('"');
    assert_eq!(engine, locked, "the engine compiled in");
}

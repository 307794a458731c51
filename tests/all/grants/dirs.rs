//! Preopened directories: a real guest reads and writes through `std::fs`, and every way out of
//! the preopen (`..`, an absolute path, a symlink, a hard link) and every write to a read-only
//! directory is refused.

use std::path::Path;

use serde_json::{Value, json};
use wasmboost_runtime::{DirGrant, Grants};

use super::{ok_json, run};

/// `<tmp>/outside.txt` (must stay unreachable), `<tmp>/ro/a.txt`, `<tmp>/ro/escape` -> the
/// outside file, and an empty `<tmp>/rw`.
fn layout(root: &Path) -> Grants {
    std::fs::write(root.join("outside.txt"), "outside").expect("write");
    std::fs::create_dir(root.join("ro")).expect("mkdir");
    std::fs::create_dir(root.join("rw")).expect("mkdir");
    std::fs::write(root.join("ro/a.txt"), "inside").expect("write");
    std::os::unix::fs::symlink(root.join("outside.txt"), root.join("ro/escape")).expect("symlink");
    std::os::unix::fs::symlink("../outside.txt", root.join("ro/relative")).expect("symlink");
    Grants {
        dirs: vec![
            DirGrant {
                host: root.join("ro"),
                guest: "/ro".into(),
                writable: false,
            },
            DirGrant {
                host: root.join("rw"),
                guest: "/rw".into(),
                writable: true,
            },
        ],
        ..Grants::default()
    }
}

async fn files(grants: Grants, ops: Value) -> Vec<Value> {
    let report = run("granted", json!({ "files": ops }), grants).await;
    ok_json(&report)["files"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

#[tokio::test]
async fn reads_and_writes_inside_the_grant_work() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let grants = layout(tmp.path());
    let done = files(
        grants,
        json!([["/ro/a.txt", null], ["/rw/out.txt", "result"]]),
    )
    .await;
    assert_eq!(done[0]["ok"], "inside", "{done:?}");
    assert!(done[1].get("ok").is_some(), "{done:?}");
    assert_eq!(
        std::fs::read_to_string(tmp.path().join("rw/out.txt"))
            .ok()
            .as_deref(),
        Some("result")
    );
}

#[tokio::test]
async fn no_path_leads_out_of_a_preopen() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let grants = layout(tmp.path());
    let outside = tmp.path().join("outside.txt");
    let ops = json!([
        ["/ro/../outside.txt", null],
        ["/rw/../outside.txt", "overwritten"],
        [outside.display().to_string(), null],
        ["/etc/passwd", null],
        ["/ro/escape", null],
        ["/ro/relative", null],
    ]);
    let done = files(grants, ops).await;
    for (i, entry) in done.iter().enumerate() {
        assert!(entry.get("error").is_some(), "op {i} escaped: {done:?}");
    }
    assert_eq!(
        std::fs::read_to_string(&outside).ok().as_deref(),
        Some("outside")
    );
}

#[tokio::test]
async fn read_only_means_read_only() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let grants = layout(tmp.path());
    let done = files(
        grants,
        json!([["/ro/new.txt", "x"], ["/ro/a.txt", "changed"]]),
    )
    .await;
    for entry in &done {
        assert!(entry.get("error").is_some(), "{done:?}");
    }
    assert!(!tmp.path().join("ro/new.txt").exists());
    assert_eq!(
        std::fs::read_to_string(tmp.path().join("ro/a.txt"))
            .ok()
            .as_deref(),
        Some("inside")
    );
}

#[tokio::test]
async fn a_hard_link_cannot_reach_outside() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let grants = layout(tmp.path());
    let done = files(
        grants,
        json!([
            ["/rw/link", "@link:/rw/../outside.txt"],
            ["/rw/link2", "@link:/ro/a.txt"]
        ]),
    )
    .await;
    for entry in &done {
        assert!(entry.get("error").is_some(), "{done:?}");
    }
    assert!(!tmp.path().join("rw/link").exists());
    assert!(!tmp.path().join("rw/link2").exists());
}

//! The `wasmboost` client commands against a real `wasmboost serve` (embedded broker on disk) and
//! the real `add` example: what a new user types, and the errors they see.

use std::process::Output;
use std::time::{Duration, Instant};

use wasmboost_tests::guests;
use wasmboost_tests::host::{HostOptions, HostProcess, cli};

/// Generous: debug builds on a shared 2-core machine.
const DEADLINE: Duration = Duration::from_secs(120);

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Run a command that must succeed; returns its stdout.
fn ok(host: &HostProcess, args: &[&str]) -> String {
    let out = host.cli(args);
    assert!(
        out.status.success(),
        "wasmboost {args:?} failed ({}):\n{}\nhost log:\n{}",
        out.status,
        stderr(&out),
        host.log()
    );
    stdout(&out)
}

/// Run a command that must fail with `code`; returns its stderr.
fn fails(host: &HostProcess, args: &[&str], code: i32) -> String {
    let out = host.cli(args);
    assert_eq!(
        out.status.code(),
        Some(code),
        "wasmboost {args:?}: stdout {} stderr {}",
        stdout(&out),
        stderr(&out)
    );
    stderr(&out)
}

fn deploy_add(host: &HostProcess) -> String {
    let add = guests::example("add");
    let add = add.to_str().expect("the repo path is UTF-8");
    ok(host, &["deploy", "add", add])
}

/// The `add` row of `queues --json`.
fn add_stats(host: &HostProcess) -> serde_json::Value {
    let rows: Vec<serde_json::Value> =
        serde_json::from_str(&ok(host, &["queues", "--json"])).expect("queues --json is JSON");
    rows.into_iter()
        .find(|row| row["queue"] == "add")
        .expect("queue add is listed")
}

fn wait_succeeded(host: &HostProcess, n: u64) {
    let start = Instant::now();
    loop {
        let stats = add_stats(host);
        if stats["succeeded"].as_u64() >= Some(n) {
            return;
        }
        assert!(start.elapsed() < DEADLINE, "not {n} succeeded: {stats}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn no_server_says_how_to_start_one() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let addr = format!("http://127.0.0.1:{port}");
    let out = cli(["queues", "--addr", &addr]);
    assert_eq!(out.status.code(), Some(3));
    let err = stderr(&out);
    assert!(
        err.contains(&format!("server not running at {addr}")) && err.contains("wasmboost serve"),
        "{err}"
    );
}

#[test]
fn deploy_publish_wait_result_status_versions_rollback() {
    let host = HostProcess::start();
    let deployed = deploy_add(&host);
    assert!(deployed.contains("as version 1"), "{deployed}");

    // RPC: the result on stdout.
    let out = ok(&host, &["publish", "add", r#"{"x": 1, "y": 2}"#, "--wait"]);
    assert_eq!(out.trim(), "3");

    // Fire and forget: the task id, then its result and status.
    let id = ok(&host, &["publish", "add", r#"{"x": 20, "y": 22}"#]);
    let id = id.trim();
    assert!(!id.is_empty());
    assert_eq!(ok(&host, &["result", id, "--wait"]).trim(), "42");
    let status: serde_json::Value =
        serde_json::from_str(&ok(&host, &["status", id, "--json"])).expect("status --json");
    assert_eq!(status["state"], "succeeded");
    assert_eq!(status["module_version"], 1);
    assert!(ok(&host, &["status", id]).contains("succeeded"));

    // Deploying the same bytes again is a no-op; a different module is version 2. Roll back.
    assert!(deploy_add(&host).contains("version 1"));
    let other = guests::example("wordcount");
    let other = other.to_str().expect("the repo path is UTF-8");
    assert!(ok(&host, &["deploy", "add", other]).contains("as version 2"));
    let versions = ok(&host, &["versions", "add"]);
    assert_eq!(versions.lines().count(), 3, "{versions}");
    assert_eq!(
        ok(&host, &["rollback", "add"]).trim(),
        "add now runs version 1"
    );
    let out = ok(
        &host,
        &["publish", "add", r#"{"x": 2, "y": 2}"#, "--wait", "--json"],
    );
    let record: serde_json::Value = serde_json::from_str(&out).expect("record JSON");
    assert_eq!(record["module_version"], 1, "{record}");
    assert_eq!(record["result"], 4);
}

#[test]
fn errors_name_what_was_wrong() {
    let config = "[runtime]\nmax_component_bytes = 2000\n\n[queues.declared]\nconcurrency = 2\n";
    let host = HostOptions::default().config(config).start();
    let err = fails(&host, &["publish", "nope", "{}"], 3);
    assert!(err.contains("unknown queue \"nope\""), "{err}");
    let err = fails(&host, &["publish", "declared", r#"{"x": 1,"#], 3);
    assert!(err.contains("malformed JSON at line 1, column"), "{err}");
    let err = fails(&host, &["publish", "declared", "[1, 2]"], 3);
    assert!(err.contains("JSON object"), "{err}");
    // Declared but no module: messages wait, `queues` says so.
    ok(&host, &["publish", "declared", r#"{"x": 1}"#]);
    assert!(ok(&host, &["queues"]).contains("no module"));
    // An upload over the cap is refused with the cap in the message.
    let add = guests::example("add");
    let err = fails(&host, &["deploy", "add", add.to_str().expect("UTF-8")], 3);
    assert!(err.contains("2000"), "{err}");
    let err = fails(&host, &["versions", "nope"], 3);
    assert!(err.contains("nope"), "{err}");
}

#[test]
fn bulk_publish_pause_resume_dlq_and_metrics() {
    let host = HostProcess::start();
    deploy_add(&host);
    ok(&host, &["pause", "add"]);
    assert_eq!(add_stats(&host)["paused"], true);

    let file = host.data_dir().with_file_name("tasks.jsonl");
    let lines: String = (0..500)
        .map(|i| format!("{{\"x\": {i}, \"y\": 1}}\n"))
        .collect();
    std::fs::write(&file, lines).expect("the temp dir is writable");
    let file = file.to_str().expect("UTF-8 temp path");
    let out = ok(&host, &["publish", "add", "--file", file, "--chunk", "128"]);
    assert!(out.starts_with("published 500 tasks to add"), "{out}");
    assert_eq!(add_stats(&host)["succeeded"], 0, "paused queue ran tasks");

    ok(&host, &["resume", "add"]);
    wait_succeeded(&host, 500);

    assert!(ok(&host, &["dlq", "list", "add"]).contains("no dead letters in add"));
    assert!(ok(&host, &["dlq", "purge", "add"]).contains("purged 0"));
    let (status, metrics) = host.http("GET", "/metrics", b"");
    assert_eq!(status, 200);
    assert!(
        metrics.contains("wasmboost_tasks_succeeded_total{queue=\"add\"} 500"),
        "{metrics}"
    );
}

#[test]
fn bulk_file_errors_name_the_line() {
    let host = HostProcess::start();
    deploy_add(&host);
    let file = host.data_dir().with_file_name("bad.jsonl");
    std::fs::write(&file, "{\"x\": 1, \"y\": 2}\n{\"x\": 1 \"y\": 2}\n").expect("writable");
    let err = fails(
        &host,
        &["publish", "add", "--file", file.to_str().expect("UTF-8")],
        3,
    );
    assert!(
        err.contains("bad.jsonl:2: malformed JSON at line 1, column"),
        "{err}"
    );
}

#[test]
fn sigterm_stops_the_host_cleanly_and_restart_keeps_the_module() {
    let mut host = HostProcess::start();
    deploy_add(&host);
    let status = host.stop();
    assert!(
        status.success(),
        "serve exited with {status}; log:\n{}",
        host.log()
    );
    assert!(host.log().contains("wasmboost stopped"), "{}", host.log());
    host.restart();
    let out = ok(&host, &["publish", "add", r#"{"x": 5, "y": 6}"#, "--wait"]);
    assert_eq!(out.trim(), "11");
}

/// `--json` on the commands that print data without a host (`run`, `new`, `healthcheck`,
/// added with the completions): one JSON object on stdout, the usual exit codes; and the
/// completion scripts name the subcommands.
#[test]
fn json_without_a_host_and_completions() {
    let add = guests::example("add");
    let add = add.to_str().expect("utf-8 path");
    let out = cli([
        "run",
        add,
        "--payload",
        r#"{"x": 2, "y": 3}"#,
        "--no-cache",
        "--json",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let ran: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("one JSON object");
    assert_eq!(ran["outcome"], "ok");
    assert_eq!(ran["result"], 5);
    assert!(ran["fuel_used"].as_u64().is_some_and(|f| f > 0), "{ran}");

    let dir = tempfile::tempdir().expect("temp dir");
    let project = dir.path().join("tasks").join("hello");
    let project = project.to_str().expect("utf-8 path");
    let out = cli(["new", "--lang", "python", project, "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let made: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("one JSON object");
    assert_eq!(made["name"], "hello");
    assert_eq!(made["path"], project);

    // Nothing listens on port 1: unhealthy, exit 1, still one JSON object.
    let out = cli(["healthcheck", "--addr", "127.0.0.1:1", "--json"]);
    assert_eq!(out.status.code(), Some(1));
    let health: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("one JSON object");
    assert_eq!(health["healthy"], false);

    for shell in ["bash", "zsh", "fish"] {
        let out = cli(["completions", shell]);
        assert!(out.status.success(), "{shell}: {}", stderr(&out));
        let script = stdout(&out);
        for name in ["publish", "queues", "dlq", "completions"] {
            assert!(script.contains(name), "{shell} script lacks {name}");
        }
    }
}

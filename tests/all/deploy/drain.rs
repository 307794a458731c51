//! Graceful drain through the real binary: from the first SIGTERM `/readyz` answers 503 (load
//! balancers and Kubernetes stop sending work) while `/healthz` stays 200 (nobody kills the
//! host) and the running task finishes within `shutdown_grace`; then `serve` exits 0.

use std::time::Duration;

use wasmboost_tests::guests;
use wasmboost_tests::host::{HostOptions, HostProcess, try_http};
use wasmboost_tests::poll::poll;

/// Long enough to watch the drain, well inside the grace period.
const TASK_MS: u64 = 5_000;
const DEADLINE: Duration = Duration::from_secs(120);

fn ok(host: &HostProcess, args: &[&str]) -> String {
    let out = host.cli(args);
    assert!(
        out.status.success(),
        "wasmboost {args:?}: {}\nhost log:\n{}",
        String::from_utf8_lossy(&out.stderr),
        host.log()
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn running(host: &HostProcess) -> u64 {
    let rows: serde_json::Value =
        serde_json::from_str(&ok(host, &["queues", "--json"])).expect("queues --json is JSON");
    rows.as_array()
        .and_then(|rows| rows.iter().find(|r| r["queue"] == "sleep"))
        .and_then(|row| row["running"].as_u64())
        .unwrap_or(0)
}

#[test]
fn sigterm_turns_readyz_503_keeps_healthz_200_and_finishes_the_running_task() {
    let mut host = HostOptions::default()
        .config("[host]\nshutdown_grace = \"60s\"\n")
        .start();
    let sleep = guests::guest("sleep");
    ok(
        &host,
        &["deploy", "sleep", sleep.to_str().expect("UTF-8 path")],
    );
    assert_eq!(
        host.http("GET", "/readyz", b"").0,
        200,
        "ready while serving"
    );
    let payload = format!(r#"{{"ms": {TASK_MS}}}"#);
    let id = ok(&host, &["publish", "sleep", &payload]).trim().to_owned();
    poll(
        "the task to start",
        DEADLINE,
        || host.log(),
        || (running(&host) == 1).then_some(()),
    );

    host.sigterm();
    let addr = host.addr().to_owned();
    poll(
        "/readyz to answer 503 after SIGTERM",
        DEADLINE,
        || host.log(),
        || match try_http(&addr, "GET", "/readyz", b"") {
            Ok((503, body)) => Some(body),
            Ok(_) => None,
            Err(err) => panic!(
                "the API went away before /readyz said 503: {err}\n{}",
                host.log()
            ),
        },
    );
    // Still draining: live, and the task still running.
    assert_eq!(
        host.http("GET", "/healthz", b"").0,
        200,
        "live while draining"
    );
    assert_eq!(running(&host), 1, "the task was still in flight at 503");

    let status = host.wait_exit();
    assert!(
        status.success(),
        "serve exited with {status}:\n{}",
        host.log()
    );
    host.restart();
    let record: serde_json::Value =
        serde_json::from_str(&ok(&host, &["status", &id, "--json"])).expect("status --json");
    assert_eq!(record["state"], "succeeded", "{record}");
    assert_eq!(
        record["attempts"], 1,
        "finished in the drain, not run again: {record}"
    );
    assert_eq!(record["result"], TASK_MS, "{record}");
}

//! Integration tests of issue 13 (tasks that do real work), a module per grant. Real guests
//! (`tests/guests/granted`, a 0.2.0 component built with the Rust SDK), a real local web site
//! (`harness/web.rs`) and, in `serve`, the real binary.
//!
//! - `egress`: outbound HTTP only to the allow-list, never to loopback/private/metadata
//!   addresses by name, no redirect followed by the host, request and byte caps.
//! - `examples`: the crawler on a 200-page local site and the CSV job between two dirs.
//! - `given`: config values and secrets; everything denied without grants, and counted.
//! - `http_cost`: a guest HTTP GET against the same request made natively (printed).
//! - `dirs`: preopened directories without escape; read-only means read-only.
//! - `kv`: the per-queue key-value namespace through the real binary, on the embedded store
//!   and on Redis shared by two hosts; quota and denial.
//! - `python`: the Python SDK's kv, config and publish in a real component (`kvcount`).
//! - `python_http`: the Python SDK's `http` with a secret against a local JSON API
//!   (`apisummary`), refused on a queue without the grant.
//! - `serve`: grants through `wasmboost.toml` on the real binary, shown by `queues --json`,
//!   secrets never shown or logged.

mod dirs;
mod egress;
mod examples;
mod given;
mod http_cost;
mod kv;
mod python;
mod python_http;
mod serve;

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use serde_json::Value;
use wasmboost_runtime::{
    Access, Grants, Invocation, Limits, Outcome, Report, Runtime, RuntimeConfig, TaskContext,
    TaskModule,
};
use wasmboost_tests::guests;

/// Budgets no test here should reach.
const GENEROUS: Limits = Limits {
    fuel: 20_000_000_000,
    timeout: Duration::from_secs(30),
    memory_bytes: 64 * 1024 * 1024,
};

fn runtime() -> &'static Runtime {
    static RUNTIME: OnceLock<Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        let config = RuntimeConfig {
            max_instances: 50,
            ..RuntimeConfig::default()
        };
        Runtime::new(config).expect("the runtime config is valid")
    })
}

/// A guest from `tests/guests/`, loaded once per name.
fn module(name: &str) -> TaskModule {
    static GRANTED: OnceLock<TaskModule> = OnceLock::new();
    static ECHO: OnceLock<TaskModule> = OnceLock::new();
    let cell = match name {
        "granted" => &GRANTED,
        "echo_v1" => &ECHO,
        other => panic!("no loader for {other}"),
    };
    cell.get_or_init(|| {
        runtime()
            .load_file(&guests::guest(name))
            .unwrap_or_else(|err| panic!("load {name}: {err}"))
    })
    .clone()
}

/// Runs `name` once on `payload` with `grants` (and no kv/publish services).
async fn run(name: &str, payload: Value, grants: Grants) -> Report {
    run_limited(name, payload, grants, GENEROUS).await
}

async fn run_limited(name: &str, payload: Value, grants: Grants, limits: Limits) -> Report {
    let invocation = Invocation {
        context: TaskContext {
            task_id: "grants-test".into(),
            queue: "grants".into(),
            attempt: 1,
            publish_time_ms: 1,
        },
        payload: payload.to_string(),
        limits,
    };
    let access = Access {
        grants: Arc::new(grants),
        services: None,
    };
    module(name).invoke_with(invocation, &access).await
}

/// The JSON result of an `Ok` outcome; fails the test with the report otherwise.
fn ok_json(report: &Report) -> Value {
    match &report.outcome {
        Outcome::Ok { result } => serde_json::from_str(result).expect("the host validated it"),
        other => panic!("expected ok, got {other:?}\nstderr: {}", report.stderr.text),
    }
}

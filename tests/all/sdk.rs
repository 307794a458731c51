//! The Rust guest SDK through the real runtime: arguments, results, typed errors, context, logs
//! and panics, on the example and test guests built from source; and `wasmboost new` + `build`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};
use wasmboost_runtime::{
    Invocation, Limits, Outcome, Report, Runtime, RuntimeConfig, TaskContext, TaskError,
    TaskModule, TrapKind,
};
use wasmboost_tests::guests;
// The binary of this tree, built on first use: not whatever stale `wasmboost` lies around.
use wasmboost_tests::host::wasmboost_bin;

const TASK_ID: &str = "0190b2c4-sdk-test";
const QUEUE: &str = "sdk";

/// One runtime (one engine) for the whole test binary, like a host.
fn runtime() -> &'static Runtime {
    static RUNTIME: OnceLock<Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| Runtime::new(RuntimeConfig::default()).expect("default config is valid"))
}

/// Loads each component once per test binary: compiling is the slow part, not what is tested.
fn load(path: &Path) -> TaskModule {
    static LOADED: OnceLock<Mutex<HashMap<PathBuf, TaskModule>>> = OnceLock::new();
    let mut loaded = LOADED
        .get_or_init(Mutex::default)
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    let module = loaded.entry(path.to_path_buf()).or_insert_with(|| {
        runtime()
            .load_file(path)
            .unwrap_or_else(|err| panic!("cannot load {}: {err}", path.display()))
    });
    module.clone()
}

fn invocation(payload: &str, attempt: u32) -> Invocation {
    Invocation {
        context: TaskContext {
            task_id: TASK_ID.to_owned(),
            queue: QUEUE.to_owned(),
            attempt,
            publish_time_ms: 1_700_000_000_000,
        },
        payload: payload.to_owned(),
        limits: Limits {
            fuel: 5_000_000_000,
            timeout: Duration::from_secs(30),
            memory_bytes: 64 << 20,
        },
    }
}

async fn call(module: &TaskModule, payload: &str) -> Report {
    module.invoke(invocation(payload, 1)).await
}

/// The JSON result of a successful call, or a test failure showing what happened instead.
fn ok(report: &Report) -> Value {
    match &report.outcome {
        Outcome::Ok { result } => serde_json::from_str(result).expect("the host validated it"),
        other => panic!(
            "expected a result, got {other:?}\nstderr: {}",
            report.stderr.text
        ),
    }
}

fn task_error(report: &Report) -> &TaskError {
    match &report.outcome {
        Outcome::TaskError { error } => error,
        other => panic!("expected a task error, got {other:?}"),
    }
}

fn fail_reason(report: &Report) -> &str {
    match task_error(report) {
        TaskError::Fail { reason } => reason,
        other => panic!("expected a fail, got {other:?}"),
    }
}

#[tokio::test]
async fn add_reads_arguments_by_name_and_ignores_extra() {
    let add = load(&guests::example("add"));
    assert_eq!(ok(&call(&add, r#"{"x": 1, "y": 2}"#).await), json!(3));
    assert_eq!(ok(&call(&add, r#"{"y": -10, "x": 4}"#).await), json!(-6));
    let with_extra = r#"{"x": 20, "y": 22, "extra": {"task_id": "t", "publish_time": 1}}"#;
    assert_eq!(ok(&call(&add, with_extra).await), json!(42));
}

#[tokio::test]
async fn missing_mistyped_and_unknown_arguments_fail_naming_them() {
    let add = load(&guests::example("add"));
    let missing = call(&add, r#"{"x": 1}"#).await;
    assert_eq!(fail_reason(&missing), "missing argument `y` (expected i64)");
    let mistyped = call(&add, r#"{"x": "one", "y": 2}"#).await;
    let reason = fail_reason(&mistyped);
    assert!(reason.starts_with("argument `x` must be i64"), "{reason}");
    let unknown = call(&add, r#"{"x": 1, "y": 2, "z": 3}"#).await;
    assert_eq!(
        fail_reason(&unknown),
        "unknown argument `z` (the task takes x: i64, y: i64)"
    );
    let not_object = call(&add, "[1, 2]").await;
    let reason = fail_reason(&not_object);
    assert!(
        reason.starts_with("the payload must be a JSON object"),
        "{reason}"
    );
}

#[tokio::test]
async fn option_and_default_arguments_may_be_omitted() {
    let hello = load(&guests::example("hello"));
    assert_eq!(ok(&call(&hello, "{}").await)["greeting"], "hello, world");
    assert_eq!(
        ok(&call(&hello, r#"{"name": null}"#).await)["greeting"],
        "hello, world"
    );
    let wordcount = load(&guests::example("wordcount"));
    let words: Vec<String> = (0..30).map(|i| format!("w{i}")).collect();
    let payload = json!({ "text": words.join(" ") }).to_string();
    let counts = ok(&call(&wordcount, &payload).await);
    assert_eq!(counts["words"], 30);
    assert_eq!(
        counts["top"].as_array().map(Vec::len),
        Some(10),
        "default top is 10"
    );
}

#[tokio::test]
async fn wordcount_counts_case_insensitively() {
    let wordcount = load(&guests::example("wordcount"));
    let payload = r#"{"text": "The cat, the hat. THE end!", "top": 2}"#;
    let counts = ok(&call(&wordcount, payload).await);
    assert_eq!(
        counts,
        json!({"words": 6, "distinct": 4, "top": [
            {"word": "the", "count": 3}, {"word": "cat", "count": 1}
        ]})
    );
}

#[tokio::test]
async fn result_err_is_a_fail() {
    let flaky = load(&guests::guest("flaky"));
    let report = call(&flaky, r#"{"mode": "error"}"#).await;
    assert_eq!(fail_reason(&report), "flaky error on attempt 1");
    let report = call(&flaky, r#"{"mode": "fail"}"#).await;
    assert_eq!(fail_reason(&report), "flaky fail on attempt 1");
    let hello = load(&guests::example("hello"));
    assert_eq!(
        fail_reason(&call(&hello, r#"{"name": " "}"#).await),
        "name must not be blank"
    );
}

#[tokio::test]
async fn retry_carries_its_delay_and_dead_letter_its_reason() {
    let flaky = load(&guests::guest("flaky"));
    let report = call(&flaky, r#"{"mode": "retry", "delay_ms": 1500}"#).await;
    assert_eq!(
        task_error(&report),
        &TaskError::Retry {
            reason: "flaky retry on attempt 1".to_owned(),
            delay: Some(Duration::from_millis(1500)),
        }
    );
    let report = call(&flaky, r#"{"mode": "retry"}"#).await;
    assert!(
        matches!(task_error(&report), TaskError::Retry { delay: None, .. }),
        "{:?}",
        report.outcome
    );
    let report = call(&flaky, r#"{"mode": "dead_letter"}"#).await;
    assert_eq!(
        task_error(&report),
        &TaskError::DeadLetter {
            reason: "flaky dead_letter on attempt 1".to_owned()
        }
    );
}

#[tokio::test]
async fn context_reaches_the_task() {
    let flaky = load(&guests::guest("flaky"));
    let report = flaky
        .invoke(invocation(r#"{"mode": "retry", "succeed_on": 3}"#, 3))
        .await;
    assert_eq!(ok(&report), json!({"attempt": 3}));
    let hello = load(&guests::example("hello"));
    let before_ms = now_ms();
    let greeting = ok(&hello.invoke(invocation(r#"{"name": "Ada"}"#, 2)).await);
    assert_eq!(greeting["greeting"], "hello, Ada");
    assert_eq!(greeting["task_id"], TASK_ID);
    assert_eq!(greeting["queue"], QUEUE);
    assert_eq!(greeting["attempt"], 2);
    let deadline = greeting["deadline_ms"].as_u64().expect("a number");
    assert!(
        deadline >= before_ms + 29_000,
        "deadline {deadline} is start + 30 s"
    );
}

#[tokio::test]
async fn log_lines_are_captured_with_their_level() {
    let hello = load(&guests::example("hello"));
    let report = call(&hello, r#"{"name": "Ada"}"#).await;
    ok(&report);
    let logs = &report.logs.text;
    assert!(
        logs.contains("greeting Ada (attempt 1 on sdk)"),
        "logs: {logs:?}"
    );
    assert!(logs.to_ascii_uppercase().contains("INFO"), "logs: {logs:?}");
    let report = call(&hello, r#"{"name": ""}"#).await;
    assert!(
        report.logs.text.contains("rejecting a blank name"),
        "{:?}",
        report.logs
    );
}

#[tokio::test]
async fn a_panic_is_reported_with_its_message() {
    let panic = load(&guests::guest("panic"));
    let report = call(&panic, r#"{"message": "the answer is 42"}"#).await;
    match &report.outcome {
        Outcome::Trap {
            trap: TrapKind::Panic(msg),
        } => {
            assert!(msg.contains("the answer is 42"), "panic message: {msg:?}");
        }
        Outcome::TaskError {
            error: TaskError::Fail { reason },
        } => {
            assert!(
                reason.contains("the answer is 42"),
                "fail reason: {reason:?}"
            );
        }
        other => panic!(
            "expected a panic, got {other:?}\nstderr: {}",
            report.stderr.text
        ),
    }
    assert!(
        report.stderr.text.contains("panicked at "),
        "{:?}",
        report.stderr
    );
}

fn now_ms() -> u64 {
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970");
    u64::try_from(since.as_millis()).expect("fits until the year 584 million")
}

#[tokio::test]
async fn new_then_build_makes_a_component_that_runs() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let project = dir.path().join("sum-task");
    let new = std::process::Command::new(wasmboost_bin())
        .args(["new", "sum-task", "--path"])
        .arg(&project)
        .output()
        .expect("run wasmboost new");
    assert!(
        new.status.success(),
        "{}",
        String::from_utf8_lossy(&new.stderr)
    );
    let manifest = std::fs::read_to_string(project.join("Cargo.toml")).expect("a manifest");
    assert!(manifest.contains("path dependency"), "{manifest}");
    assert!(project.join("README.md").is_file());

    // Share the examples' target dir: same dependencies and profile, so only the task compiles.
    let build = std::process::Command::new(wasmboost_bin())
        .arg("build")
        .arg(&project)
        .env(
            "CARGO_TARGET_DIR",
            guests::repo_root().join("examples").join("target"),
        )
        .env_remove("RUSTFLAGS")
        .output()
        .expect("run wasmboost build");
    assert!(
        build.status.success(),
        "{}",
        String::from_utf8_lossy(&build.stderr)
    );
    let printed = String::from_utf8(build.stdout).expect("a UTF-8 path");
    let wasm = PathBuf::from(printed.trim());
    assert!(wasm.ends_with("sum_task.wasm"), "printed {printed:?}");

    let module = load(&wasm);
    assert_eq!(ok(&call(&module, r#"{"x": 40, "y": 2}"#).await), json!(42));
    let overflow = call(&module, &format!(r#"{{"x": {}, "y": 1}}"#, i64::MAX)).await;
    assert!(fail_reason(&overflow).contains("overflows"));
}

#[test]
fn new_rejects_a_bad_name_and_an_existing_dir() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let bad = std::process::Command::new(wasmboost_bin())
        .args(["new", "9lives", "--path"])
        .arg(dir.path().join("x"))
        .output()
        .expect("run wasmboost new");
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("invalid task name `9lives`"));
    let exists = std::process::Command::new(wasmboost_bin())
        .args(["new", "dup", "--path"])
        .arg(dir.path())
        .output()
        .expect("run wasmboost new");
    assert!(!exists.status.success());
    assert!(String::from_utf8_lossy(&exists.stderr).contains("already exists"));
}

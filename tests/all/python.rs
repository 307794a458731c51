//! Integration tests: Python tasks built with the real componentize-py, run by the real runtime.
//!
//! Components are built once per content (`wasmboost_tests::python`) and compiled once per
//! process into a `.cwasm` cache shared by every run of this binary.

use std::io::ErrorKind;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};
use wasmboost_runtime::{
    Invocation, Limits, Outcome, Report, Runtime, RuntimeConfig, TaskContext, TaskError,
    TaskModule, TrapKind,
};
use wasmboost_tests::python;

/// Generous budgets: these tests check behaviour, not speed, on a busy 2-core machine.
const LIMITS: Limits = Limits {
    fuel: 20_000_000_000,
    timeout: Duration::from_secs(120),
    memory_bytes: 64 * 1024 * 1024,
};

/// One runtime per test process, its `.cwasm` cache next to the built guests.
fn runtime() -> &'static Runtime {
    static RUNTIME: OnceLock<Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        let config = RuntimeConfig {
            cache_dir: Some(cwasm_cache_dir()),
            max_instances: 16,
            ..RuntimeConfig::default()
        };
        Runtime::new(config).expect("the runtime starts with the test config")
    })
}

fn cwasm_cache_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary has a path");
    let profile = exe
        .parent()
        .and_then(Path::parent)
        .expect("the test binary lives in <target>/<profile>/deps");
    profile.join("python-guests").join("cwasm")
}

/// Loads each component once per process (a first load may run Cranelift for a while).
fn load(path: &Path) -> TaskModule {
    type Slot = Arc<OnceLock<TaskModule>>;
    static MODULES: OnceLock<Mutex<Vec<(PathBuf, Slot)>>> = OnceLock::new();
    let slot = {
        let mut modules = MODULES
            .get_or_init(Default::default)
            .lock()
            .expect("not poisoned");
        match modules.iter().find(|(p, _)| p == path) {
            Some((_, slot)) => slot.clone(),
            None => {
                let slot = Slot::default();
                modules.push((path.to_path_buf(), slot.clone()));
                slot
            }
        }
    };
    slot.get_or_init(|| {
        runtime()
            .load_file(path)
            .unwrap_or_else(|e| panic!("loading {} failed: {e}", path.display()))
    })
    .clone()
}

fn add() -> TaskModule {
    load(&python::example("add"))
}

fn probe() -> TaskModule {
    load(&python::probe())
}

fn invocation(payload: Value, limits: Limits) -> Invocation {
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("the clock is after 1970")
        .as_millis();
    Invocation {
        context: TaskContext {
            task_id: "0195f2a0-0000-7000-8000-000000000001".into(),
            queue: "python-tests".into(),
            attempt: 3,
            publish_time_ms: u64::try_from(now_ms).expect("ms since 1970 fit in u64"),
        },
        payload: payload.to_string(),
        limits,
    }
}

async fn call(module: &TaskModule, payload: Value) -> Report {
    module.invoke(invocation(payload, LIMITS)).await
}

fn ok_json(report: &Report) -> Value {
    match &report.outcome {
        Outcome::Ok { result } => {
            serde_json::from_str(result).expect("the host validated the JSON")
        }
        other => panic!("expected ok, got {other:?}\nstderr: {}", report.stderr.text),
    }
}

fn fail_reason(report: &Report) -> &str {
    match &report.outcome {
        Outcome::TaskError {
            error: TaskError::Fail { reason },
        } => reason,
        other => panic!(
            "expected fail, got {other:?}\nstderr: {}",
            report.stderr.text
        ),
    }
}

fn trap(report: &Report) -> &TrapKind {
    match &report.outcome {
        Outcome::Trap { trap } => trap,
        other => panic!("expected a trap, got {other:?}"),
    }
}

#[tokio::test]
async fn add_returns_the_sum_and_applies_extra_and_types() {
    let module = add();
    assert_eq!(
        ok_json(&call(&module, json!({"x": 1, "y": 2})).await),
        json!(3)
    );
    let with_extra = json!({"x": 40, "y": 2, "extra": {"task_id": "abc", "max_retries": 1}});
    assert_eq!(ok_json(&call(&module, with_extra).await), json!(42));
}

#[tokio::test]
async fn missing_unknown_and_mistyped_arguments_fail_naming_them() {
    let module = add();
    let missing = call(&module, json!({"x": 1})).await;
    assert_eq!(fail_reason(&missing), "missing argument 'y'");
    let unknown = call(&module, json!({"x": 1, "y": 2, "z": 3})).await;
    assert_eq!(fail_reason(&unknown), "unknown argument 'z'");
    let mistyped = call(&module, json!({"x": "1", "y": 2})).await;
    assert_eq!(fail_reason(&mistyped), "argument 'x' must be int, got str");
    let not_object = call(&module, json!([1, 2])).await;
    assert_eq!(
        fail_reason(&not_object),
        "payload must be a JSON object, got list"
    );
}

#[tokio::test]
async fn csv_example_aggregates_by_group() {
    let module = load(&python::example("csv_stats"));
    let csv = "city,temp\nOslo,3\nOslo,5\nRome,18\nRome,n/a\n";
    let payload = json!({"csv_text": csv, "group_by": "city", "value": "temp"});
    let report = call(&module, payload).await;
    let result = ok_json(&report);
    assert_eq!(result["rows"], json!(4));
    assert_eq!(result["skipped"], json!([5]));
    assert_eq!(result["groups"]["Oslo"]["mean"], json!(4.0));
    assert_eq!(result["groups"]["Rome"]["count"], json!(1));
    assert!(
        report.logs.text.contains("WARN [csv_stats] skipped 1 rows"),
        "{:?}",
        report.logs
    );
    let bad_column = json!({"csv_text": csv, "group_by": "country", "value": "temp"});
    let reason = fail_reason(&call(&module, bad_column).await).to_owned();
    assert!(
        reason.starts_with("column 'country' not in header"),
        "{reason}"
    );
}

#[tokio::test]
async fn an_exception_fails_with_type_message_and_traceback() {
    let report = call(&probe(), json!({"mode": "raise", "n": 7})).await;
    let reason = fail_reason(&report);
    assert!(reason.starts_with("ValueError: bad value 7\n"), "{reason}");
    assert!(
        reason.contains("Traceback (most recent call last)"),
        "{reason}"
    );
    assert!(reason.contains("in probe"), "{reason}");
    let not_json = call(&probe(), json!({"mode": "set"})).await;
    assert!(fail_reason(&not_json).starts_with("return value is not JSON-serialisable"));
}

#[tokio::test]
async fn retry_and_dead_letter_map_to_the_wit_errors() {
    let module = probe();
    let retry = call(&module, json!({"mode": "retry", "n": 5})).await;
    let expected = TaskError::Retry {
        reason: "not yet".into(),
        delay: Some(Duration::from_secs(5)),
    };
    assert_eq!(retry.outcome, Outcome::TaskError { error: expected });
    let default_delay = call(&module, json!({"mode": "retry-default"})).await;
    let expected = TaskError::Retry {
        reason: "not yet".into(),
        delay: None,
    };
    assert_eq!(
        default_delay.outcome,
        Outcome::TaskError { error: expected }
    );
    let dead = call(&module, json!({"mode": "dead"})).await;
    let expected = TaskError::DeadLetter {
        reason: "poison message".into(),
    };
    assert_eq!(dead.outcome, Outcome::TaskError { error: expected });
}

#[tokio::test]
async fn context_reaches_the_task() {
    let inv = invocation(json!({"mode": "context"}), LIMITS);
    let before_ms = inv.context.publish_time_ms;
    let result = ok_json(&probe().invoke(inv).await);
    assert_eq!(result[0], json!("0195f2a0-0000-7000-8000-000000000001"));
    assert_eq!(result[1], json!("python-tests"));
    assert_eq!(result[2], json!(3));
    let deadline_ms = result[3].as_u64().expect("deadline_ms is a number");
    let timeout_ms = u64::try_from(LIMITS.timeout.as_millis()).expect("fits");
    assert!(
        deadline_ms >= before_ms + timeout_ms,
        "{deadline_ms} vs {before_ms}"
    );
}

#[tokio::test]
async fn logging_and_print_are_captured_and_bounded() {
    let module = probe();
    let few = call(&module, json!({"mode": "log", "n": 3})).await;
    assert_eq!(ok_json(&few), json!(3));
    assert!(
        few.logs.text.starts_with("INFO log line 0 xxx"),
        "{:?}",
        few.logs
    );
    assert_eq!(few.logs.text.lines().count(), 3);
    assert!(!few.logs.truncated);
    // ~115 bytes a line: 5 000 lines is far past the 64 KiB capture bound.
    let many = call(&module, json!({"mode": "log", "n": 5000})).await;
    assert_eq!(ok_json(&many), json!(5000));
    assert!(
        many.logs.truncated,
        "5000 lines should overflow the capture"
    );
    assert!(many.logs.text.len() <= runtime().config().output_cap_bytes);
    let printed = call(&module, json!({"mode": "print", "n": 5000})).await;
    assert_eq!(ok_json(&printed), json!(5000));
    assert!(
        printed.stdout.text.starts_with("print line 0 yyy"),
        "{:?}",
        printed.stdout.text.get(..40)
    );
    assert!(printed.stdout.truncated);
    assert!(printed.stdout.text.len() <= runtime().config().output_cap_bytes);
}

#[tokio::test]
async fn an_endless_loop_runs_out_of_fuel() {
    let limits = Limits {
        fuel: 500_000_000,
        ..LIMITS
    };
    let report = probe()
        .invoke(invocation(json!({"mode": "spin"}), limits))
        .await;
    assert_eq!(trap(&report), &TrapKind::OutOfFuel);
}

#[tokio::test]
async fn an_endless_loop_times_out() {
    let limits = Limits {
        fuel: u64::MAX / 2,
        timeout: Duration::from_secs(2),
        ..LIMITS
    };
    let report = probe()
        .invoke(invocation(json!({"mode": "spin"}), limits))
        .await;
    assert_eq!(trap(&report), &TrapKind::Timeout);
    // The host is still fine: the next call on the same module succeeds.
    assert_eq!(
        ok_json(&call(&probe(), json!({"mode": "counter"})).await),
        json!(1)
    );
}

#[tokio::test]
async fn a_huge_list_hits_the_memory_limit() {
    // 100 Mi pointers of 4 bytes: 400 MiB against a 64 MiB budget.
    let report = call(&probe(), json!({"mode": "alloc", "n": 100})).await;
    assert_eq!(trap(&report), &TrapKind::MemoryLimit);
    assert!(report.peak_memory_bytes <= LIMITS.memory_bytes);
    // A list that fits is fine.
    assert_eq!(
        ok_json(&call(&probe(), json!({"mode": "alloc", "n": 1})).await),
        json!(1 << 20)
    );
}

#[tokio::test]
async fn deep_recursion_is_a_clean_error() {
    let report = call(&probe(), json!({"mode": "recurse"})).await;
    match &report.outcome {
        Outcome::TaskError {
            error: TaskError::Fail { reason },
        } => {
            assert!(
                reason.starts_with("RecursionError: maximum recursion depth"),
                "{reason}"
            );
        }
        Outcome::Trap { trap } => assert_eq!(trap, &TrapKind::StackOverflow),
        other => panic!("expected RecursionError or a stack overflow, got {other:?}"),
    }
    assert_eq!(
        ok_json(&call(&probe(), json!({"mode": "counter"})).await),
        json!(1)
    );
}

#[tokio::test]
async fn files_are_denied() {
    let report = call(&probe(), json!({"mode": "open", "path": "/etc/passwd"})).await;
    let reason = fail_reason(&report);
    let first = reason.lines().next().unwrap_or_default();
    assert!(
        first.starts_with("FileNotFoundError") || first.starts_with("PermissionError"),
        "{reason}"
    );
    assert!(!reason.contains("root:"), "{reason}");
}

#[tokio::test]
async fn sockets_are_denied_and_the_listener_sees_nothing() {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback listener");
    listener
        .set_nonblocking(true)
        .expect("non-blocking listener");
    let port = listener.local_addr().expect("bound address").port();
    let report = call(&probe(), json!({"mode": "connect", "port": port})).await;
    let reason = fail_reason(&report);
    assert!(reason.contains("Error"), "{reason}");
    assert!(!reason.contains("connected"), "{reason}");
    match listener.accept() {
        Err(e) if e.kind() == ErrorKind::WouldBlock => {}
        Ok((_, peer)) => panic!("the sandbox reached the listener from {peer}"),
        Err(e) => panic!("accept failed: {e}"),
    }
}

#[tokio::test]
async fn every_invocation_gets_fresh_globals() {
    let module = probe();
    for _ in 0..3 {
        assert_eq!(
            ok_json(&call(&module, json!({"mode": "counter"})).await),
            json!(1)
        );
    }
}

/// Module state (a list, a dict, a buffer of 8 or 80 MiB) never reaches the next call, with one
/// pool slot so every call reuses the slot the previous one dirtied.
#[tokio::test(flavor = "current_thread")]
async fn module_state_never_reaches_the_next_call() {
    let path = python::leftover();
    let _ = load(&path); // compiles into the shared .cwasm cache once
    let one_slot = Runtime::new(RuntimeConfig {
        cache_dir: Some(cwasm_cache_dir()),
        max_instances: 1,
        max_memory_bytes: 256 << 20,
        ..RuntimeConfig::default()
    })
    .expect("a one-slot runtime");
    let module = one_slot.load_file(&path).expect("loads from the cache");
    let limits = Limits {
        memory_bytes: 256 << 20,
        ..LIMITS
    };
    for call in 0..20 {
        for mb in [8, 80] {
            let report = module.invoke(invocation(json!({ "mb": mb }), limits)).await;
            assert_eq!(ok_json(&report), json!(1), "call {call}, {mb} MiB");
        }
    }
}

#[tokio::test]
async fn a_second_runtime_loads_from_the_cwasm_cache() {
    let path = python::example("add");
    let _ = add(); // makes sure the shared runtime compiled it into the cache
    let config = RuntimeConfig {
        cache_dir: Some(cwasm_cache_dir()),
        max_instances: 4,
        ..RuntimeConfig::default()
    };
    let second = Runtime::new(config).expect("a second runtime on the same cache");
    let module = second.load_file(&path).expect("loads from the cache");
    assert_eq!(
        second.compilations(),
        0,
        "the .cwasm cache should have been used"
    );
    assert_eq!(
        ok_json(&call(&module, json!({"x": 2, "y": 2})).await),
        json!(4)
    );
}

#[test]
fn a_module_without_a_task_is_a_build_error() {
    let err = python::built("no_task", python::NO_TASK_APP).expect_err("build must fail");
    assert!(err.contains("app.py defines no @task function"), "{err}");
}

#[test]
fn a_module_with_two_tasks_is_a_build_error() {
    let err = python::built("two_tasks", python::TWO_TASKS_APP).expect_err("build must fail");
    assert!(
        err.contains("app.py defines 2 @task functions (one, two)"),
        "{err}"
    );
}

/// The README's Python path through the real binary: `new --lang python`, `build`, `run`.
#[test]
fn new_build_and_run_a_python_project_with_the_cli() {
    use wasmboost_tests::host::cli;
    let temp = tempfile::tempdir().expect("a temporary directory");
    let project = temp.path().join("hello_py");
    let project_arg = project.to_str().expect("a UTF-8 temp path");
    let out = cli(["new", "--lang", "python", "hello_py", "--path", project_arg]);
    assert!(
        out.status.success(),
        "new: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(project.join("app.py").is_file() && project.join("README.md").is_file());

    // What an older wasmboost left in the generated directory (contract 0.1.0's WIT at the top
    // of it): the build writes that directory afresh instead of parsing it with the new files.
    let stale = project.join(".wasmboost").join("wit");
    std::fs::create_dir_all(&stale).expect("a stale WIT directory");
    std::fs::write(stale.join("task.wit"), "package wasmboost:task@0.1.0;\n")
        .expect("a stale WIT file");

    let out = cli(["build", project_arg]);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "build: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let wasm = stdout
        .lines()
        .last()
        .expect("build prints the component path")
        .trim();
    assert!(Path::new(wasm).is_file(), "no component at {wasm}");

    let cache = temp.path().join("cache");
    let cache_arg = cache.to_str().expect("a UTF-8 temp path");
    let run = |payload: &str| cli(["run", wasm, "--cache-dir", cache_arg, "--payload", payload]);
    let out = run(r#"{"x": 40, "y": 2}"#);
    assert!(
        out.status.success(),
        "run: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).lines().next(),
        Some("42")
    );
    // The template dead-letters a negative x: a task error, exit code 1, reason shown.
    let out = run(r#"{"x": -1}"#);
    assert_eq!(out.status.code(), Some(1), "a task error exits with 1");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("x must not be negative"), "{stderr}");
}

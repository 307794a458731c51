//! Integration tests: the runtime (issue 3) on real guests built from `tests/guests/` and
//! `examples/`. Each budget is tested obeyed and violated; isolation, capture, rejection and the
//! `.cwasm` cache are tested with the real engine.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use wasmboost_runtime::{
    Invocation, Limits, LoadError, Outcome, Report, Runtime, RuntimeConfig, TaskContext, TaskError,
    TaskModule, TrapKind,
};
use wasmboost_tests::guests;

/// Budgets that nothing in these tests should reach unless a test lowers one on purpose.
const GENEROUS: Limits = Limits {
    fuel: 20_000_000_000,
    timeout: Duration::from_secs(60),
    memory_bytes: 64 * 1024 * 1024,
};
/// Pool capacity of the shared runtime: room for the 200-concurrent test and parallel tests.
const SHARED_INSTANCES: u32 = 400;
/// How late a timeout may be reported on this noisy shared machine.
const TIMEOUT_MARGIN: Duration = Duration::from_millis(400);

/// One engine for the whole test binary, as in a host process.
fn runtime() -> &'static Runtime {
    static RUNTIME: OnceLock<Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        let config = RuntimeConfig {
            max_instances: SHARED_INSTANCES,
            ..RuntimeConfig::default()
        };
        Runtime::new(config).expect("the default runtime config is valid")
    })
}

/// A component from `tests/guests/` (or `examples/` with an `example:` prefix), loaded once.
fn module(name: &str) -> TaskModule {
    static LOADED: OnceLock<Mutex<HashMap<String, TaskModule>>> = OnceLock::new();
    let loaded = LOADED.get_or_init(Mutex::default);
    if let Some(module) = loaded
        .lock()
        .expect("no test panics holding the lock")
        .get(name)
    {
        return module.clone();
    }
    let path = match name.strip_prefix("example:") {
        Some(example) => guests::example(example),
        None => guests::guest(name),
    };
    let module = runtime()
        .load_file(&path)
        .unwrap_or_else(|err| panic!("load {name}: {err}"));
    loaded
        .lock()
        .expect("no test panics holding the lock")
        .insert(name.into(), module.clone());
    module
}

fn context(task_id: &str) -> TaskContext {
    TaskContext {
        task_id: task_id.into(),
        queue: "tests".into(),
        attempt: 1,
        publish_time_ms: 1,
    }
}

async fn invoke(name: &str, payload: Value, limits: Limits) -> Report {
    let invocation = Invocation {
        context: context(name),
        payload: payload.to_string(),
        limits,
    };
    module(name).invoke(invocation).await
}

/// The JSON result of an `Ok` outcome; fails the test with the whole report otherwise.
fn ok_json(report: &Report) -> Value {
    match &report.outcome {
        Outcome::Ok { result } => {
            serde_json::from_str(result).expect("the host validated the JSON")
        }
        other => panic!("expected ok, got {other:?}\nstderr: {}", report.stderr.text),
    }
}

fn trap(report: &Report) -> &TrapKind {
    match &report.outcome {
        Outcome::Trap { trap } => trap,
        other => panic!("expected a trap, got {other:?}"),
    }
}

#[tokio::test]
async fn add_returns_its_result_with_fuel_time_and_memory() {
    let report = invoke("example:add", json!({"x": 40, "y": 2}), GENEROUS).await;
    assert_eq!(ok_json(&report), json!(42));
    assert!(report.fuel_used > 0, "fuel is metered");
    assert!(
        report.peak_memory_bytes >= 64 * 1024,
        "the guest has at least one page"
    );
    assert!(report.duration > Duration::ZERO);
}

#[tokio::test]
async fn the_context_reaches_the_guest_and_logs_are_captured() {
    let started_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("the clock is after 1970")
        .as_millis() as u64;
    let limits = Limits {
        timeout: Duration::from_secs(30),
        ..GENEROUS
    };
    let report = invoke("example:hello", json!({"name": "Ada"}), limits).await;
    let result = ok_json(&report);
    assert_eq!(result["greeting"], "hello, Ada");
    assert_eq!(result["task_id"], "example:hello");
    assert_eq!(result["queue"], "tests");
    assert_eq!(result["attempt"], 1);
    let deadline = result["deadline_ms"]
        .as_u64()
        .expect("deadline_ms is a number");
    assert!(
        deadline >= started_ms + 29_000 && deadline <= started_ms + 31_000 + 5_000,
        "{deadline}"
    );
    assert!(
        report.logs.text.contains("INFO greeting Ada"),
        "logs: {:?}",
        report.logs
    );
}

#[tokio::test]
async fn task_errors_are_typed() {
    let fail = invoke("flaky", json!({"mode": "fail"}), GENEROUS).await;
    assert!(matches!(
        fail.outcome,
        Outcome::TaskError {
            error: TaskError::Fail { .. }
        }
    ));
    let retry = invoke(
        "flaky",
        json!({"mode": "retry", "delay_ms": 1500}),
        GENEROUS,
    )
    .await;
    match retry.outcome {
        Outcome::TaskError {
            error: TaskError::Retry { delay, .. },
        } => {
            assert_eq!(delay, Some(Duration::from_millis(1500)));
        }
        other => panic!("expected retry, got {other:?}"),
    }
    let dead = invoke("flaky", json!({"mode": "dead_letter"}), GENEROUS).await;
    assert!(matches!(
        dead.outcome,
        Outcome::TaskError {
            error: TaskError::DeadLetter { .. }
        }
    ));
}

#[tokio::test]
async fn invalid_json_from_the_guest_is_a_fail() {
    let report = invoke("badjson", json!({}), GENEROUS).await;
    match report.outcome {
        Outcome::TaskError {
            error: TaskError::Fail { reason },
        } => {
            assert!(reason.contains("invalid JSON"), "{reason}");
        }
        other => panic!("expected fail, got {other:?}"),
    }
}

#[tokio::test]
async fn an_infinite_loop_runs_out_of_fuel() {
    let limits = Limits {
        fuel: 5_000_000,
        ..GENEROUS
    };
    let report = invoke("spin", json!({}), limits).await;
    assert_eq!(trap(&report), &TrapKind::OutOfFuel);
    assert_eq!(report.fuel_used, 5_000_000, "all the fuel was used");
}

#[tokio::test]
async fn an_infinite_loop_with_huge_fuel_stops_at_the_deadline() {
    let timeout = Duration::from_millis(200);
    let limits = Limits {
        fuel: u64::MAX,
        timeout,
        ..GENEROUS
    };
    // Loaded (compiled) before the clock starts: the budget covers the run, not the compile.
    module("spin");
    let started = Instant::now();
    let report = invoke("spin", json!({}), limits).await;
    let elapsed = started.elapsed();
    assert_eq!(trap(&report), &TrapKind::Timeout);
    assert!(elapsed >= timeout, "stopped early: {elapsed:?}");
    assert!(
        elapsed < timeout + TIMEOUT_MARGIN,
        "stopped late: {elapsed:?}"
    );
}

#[tokio::test]
async fn a_guest_sleeping_in_a_wasi_clock_call_times_out() {
    let timeout = Duration::from_millis(200);
    let limits = Limits {
        timeout,
        ..GENEROUS
    };
    // Loaded (compiled) before the clock starts: the budget covers the run, not the compile.
    module("sleep");
    let started = Instant::now();
    let report = invoke("sleep", json!({"ms": 30_000}), limits).await;
    let elapsed = started.elapsed();
    assert_eq!(trap(&report), &TrapKind::Timeout);
    assert!(
        elapsed < timeout + TIMEOUT_MARGIN,
        "stopped late: {elapsed:?}"
    );
}

#[tokio::test]
async fn a_short_sleep_within_the_deadline_succeeds() {
    let report = invoke("sleep", json!({"ms": 20}), GENEROUS).await;
    assert_eq!(ok_json(&report), json!(20));
    assert!(report.duration >= Duration::from_millis(20));
}

/// On a single-threaded executor a spinning guest must yield, or the other task never runs.
#[tokio::test(flavor = "current_thread")]
async fn a_cpu_bound_guest_does_not_starve_other_tasks() {
    let limits = Limits {
        fuel: u64::MAX,
        timeout: Duration::from_secs(3),
        ..GENEROUS
    };
    let spin = tokio::spawn(invoke("spin", json!({}), limits));
    // Let the spinner start before asking for the small task.
    tokio::task::yield_now().await;
    let add = invoke("example:add", json!({"x": 1, "y": 2}), GENEROUS).await;
    assert_eq!(ok_json(&add), json!(3));
    assert!(
        !spin.is_finished(),
        "the small task ran while the spinner was still running"
    );
    let spun = spin.await.expect("the spinner task does not panic");
    assert_eq!(trap(&spun), &TrapKind::Timeout);
}

#[tokio::test]
async fn allocating_past_the_memory_limit_traps_with_memory_limit() {
    let limits = Limits {
        memory_bytes: 16 * 1024 * 1024,
        ..GENEROUS
    };
    let report = invoke("alloc", json!({"mb": 64}), limits).await;
    assert_eq!(trap(&report), &TrapKind::MemoryLimit);
    assert!(
        report.peak_memory_bytes <= 16 * 1024 * 1024,
        "peak {}",
        report.peak_memory_bytes
    );
}

#[tokio::test]
async fn allocating_under_the_memory_limit_succeeds() {
    let limits = Limits {
        memory_bytes: 16 * 1024 * 1024,
        ..GENEROUS
    };
    let report = invoke("alloc", json!({"mb": 4}), limits).await;
    assert_eq!(ok_json(&report), json!(4 * 1024 * 1024));
    assert!(
        report.peak_memory_bytes >= 4 * 1024 * 1024,
        "peak {}",
        report.peak_memory_bytes
    );
}

#[tokio::test]
async fn unbounded_recursion_overflows_the_stack() {
    let report = invoke("recurse", json!({}), GENEROUS).await;
    assert_eq!(trap(&report), &TrapKind::StackOverflow);
}

#[tokio::test]
async fn a_shadow_stack_overflow_points_at_the_stack_size() {
    // 4 KiB frames in linear memory exhaust the 128 KiB shadow stack long before the native one.
    let report = invoke("recurse", json!({"frames": "large"}), GENEROUS).await;
    match trap(&report) {
        TrapKind::StackOverflow => {}
        TrapKind::Other(message) => assert!(message.contains("-zstack-size"), "{message}"),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn bounded_recursion_succeeds() {
    let report = invoke("recurse", json!({"depth": 1000}), GENEROUS).await;
    assert_eq!(ok_json(&report), json!(1000));
}

#[tokio::test]
async fn a_panic_is_reported_with_its_message() {
    let report = invoke("panic", json!({"message": "kaboom 42"}), GENEROUS).await;
    match &report.outcome {
        Outcome::Trap {
            trap: TrapKind::Panic(message),
        } => assert!(message.contains("kaboom 42"), "{message}"),
        Outcome::TaskError {
            error: TaskError::Fail { reason },
        } => assert!(reason.contains("kaboom 42"), "{reason}"),
        other => panic!("expected a panic or fail, got {other:?}"),
    }
}

#[tokio::test]
async fn files_are_not_reachable() {
    let result = ok_json(&invoke("fs", json!({}), GENEROUS).await);
    assert!(
        result["passwd"]["error"].is_string(),
        "read /etc/passwd: {result}"
    );
    assert!(result["root"]["error"].is_string(), "listed /: {result}");
}

#[tokio::test]
async fn the_environment_is_empty() {
    let result = ok_json(&invoke("env", json!({"name": "PATH"}), GENEROUS).await);
    assert_eq!(result, json!({"value": null, "vars": 0, "args": 0}));
}

#[tokio::test]
async fn tcp_connections_are_denied_and_the_listener_sees_nothing() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
    listener
        .set_nonblocking(true)
        .expect("nonblocking listener");
    let port = listener.local_addr().expect("bound address").port();
    let result = ok_json(&invoke("tcp", json!({"port": port}), GENEROUS).await);
    assert_eq!(result["connected"], false, "{result}");
    match listener.accept() {
        Err(err) => assert_eq!(err.kind(), std::io::ErrorKind::WouldBlock),
        Ok((_, peer)) => panic!("the sandbox reached the listener from {peer}"),
    }
}

/// Resident set size of this process, from `/proc/self/status`.
fn rss_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("procfs is mounted");
    let line = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .expect("VmRSS is reported");
    let kib: u64 = line
        .split_whitespace()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .expect("VmRSS in kB");
    kib * 1024
}

#[tokio::test]
async fn flooding_stdout_is_truncated_and_bounded() {
    let cap = RuntimeConfig::default().output_cap_bytes;
    let before = rss_bytes();
    let report = invoke("flood", json!({"mb": 100}), GENEROUS).await;
    let grown = rss_bytes().saturating_sub(before);
    let result = ok_json(&report);
    assert_eq!(
        result["written"],
        json!(100u64 << 20),
        "the guest saw no error: {result}"
    );
    assert!(report.stdout.truncated);
    assert_eq!(report.stdout.text.len(), cap);
    // 100 MiB written; other tests run in parallel, so allow their noise but not the flood.
    assert!(grown < 48 << 20, "host memory grew by {grown} bytes");
}

#[tokio::test]
async fn a_core_module_is_rejected_with_a_build_hint() {
    let err = runtime()
        .load(&guests::core_module_bytes())
        .expect_err("a core module is not a task");
    assert!(matches!(err, LoadError::CoreModule), "{err}");
    assert!(err.to_string().contains("wasm32-wasip2"), "{err}");
}

#[test]
fn random_bytes_are_rejected() {
    let err = runtime()
        .load(b"#!/bin/sh\necho hello\n")
        .expect_err("a script is not wasm");
    assert!(matches!(err, LoadError::NotWasm(_)), "{err}");
}

#[test]
fn a_component_of_another_world_is_rejected_naming_what_is_missing() {
    let err = runtime()
        .load_file(&guests::guest("other_world"))
        .expect_err("wrong world");
    assert!(matches!(err, LoadError::WrongWorld(_)), "{err}");
    assert!(
        err.to_string().contains("handle"),
        "names the missing export: {err}"
    );
}

#[test]
fn an_oversized_component_is_rejected() {
    let config = RuntimeConfig {
        max_component_bytes: 1000,
        max_instances: 2,
        ..RuntimeConfig::default()
    };
    let small = Runtime::new(config).expect("valid config");
    let err = small
        .load_file(&guests::example("add"))
        .expect_err("over the size cap");
    assert!(
        matches!(err, LoadError::TooLarge { max: 1000, .. }),
        "{err}"
    );
}

#[tokio::test]
async fn a_thousand_invocations_in_a_row_share_no_state() {
    for i in 0..1000 {
        let report = invoke("counter", json!({}), GENEROUS).await;
        assert_eq!(
            ok_json(&report),
            json!(1),
            "invocation {i} saw another's state"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_concurrent_invocations_share_no_state() {
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..200 {
        set.spawn(invoke("counter", json!({}), GENEROUS));
    }
    let mut done = 0;
    while let Some(report) = set.join_next().await {
        assert_eq!(ok_json(&report.expect("no invocation panics")), json!(1));
        done += 1;
    }
    assert_eq!(done, 200);
}

/// Guest memory is kept resident and reset by a dirty-page scan when there is no swap: after an
/// invocation dirties many pages (more than stay resident), the next instance in the slot must
/// still see its statics (`counter`'s lives in linear memory) at their initial values.
#[tokio::test(flavor = "current_thread")]
async fn dirty_memory_does_not_reach_the_next_instance() {
    for _ in 0..20 {
        let filled = invoke("alloc", json!({"mb": 8}), GENEROUS).await;
        assert_eq!(ok_json(&filled), json!(8 << 20));
        assert_eq!(
            ok_json(&invoke("counter", json!({}), GENEROUS).await),
            json!(1)
        );
    }
}

fn cache_runtime(dir: &std::path::Path) -> Runtime {
    let config = RuntimeConfig {
        cache_dir: Some(dir.to_path_buf()),
        max_instances: 4,
        ..RuntimeConfig::default()
    };
    Runtime::new(config).expect("valid config")
}

async fn add_result(module: &TaskModule) -> Value {
    let invocation = Invocation {
        context: context("cache"),
        payload: r#"{"x":2,"y":3}"#.into(),
        limits: GENEROUS,
    };
    ok_json(&module.invoke(invocation).await)
}

#[tokio::test]
async fn the_second_load_of_a_component_does_not_compile() {
    let dir = tempfile::tempdir().expect("temp dir");
    let cache = dir.path().join("cache");
    let wasm = guests::example_bytes("add");
    let first = cache_runtime(&cache);
    first.load(&wasm).expect("compiles");
    assert_eq!(first.compilations(), 1);
    let second = cache_runtime(&cache);
    let module = second.load(&wasm).expect("loads from the cache");
    assert_eq!(second.compilations(), 0, "the cached artifact was used");
    assert_eq!(add_result(&module).await, json!(5));
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(&cache).expect("cache dir").permissions(),
    );
    assert_eq!(mode & 0o777, 0o700, "only the host may write the cache");
}

#[tokio::test]
async fn a_corrupted_cache_file_is_detected_and_recompiled() {
    let dir = tempfile::tempdir().expect("temp dir");
    let wasm = guests::example_bytes("add");
    let first = cache_runtime(dir.path());
    let sha = first.compile_to_cache(&wasm).expect("compiles");
    let path = first.cache_path(&sha).expect("a cache is configured");
    let mut bytes = std::fs::read(&path).expect("the artifact exists");
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    std::fs::write(&path, &bytes).expect("corrupt the artifact");
    let second = cache_runtime(dir.path());
    let module = second.load(&wasm).expect("recompiles");
    assert_eq!(second.compilations(), 1, "the corrupted file was not used");
    assert_eq!(add_result(&module).await, json!(5));
    assert_ne!(
        std::fs::read(&path).expect("rewritten"),
        bytes,
        "the artifact was replaced"
    );
}

/// A valid artifact of another component, planted under this one's name, must not run: only
/// files the host tagged are deserialized.
#[tokio::test]
async fn a_planted_cache_file_is_never_executed() {
    let dir = tempfile::tempdir().expect("temp dir");
    let add = guests::example_bytes("add");
    let counter = guests::guest_bytes("counter");
    let first = cache_runtime(dir.path());
    let add_sha = first.compile_to_cache(&add).expect("compiles add");
    let counter_sha = first.compile_to_cache(&counter).expect("compiles counter");
    let add_path = first.cache_path(&add_sha).expect("a cache is configured");
    let counter_path = first
        .cache_path(&counter_sha)
        .expect("a cache is configured");
    std::fs::copy(&counter_path, &add_path).expect("plant the other artifact");
    let second = cache_runtime(dir.path());
    let module = second.load(&add).expect("recompiles");
    assert_eq!(second.compilations(), 1, "the planted file was not used");
    assert_eq!(add_result(&module).await, json!(5));
}

//! The registry against real components (built from `tests/guests` by the harness), the real
//! runtime, and the memory and embedded (on-disk) state stores.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use wasmboost_broker::{MemoryStore, StateStore};
use wasmboost_registry::{Compiler, Registry, RegistryError, RegistryLimits, Version};
use wasmboost_runtime::config::default_limits;
use wasmboost_runtime::{Invocation, Outcome, Runtime, RuntimeConfig, TaskContext, TaskModule};
use wasmboost_tests::guests::{core_module_bytes, guest_bytes};
use wasmboost_tests::host::wasmboost_bin;

const MAX_BYTES: u64 = 10 * 1024 * 1024;

fn runtime(cache_dir: Option<&Path>) -> Runtime {
    let config = RuntimeConfig {
        cache_dir: cache_dir.map(Path::to_path_buf),
        max_instances: 8,
        ..RuntimeConfig::default()
    };
    Runtime::new(config).expect("runtime starts")
}

fn registry(store: Arc<dyn StateStore>) -> Registry {
    Registry::new(
        store,
        runtime(None),
        Compiler::InProcess,
        RegistryLimits::new(MAX_BYTES),
    )
}

fn memory_registry() -> Registry {
    registry(Arc::new(MemoryStore::new()))
}

/// Which echo build answers: `"v1"` or `"v2"`.
async fn answer(module: &TaskModule) -> String {
    let invocation = Invocation {
        context: TaskContext {
            task_id: "t-1".into(),
            queue: "q".into(),
            attempt: 1,
            publish_time_ms: 0,
        },
        payload: r#"{"x": 1}"#.into(),
        limits: default_limits(),
    };
    let report = module.invoke(invocation).await;
    let Outcome::Ok { result } = &report.outcome else {
        panic!("echo failed: {report:?}");
    };
    let value: serde_json::Value = serde_json::from_str(result).expect("echo returns json");
    value["version"]
        .as_str()
        .expect("echo names its version")
        .to_owned()
}

async fn current_answer(registry: &Registry, queue: &str) -> (u32, String) {
    let (version, module) = registry
        .current(queue)
        .await
        .expect("lookup works")
        .expect("a module is bound");
    (version.number, answer(&module).await)
}

fn numbers(versions: &[Version]) -> Vec<(u32, bool)> {
    versions.iter().map(|v| (v.number, v.current)).collect()
}

#[tokio::test]
async fn deploy_binds_a_version_and_current_runs_it() {
    let registry = memory_registry();
    assert!(registry.current("q").await.expect("lookup").is_none());
    let wasm = guest_bytes("echo_v1");
    let v = registry.deploy("q", wasm.clone()).await.expect("deploys");
    assert_eq!((v.number, v.current, v.size), (1, true, wasm.len() as u64));
    assert_eq!(v.sha256, Runtime::sha256_hex(&wasm));
    assert_eq!(current_answer(&registry, "q").await, (1, "v1".into()));
    assert_eq!(registry.queues().await.expect("queues"), ["q"]);
}

#[tokio::test]
async fn redeploy_keeps_old_versions_and_in_flight_modules() {
    let registry = memory_registry();
    registry
        .deploy("q", guest_bytes("echo_v1"))
        .await
        .expect("v1 deploys");
    let (_, in_flight) = registry.current("q").await.expect("lookup").expect("bound");
    let v2 = registry
        .deploy("q", guest_bytes("echo_v2"))
        .await
        .expect("v2 deploys");
    assert_eq!(v2.number, 2);
    assert_eq!(current_answer(&registry, "q").await, (2, "v2".into()));
    assert_eq!(
        answer(&in_flight).await,
        "v1",
        "a module taken before the deploy keeps running v1"
    );
    let versions = registry.versions("q").await.expect("versions");
    assert_eq!(numbers(&versions), [(1, false), (2, true)]);
    let again = registry
        .deploy("q", guest_bytes("echo_v2"))
        .await
        .expect("same bytes");
    assert_eq!(again, v2, "redeploying the current bytes changes nothing");
}

#[tokio::test]
async fn rollback_to_previous_and_to_a_number() {
    let registry = memory_registry();
    for name in ["echo_v1", "echo_v2"] {
        registry
            .deploy("q", guest_bytes(name))
            .await
            .expect("deploys");
    }
    let back = registry.rollback("q", None).await.expect("rolls back");
    assert_eq!((back.number, back.current), (1, true));
    assert_eq!(current_answer(&registry, "q").await, (1, "v1".into()));
    let err = registry
        .rollback("q", None)
        .await
        .expect_err("nothing before 1");
    assert!(err.is_not_found(), "{err}");
    registry.rollback("q", Some(2)).await.expect("forward to 2");
    assert_eq!(current_answer(&registry, "q").await, (2, "v2".into()));
    let err = registry
        .rollback("q", Some(9))
        .await
        .expect_err("no version 9");
    assert_eq!(
        err.to_string(),
        "queue \"q\" has no version 9 (versions: 1, 2)"
    );
    let err = registry
        .rollback("nothing-here", None)
        .await
        .expect_err("no deployment");
    assert!(matches!(err, RegistryError::NoModule { .. }), "{err}");
    let versions = registry.versions("q").await.expect("versions");
    assert_eq!(numbers(&versions), [(1, false), (2, true)]);
}

#[tokio::test]
async fn refused_uploads_leave_the_binding_serving() {
    let registry = memory_registry();
    registry
        .deploy("q", guest_bytes("echo_v1"))
        .await
        .expect("v1 deploys");
    let cases: [(&str, Vec<u8>, &str); 4] = [
        ("core module", core_module_bytes(), "wasm32-wasip2"),
        (
            "garbage",
            b"definitely not wasm".to_vec(),
            "not a WebAssembly component",
        ),
        ("wrong world", guest_bytes("other_world"), "wasmboost:task"),
        (
            "oversized",
            vec![0; MAX_BYTES as usize + 1],
            "over the limit of 10485760 bytes",
        ),
    ];
    for (what, wasm, want) in cases {
        let err = registry.deploy("q", wasm).await.expect_err(what);
        assert!(err.is_rejection(), "{what}: {err}");
        assert!(err.to_string().contains(want), "{what}: {err}");
        assert_eq!(
            current_answer(&registry, "q").await,
            (1, "v1".into()),
            "after {what}"
        );
    }
    assert_eq!(registry.versions("q").await.expect("versions").len(), 1);
}

#[tokio::test]
async fn bad_queue_names_are_refused() {
    let registry = memory_registry();
    let err = registry
        .deploy("no spaces", guest_bytes("echo_v1"))
        .await
        .expect_err("bad name");
    assert!(err.to_string().contains("\"no spaces\""), "{err}");
}

#[tokio::test]
async fn another_registry_on_the_same_store_sees_deploys() {
    let store: Arc<dyn StateStore> = Arc::new(MemoryStore::new());
    let (a, b) = (registry(Arc::clone(&store)), registry(store));
    a.deploy("q", guest_bytes("echo_v1"))
        .await
        .expect("v1 deploys");
    assert_eq!(current_answer(&b, "q").await, (1, "v1".into()));
    a.deploy("q", guest_bytes("echo_v2"))
        .await
        .expect("v2 deploys");
    assert_eq!(current_answer(&b, "q").await, (2, "v2".into()));
}

#[tokio::test]
async fn a_tampered_blob_is_detected() {
    let store: Arc<dyn StateStore> = Arc::new(MemoryStore::new());
    let first = registry(Arc::clone(&store));
    let v1 = first
        .deploy("q", guest_bytes("echo_v1"))
        .await
        .expect("v1 deploys");
    store
        .put_module(&v1.sha256, guest_bytes("echo_v2").into())
        .await
        .expect("overwrite the blob");
    // A fresh registry (a restarted host) has nothing loaded and must read the blob.
    let err = registry(store)
        .current("q")
        .await
        .expect_err("hash mismatch");
    assert!(matches!(err, RegistryError::Corrupt { .. }), "{err}");
    assert!(err.to_string().contains(&v1.sha256), "{err}");
}

#[tokio::test]
async fn bindings_survive_reopening_the_embedded_store() {
    let dir = tempfile::tempdir().expect("temp dir");
    {
        let (broker, store) = wasmboost_broker::open_embedded(dir.path()).expect("opens");
        let registry = registry(store);
        registry
            .deploy("q", guest_bytes("echo_v1"))
            .await
            .expect("v1 deploys");
        registry
            .deploy("q", guest_bytes("echo_v2"))
            .await
            .expect("v2 deploys");
        registry.rollback("q", Some(1)).await.expect("rolls back");
        drop(registry);
        wasmboost_broker::Broker::close(&*broker)
            .await
            .expect("closes");
    }
    let (_broker, store) = wasmboost_broker::open_embedded(dir.path()).expect("reopens");
    let registry = registry(store);
    assert_eq!(registry.queues().await.expect("queues"), ["q"]);
    let versions = registry.versions("q").await.expect("versions");
    assert_eq!(numbers(&versions), [(1, true), (2, false)]);
    assert_eq!(current_answer(&registry, "q").await, (1, "v1".into()));
}

#[tokio::test]
async fn a_child_compile_fills_the_cache_the_parent_loads_from() {
    let cache = tempfile::tempdir().expect("temp dir");
    let runtime = runtime(Some(cache.path()));
    let compiler = Compiler::Child {
        exe: wasmboost_bin(),
        timeout: Duration::from_secs(120),
        memory_limit: None,
    };
    let store = Arc::new(MemoryStore::new());
    let registry = Registry::new(
        store,
        runtime.clone(),
        compiler,
        RegistryLimits::new(MAX_BYTES),
    );
    registry
        .deploy("q", guest_bytes("echo_v1"))
        .await
        .expect("v1 deploys");
    assert_eq!(current_answer(&registry, "q").await, (1, "v1".into()));
    assert_eq!(runtime.compilations(), 0, "the parent never ran Cranelift");
    let err = registry
        .deploy("q", core_module_bytes())
        .await
        .expect_err("core module");
    assert!(err.is_rejection(), "{err}");
    assert!(err.to_string().contains("wasm32-wasip2"), "{err}");
    assert_eq!(current_answer(&registry, "q").await, (1, "v1".into()));
}

#[tokio::test]
async fn a_child_compile_past_its_time_limit_is_refused() {
    let compiler = Compiler::Child {
        exe: wasmboost_bin(),
        timeout: Duration::from_millis(1),
        memory_limit: None,
    };
    let registry = Registry::new(
        Arc::new(MemoryStore::new()),
        runtime(None),
        compiler,
        RegistryLimits::new(MAX_BYTES),
    );
    let err = registry
        .deploy("q", guest_bytes("echo_v1"))
        .await
        .expect_err("times out");
    assert!(matches!(err, RegistryError::CompileTimeout { .. }), "{err}");
    assert!(registry.current("q").await.expect("lookup").is_none());
}

/// The `.cwasm` files in a cache directory.
fn artifacts(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .expect("cache dir lists")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".cwasm"))
        .collect();
    names.sort();
    names
}

#[tokio::test]
async fn a_refused_upload_leaves_nothing_in_the_cache() {
    let cache = tempfile::tempdir().expect("temp dir");
    let store = Arc::new(MemoryStore::new());
    let registry = Registry::new(
        store.clone(),
        runtime(Some(cache.path())),
        Compiler::InProcess,
        RegistryLimits::new(MAX_BYTES),
    );
    // Compiles fine, but does not fit the task world: refused after Cranelift ran.
    let wasm = guest_bytes("other_world");
    let err = registry
        .deploy("q", wasm.clone())
        .await
        .expect_err("wrong world");
    assert!(err.is_rejection(), "{err}");
    assert_eq!(artifacts(cache.path()), Vec::<String>::new());
    let sha = Runtime::sha256_hex(&wasm);
    assert_eq!(store.get_module(&sha).await.expect("get"), None);
}

#[tokio::test]
async fn versions_past_keep_take_their_blob_and_cwasm_with_them() {
    let cache = tempfile::tempdir().expect("temp dir");
    let store = Arc::new(MemoryStore::new());
    let limits = RegistryLimits {
        keep_versions: 2,
        ..RegistryLimits::new(MAX_BYTES)
    };
    let registry = Registry::new(
        store.clone(),
        runtime(Some(cache.path())),
        Compiler::InProcess,
        limits,
    );
    let sha = |name| Runtime::sha256_hex(&guest_bytes(name));
    // `counter` is also bound to another queue, so it must survive leaving `q`.
    registry
        .deploy("other", guest_bytes("counter"))
        .await
        .expect("other deploys");
    for name in ["echo_v1", "counter", "echo_v2", "flaky"] {
        registry
            .deploy("q", guest_bytes(name))
            .await
            .expect("deploys");
    }
    let versions = registry.versions("q").await.expect("versions");
    assert_eq!(numbers(&versions), [(3, false), (4, true)]);
    assert_eq!(store.get_module(&sha("echo_v1")).await.expect("get"), None);
    assert!(
        store
            .get_module(&sha("counter"))
            .await
            .expect("get")
            .is_some()
    );
    let left = artifacts(cache.path());
    assert_eq!(left.len(), 3, "counter, echo_v2 and flaky stay: {left:?}");
    assert!(
        !left.iter().any(|n| n.starts_with(&sha("echo_v1"))),
        "{left:?}"
    );
    let (current, _) = registry.current("q").await.expect("lookup").expect("bound");
    assert_eq!(current.number, 4);
}

/// A stand-in `wasmboost` that marks `dir/started`, takes the wasm and compiles for `seconds`.
fn slow_compiler(dir: &Path, seconds: u32) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join("slow-wasmboost");
    let started = dir.join("started");
    let script = format!(
        "#!/bin/sh\ntouch {}\ncat >/dev/null\nexec sleep {seconds}\n",
        started.display()
    );
    std::fs::write(&path, script).expect("write script");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    path
}

#[tokio::test]
async fn a_deploy_finding_every_compile_slot_busy_is_refused_after_the_wait() {
    let dir = tempfile::tempdir().expect("temp dir");
    let compiler = Compiler::Child {
        exe: slow_compiler(dir.path(), 30),
        timeout: Duration::from_secs(5),
        memory_limit: None,
    };
    let limits = RegistryLimits {
        max_compiles: 1,
        compile_wait: Duration::from_millis(300),
        ..RegistryLimits::new(MAX_BYTES)
    };
    let registry = Registry::new(
        Arc::new(MemoryStore::new()),
        runtime(None),
        compiler,
        limits,
    );
    let first = tokio::spawn({
        let registry = registry.clone();
        async move { registry.deploy("a", guest_bytes("echo_v1")).await }
    });
    // Poll until the first deploy holds the only slot: its child has started.
    let started = dir.path().join("started");
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while !started.exists() {
        assert!(
            std::time::Instant::now() < deadline,
            "the compiler never started"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let err = registry
        .deploy("b", guest_bytes("echo_v2"))
        .await
        .expect_err("the only slot is held");
    assert!(matches!(err, RegistryError::CompilerBusy { .. }), "{err}");
    assert!(err.is_rejection());
    assert!(err.to_string().contains("runtime.max_compiles"), "{err}");
    let first = first
        .await
        .expect("joins")
        .expect_err("the stand-in times out");
    assert!(
        matches!(first, RegistryError::CompileTimeout { .. }),
        "{first}"
    );
}

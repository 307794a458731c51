//! Issue 11, the house around the sandbox, against the real binary and real guests: bounded
//! compiles (slots and memory), nothing left by a refused upload, old versions collected, guest
//! output that can neither flood nor forge the host's log, tamper warnings naming the file,
//! and private files at rest.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use serde_json::{Value, json};
use wasmboost_runtime::Runtime;
use wasmboost_tests::guests;
use wasmboost_tests::host::{HostOptions, HostProcess};

/// The host's bound on one line of guest text (`MAX_GUEST_LINE_BYTES`).
const LINE_CAP: usize = wasmboost_runtime::config::MAX_GUEST_LINE_BYTES;
/// Room on a log line for the timestamp, level, target and fields around the guest's text.
const LINE_MARGIN: usize = 512;

fn poll<T>(what: &str, host: &HostProcess, within: Duration, f: impl FnMut() -> Option<T>) -> T {
    wasmboost_tests::poll::poll(what, within, || format!("host log:\n{}", host.log()), f)
}

fn deploy(host: &HostProcess, queue: &str, wasm: &[u8]) -> (u16, String) {
    host.http("PUT", &format!("/v1/queues/{queue}/module"), wasm)
}

fn assert_serving(host: &HostProcess) {
    let (status, body) = host.http("GET", "/v1/queues", b"");
    assert_eq!(status, 200, "the host still serves: {body}");
}

/// Appends `bytes` as unsigned LEB128.
fn leb(out: &mut Vec<u8>, mut value: usize) {
    loop {
        let byte = (value & 0x7f) as u8;
        value >>= 7;
        if value == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

fn section(out: &mut Vec<u8>, id: u8, content: &[u8]) {
    out.push(id);
    leb(out, content.len());
    out.extend_from_slice(content);
}

/// A component holding one core module of `functions` functions of 64 instructions each
/// (200 000 of them: 20 MB, within the upload limit; compiling them needs over 256 MiB): costly
/// to compile, and not a task (it exports no `handle`), so it is
/// refused after compiling.
fn heavy_component(functions: usize) -> Vec<u8> {
    let mut body = vec![0x00]; // no locals
    for _ in 0..16 {
        // i32.const 1; i32.const 2; i32.add; drop
        body.extend_from_slice(&[0x41, 0x01, 0x41, 0x02, 0x6a, 0x1a]);
    }
    body.push(0x0b); // end
    let mut module = b"\0asm\x01\x00\x00\x00".to_vec();
    section(&mut module, 1, &[0x01, 0x60, 0x00, 0x00]); // one type: [] -> []
    let mut funcs = Vec::new();
    leb(&mut funcs, functions);
    funcs.resize(funcs.len() + functions, 0x00);
    section(&mut module, 3, &funcs);
    let mut code = Vec::new();
    leb(&mut code, functions);
    for _ in 0..functions {
        leb(&mut code, body.len());
        code.extend_from_slice(&body);
    }
    section(&mut module, 10, &code);
    let mut component = b"\0asm\x0d\x00\x01\x00".to_vec();
    section(&mut component, 1, &module); // core module section
    component
}

/// Every file in `dir` whose name contains `needle` (empty when `dir` does not exist).
fn files_with(dir: &Path, needle: &str) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut names: Vec<String> = entries
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(needle))
        .collect();
    names.sort();
    names
}

/// Whether the host process has a `wasmboost __compile` child right now.
fn compiling(host: &HostProcess) -> bool {
    let parent = host.pid().to_string();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return false;
    };
    entries.flatten().any(|entry| {
        let dir = entry.path();
        let stat = std::fs::read_to_string(dir.join("stat")).unwrap_or_default();
        let ppid = stat
            .rsplit_once(") ")
            .and_then(|(_, rest)| rest.split_whitespace().nth(1).map(str::to_owned));
        ppid.as_deref() == Some(parent.as_str())
            && std::fs::read(dir.join("cmdline"))
                .is_ok_and(|c| String::from_utf8_lossy(&c).contains("__compile"))
    })
}

#[test]
fn a_deploy_finding_every_compile_slot_busy_gets_a_clear_422() {
    let config =
        "[runtime]\nmax_compiles = 1\ncompile_wait = \"500ms\"\ncompile_timeout = \"20s\"\n";
    let host = HostOptions::default().config(config).start();
    let heavy = std::thread::spawn({
        let addr = host.addr().to_owned();
        move || {
            let wasm = heavy_component(200_000);
            wasmboost_tests::host::http(&addr, "PUT", "/v1/queues/heavy/module", &wasm)
        }
    });
    poll(
        "the heavy compile to start",
        &host,
        Duration::from_secs(60),
        || compiling(&host).then_some(()),
    );
    let (status, body) = deploy(&host, "small", &guests::guest_bytes("echo_v1"));
    assert_eq!(status, 422, "{body}");
    assert!(body.contains("rejected"), "{body}");
    assert!(body.contains("runtime.max_compiles"), "{body}");
    assert_serving(&host);
    let (status, body) = heavy.join().expect("the heavy deploy returns");
    assert_eq!(status, 422, "not a task, or too slow: {body}");
    let (status, body) = deploy(&host, "small", &guests::guest_bytes("echo_v1"));
    assert!(
        (200..300).contains(&status),
        "a free slot compiles: {status} {body}"
    );
}

#[test]
fn a_compile_past_the_memory_limit_gets_a_clear_422_and_leaves_nothing() {
    let config = "[runtime]\ncompile_memory = \"128MiB\"\ncompile_timeout = \"5m\"\n";
    let host = HostOptions::default().config(config).start();
    let (status, body) = deploy(&host, "heavy", &heavy_component(200_000));
    assert_eq!(status, 422, "{body}");
    assert!(body.contains("runtime.compile_memory"), "{body}");
    assert!(
        body.contains(&(128u64 << 20).to_string()),
        "names the limit: {body}"
    );
    let cache = host.data_dir().join("cache");
    assert_eq!(
        files_with(&cache, "-"),
        Vec::<String>::new(),
        "no artifact, no temporary"
    );
    assert_serving(&host);
    let (status, body) = deploy(&host, "small", &guests::guest_bytes("echo_v1"));
    assert!(
        (200..300).contains(&status),
        "a normal module compiles within the limit: {status} {body}"
    );
}

#[test]
fn a_refused_upload_leaves_no_cwasm_and_no_blob() {
    let mut host = HostProcess::start();
    let wasm = guests::guest_bytes("other_world");
    let (status, body) = deploy(&host, "wrong", &wasm);
    assert_eq!(status, 422, "{body}");
    let sha = Runtime::sha256_hex(&wasm);
    let cache = host.data_dir().join("cache");
    assert_eq!(files_with(&cache, &sha), Vec::<String>::new());
    host.stop();
    let (_, store) = wasmboost_broker::open_embedded(host.data_dir().join("broker"))
        .expect("the stopped host's database opens");
    let blob = block_on(wasmboost_broker::StateStore::get_module(&*store, &sha));
    assert_eq!(blob.expect("reads"), None);
}

#[test]
fn versions_past_keep_are_collected_with_their_blob_and_cwasm() {
    let mut host = HostOptions::default()
        .config("[versions]\nkeep = 2\n")
        .start();
    let names = ["echo_v1", "echo_v2", "counter", "flaky"];
    for name in names {
        let (status, body) = deploy(&host, "q", &guests::guest_bytes(name));
        assert!((200..300).contains(&status), "{name}: {status} {body}");
    }
    let (_, body) = host.http("GET", "/v1/queues/q/versions", b"");
    let versions: Value = serde_json::from_str(&body).expect("json");
    let numbers: Vec<u64> = versions
        .as_array()
        .expect("a list of versions")
        .iter()
        .filter_map(|v| v["number"].as_u64())
        .collect();
    assert_eq!(numbers, [3, 4], "{body}");
    let sha = |name| Runtime::sha256_hex(&guests::guest_bytes(name));
    let cache = host.data_dir().join("cache");
    for gone in ["echo_v1", "echo_v2"] {
        assert_eq!(
            files_with(&cache, &sha(gone)),
            Vec::<String>::new(),
            "{gone}"
        );
    }
    for kept in ["counter", "flaky"] {
        assert!(
            !files_with(&cache, &sha(kept)).is_empty(),
            "{kept} stays cached"
        );
    }
    host.stop();
    let (_, store) = wasmboost_broker::open_embedded(host.data_dir().join("broker"))
        .expect("the stopped host's database opens");
    for (name, kept) in [
        ("echo_v1", false),
        ("echo_v2", false),
        ("counter", true),
        ("flaky", true),
    ] {
        let blob = block_on(wasmboost_broker::StateStore::get_module(
            &*store,
            &sha(name),
        ));
        assert_eq!(blob.expect("reads").is_some(), kept, "{name}");
    }
}

fn block_on<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime")
        .block_on(future)
}

/// Publish `payload` to `queue` and wait for the task's terminal record.
fn run_task(host: &HostProcess, queue: &str, payload: &Value) -> Value {
    let path = format!("/v1/queues/{queue}/messages");
    let (status, body) = host.http("POST", &path, payload.to_string().as_bytes());
    assert!((200..300).contains(&status), "publish: {status} {body}");
    let id = serde_json::from_str::<Value>(&body).expect("json")["task_id"]
        .as_str()
        .expect("a task id")
        .to_owned();
    poll("the task to finish", host, Duration::from_secs(120), || {
        let (_, body) = host.http("GET", &format!("/v1/tasks/{id}"), b"");
        let record: Value = serde_json::from_str(&body).ok()?;
        matches!(
            record["state"].as_str(),
            Some("succeeded" | "failed" | "dead_lettered" | "expired")
        )
        .then_some(record)
    })
}

#[test]
fn guest_output_is_capped_and_escaped_before_the_host_log() {
    let config = "[defaults]\nmemory = \"256MiB\"\n";
    let host = HostOptions::default()
        .config(config)
        .env("RUST_LOG", "warn,wasmboost=debug")
        .start();
    let (status, body) = deploy(&host, "noisy", &guests::guest_bytes("noisy"));
    assert!((200..300).contains(&status), "{status} {body}");
    let forged = "2026-01-01T00:00:00.000000Z  INFO wasmboost_worker::host: FORGED";
    let text = format!("innocent\n{forged}\r\x1b[2J\x1b[31mred\u{2028}");
    let payload = json!({ "log_bytes": 40 << 20, "text": text, "fail_bytes": 10 << 20 });
    let record = run_task(&host, "noisy", &payload);
    assert_eq!(record["state"], "failed", "{record}");
    let error = record["error"].as_str().expect("an error reason");
    assert!(
        error.len() <= LINE_CAP + 64,
        "record error is {} bytes",
        error.len()
    );
    assert!(
        error.contains("…[truncated "),
        "the reason is cut and marked"
    );
    let log = poll(
        "the guest's lines in the host log",
        &host,
        Duration::from_secs(30),
        || {
            let log = host.log();
            (log.contains("guest log") && log.contains("innocent")).then_some(log)
        },
    );
    for raw in log.lines() {
        // The guest's screen-clearing escape never reaches the log raw.
        assert!(!raw.contains("\x1b[2J"), "raw guest escape in: {raw:?}");
        // The host colours its own lines; take its colour codes off before reading them.
        let line = &strip_colours(raw);
        assert!(
            line.len() <= LINE_CAP + LINE_MARGIN,
            "a {}-byte line in the host log: {}…",
            line.len(),
            line.chars().take(200).collect::<String>()
        );
        assert!(
            !line.starts_with("2026-01-01T00:00:00"),
            "forged line: {line}"
        );
        if line.contains("FORGED") {
            assert!(
                line.contains("innocent"),
                "FORGED on a line of its own: {line}"
            );
        }
    }
    let log = strip_colours(&log);
    assert!(
        log.contains("…[truncated "),
        "the 40 MB line is cut and marked:\n{log}"
    );
    assert!(
        log.contains("FORGED"),
        "the guest's line is logged (escaped):\n{log}"
    );
    assert!(
        log.contains("queue=\"noisy\""),
        "guest lines carry the queue as a field:\n{log}"
    );
}

/// `text` without SGR colour codes (`ESC [ digits ; ... m`).
fn strip_colours(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("\x1b[") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after
            .find(|c: char| !(c.is_ascii_digit() || c == ';'))
            .unwrap_or(after.len());
        if after[end..].starts_with('m') {
            rest = &after[end + 1..];
        } else {
            out.push_str("\x1b[");
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

#[test]
fn a_tampered_cache_entry_is_reported_with_its_path() {
    let mut host = HostProcess::start();
    let wasm = guests::guest_bytes("echo_v1");
    let (status, body) = deploy(&host, "echo", &wasm);
    assert!((200..300).contains(&status), "{status} {body}");
    host.stop();
    let cache = host.data_dir().join("cache");
    let sha = Runtime::sha256_hex(&wasm);
    let artifact = files_with(&cache, &sha)
        .into_iter()
        .find(|n| n.ends_with(".cwasm"))
        .expect("the deploy cached its artifact");
    let path = cache.join(&artifact);
    let mut bytes = std::fs::read(&path).expect("read artifact");
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    std::fs::write(&path, bytes).expect("tamper");
    host.restart();
    let record = run_task(&host, "echo", &json!({ "x": 1 }));
    assert_eq!(record["state"], "succeeded", "recompiled and ran: {record}");
    let log = host.log();
    let warning = log
        .lines()
        .find(|l| l.contains("WARN") && l.contains("integrity"))
        .unwrap_or_else(|| panic!("no tamper warning:\n{log}"));
    assert!(
        warning.contains(&path.display().to_string()),
        "names the file: {warning}"
    );
}

/// The process umask is shared by every test thread: change it under one lock.
static UMASK: Mutex<()> = Mutex::new(());

/// Sets the process's file mode mask; returns the previous one.
#[expect(
    unsafe_code,
    reason = "umask(2) only swaps the process's file mode mask"
)]
fn set_umask(mask: libc::mode_t) -> libc::mode_t {
    // SAFETY: umask has no memory-safety preconditions and cannot fail.
    unsafe { libc::umask(mask) }
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("stat {}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

#[test]
fn the_data_dir_and_database_are_private_under_umask_000() {
    let temp = tempfile::tempdir().expect("temp dir");
    let data: PathBuf = temp.path().join("data");
    let mut host = {
        let _umask = UMASK.lock().unwrap_or_else(|e| e.into_inner());
        let old = set_umask(0);
        let host = HostOptions::default().data_dir(&data).start();
        set_umask(old);
        host
    };
    let db = data.join("broker").join("wasmboost.redb");
    let expect = [
        (data.clone(), 0o700),
        (data.join("broker"), 0o700),
        (db.clone(), 0o600),
        (data.join("broker").join("wasmboost.lock"), 0o600),
        (data.join("cache"), 0o700),
        (data.join("secrets"), 0o700),
        (data.join("secrets").join("cache.key"), 0o600),
    ];
    for (path, want) in &expect {
        assert_eq!(mode(path), *want, "{}", path.display());
    }
    assert!(
        !data.join("cache").join("cache.key").exists(),
        "the key is not beside the artifacts"
    );
    // Files left readable by an older version are tightened at the next start.
    host.stop();
    std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    host.restart();
    assert_eq!(mode(&db), 0o600);
    assert_eq!(mode(&data), 0o700);
}

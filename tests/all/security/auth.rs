//! The authenticated control plane against the real binary: tokens and scopes (401/403), the
//! browser guard, the non-loopback refusal, bounded bodies and slow clients, TLS, revocation
//! across hosts sharing Redis, and the audit log.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

use serde_json::Value;
use wasmboost_tests::guests;
use wasmboost_tests::host::{HostOptions, HostProcess, LISTEN_MARKER, http_with, wasmboost_bin};
use wasmboost_tests::poll::poll;
use wasmboost_tests::redis::RedisServer;

const LONG: Duration = Duration::from_secs(60);

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// `wasmboost token create <args>` against `host` (with its current token); the secret.
fn create_token(host: &HostProcess, args: &[&str]) -> String {
    let out = host.cli([&["token", "create"][..], args].concat());
    assert!(
        out.status.success(),
        "token create {args:?}: {}",
        text(&out.stderr)
    );
    let token = text(&out.stdout).trim().to_owned();
    assert!(token.starts_with("wbt_"), "{token:?}");
    token
}

fn id_of(token: &str) -> &str {
    token.split('_').nth(1).expect("wbt_<id>_<secret>")
}

/// The `error.code` of a JSON error body (panics if it is not one).
fn code(body: &str) -> String {
    let value: Value =
        serde_json::from_str(body).unwrap_or_else(|e| panic!("not JSON ({e}): {body}"));
    value["error"]["code"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

/// A host with queues `a` and `b` declared and its first (admin) token minted over loopback.
fn host_with_admin() -> (HostProcess, String) {
    let mut host = HostOptions::default()
        .arg("--queue")
        .arg("a=1")
        .arg("--queue")
        .arg("b=1")
        .start();
    let admin = create_token(&host, &["--scope", "admin"]);
    host.set_token(Some(admin.clone()));
    (host, admin)
}

#[test]
fn missing_wrong_scope_and_expired_tokens_get_401_and_403() {
    let (host, _admin) = host_with_admin();
    let addr = host.addr();
    let (status, body) = http_with(addr, "GET", "/v1/queues", &[], b"");
    assert_eq!(
        (status, code(&body).as_str()),
        (401, "unauthorized"),
        "{body}"
    );
    let (status, _) = http_with(addr, "GET", "/healthz", &[], b"");
    assert_eq!(status, 200, "/healthz stays open");

    let read = create_token(&host, &["--scope", "read"]);
    let (status, _) = http_with(
        addr,
        "GET",
        "/v1/queues",
        &[("Authorization", &bearer(&read))],
        b"",
    );
    assert_eq!(status, 200);
    let wasm = guests::example_bytes("add");
    let (status, body) = http_with(
        addr,
        "PUT",
        "/v1/queues/a/module",
        &[("Authorization", &bearer(&read))],
        &wasm,
    );
    assert_eq!((status, code(&body).as_str()), (403, "forbidden"), "{body}");
    assert!(body.contains("deploy"), "names the missing scope: {body}");

    let expiring = create_token(&host, &["--scope", "read", "--expires", "1s"]);
    let body = poll(
        "the 1 s token to expire",
        LONG,
        || host.log(),
        || {
            let (status, body) = http_with(
                addr,
                "GET",
                "/v1/queues",
                &[("Authorization", &bearer(&expiring))],
                b"",
            );
            (status == 401).then_some(body)
        },
    );
    assert!(body.contains("expired"), "{body}");

    let (status, body) = http_with(
        addr,
        "GET",
        "/v1/queues",
        &[("Authorization", "Bearer wbt_nonsense")],
        b"",
    );
    assert_eq!((status, code(&body).as_str()), (401, "unauthorized"));
    let out = host.cli(["token", "create", "--scope", "admin", "--token", &read]);
    assert!(!out.status.success(), "a read token cannot mint tokens");
    assert!(text(&out.stderr).contains("admin"), "{}", text(&out.stderr));
}

#[test]
fn a_publish_token_for_queue_a_cannot_publish_to_b() {
    let (host, _admin) = host_with_admin();
    let token = create_token(&host, &["--scope", "publish", "--queue", "a"]);
    let auth = [("Authorization", bearer(&token))];
    let auth: Vec<(&str, &str)> = auth.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (status, body) = http_with(
        host.addr(),
        "POST",
        "/v1/queues/a/messages",
        &auth,
        br#"{"x":1,"y":2}"#,
    );
    assert_eq!(status, 202, "{body}");
    let (status, body) = http_with(
        host.addr(),
        "POST",
        "/v1/queues/b/messages",
        &auth,
        br#"{"x":1,"y":2}"#,
    );
    assert_eq!((status, code(&body).as_str()), (403, "forbidden"), "{body}");
    assert!(body.contains(r#"\"b\""#), "names the queue: {body}");
    let (status, _) = http_with(host.addr(), "GET", "/v1/queues", &auth, b"");
    assert_eq!(status, 403, "publish is not read");
}

#[test]
fn browsers_cannot_drive_an_unauthenticated_loopback_host() {
    let host = HostOptions::default().arg("--queue").arg("a=1").start();
    let addr = host.addr();
    // A page's simple POST: text/plain, foreign Origin.
    let (status, body) = http_with(
        addr,
        "POST",
        "/v1/queues/a/pause",
        &[
            ("Content-Type", "text/plain"),
            ("Origin", "https://evil.example"),
        ],
        b"x",
    );
    assert!(matches!(status, 403 | 415), "{status} {body}");
    let (status, body) = http_with(
        addr,
        "POST",
        "/v1/queues/a/pause",
        &[("Content-Type", "text/plain")],
        b"x",
    );
    assert_eq!(
        (status, code(&body).as_str()),
        (415, "unsupported_media_type"),
        "{body}"
    );
    let (status, body) = http_with(
        addr,
        "POST",
        "/v1/queues/a/messages",
        &[("Origin", "https://evil.example")],
        b"{}",
    );
    assert_eq!(
        (status, code(&body).as_str()),
        (403, "foreign_origin"),
        "{body}"
    );
    // DNS rebinding: the page's own name in Host, deploying a module.
    let wasm = guests::example_bytes("add");
    let (status, body) = http_with(
        addr,
        "PUT",
        "/v1/queues/evil/module",
        &[("Host", "attacker.example:7878")],
        &wasm,
    );
    assert_eq!(
        (status, code(&body).as_str()),
        (403, "foreign_host"),
        "{body}"
    );
    let (status, body) = http_with(
        addr,
        "GET",
        "/v1/queues",
        &[("Host", "attacker.example")],
        b"",
    );
    assert_eq!(status, 403, "{body}");
    let (status, body) = http_with(addr, "GET", "/v1/queues", &[], b"");
    assert_eq!(status, 200);
    assert!(!body.contains("evil"), "nothing was deployed: {body}");
    // The CLI (which sends its content type) still works in this mode.
    let out = host.cli(["pause", "a"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
}

/// Spawn `serve` with `args` on a fresh data dir; stderr lines arrive on the channel.
fn spawn_serve(
    args: &[&str],
) -> (
    std::process::Child,
    mpsc::Receiver<String>,
    tempfile::TempDir,
) {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut child = Command::new(wasmboost_bin())
        .arg("serve")
        .args(args)
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn serve");
    let stderr = child.stderr.take().expect("piped");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    (child, rx, dir)
}

#[test]
fn a_non_loopback_listener_needs_tokens_or_insecure() {
    let (mut child, lines, _dir) = spawn_serve(&["--listen", "0.0.0.0:0"]);
    let status = poll("serve to refuse", LONG, String::new, || {
        child.try_wait().ok().flatten()
    });
    assert!(
        !status.success(),
        "serve must refuse 0.0.0.0 without tokens"
    );
    let log: Vec<String> = lines.try_iter().collect();
    let log = log.join("\n");
    assert!(
        log.contains("refusing to listen on 0.0.0.0") && log.contains("--insecure"),
        "{log}"
    );

    let (mut child, lines, _dir) = spawn_serve(&["--listen", "0.0.0.0:0", "--insecure"]);
    let mut seen = Vec::new();
    let deadline = Instant::now() + LONG;
    while !seen.iter().any(|l: &String| l.contains(LISTEN_MARKER)) {
        let left = deadline.saturating_duration_since(Instant::now());
        match lines.recv_timeout(left) {
            Ok(line) => seen.push(line),
            Err(_) => break,
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    let log = seen.join("\n");
    assert!(
        log.contains(LISTEN_MARKER),
        "serve --insecure starts: {log}"
    );
    assert!(
        log.contains("WARNING") && log.contains("WITHOUT API TOKENS"),
        "loud: {log}"
    );
}

/// Status and body of the answer on `tcp` (read until the server closes).
fn answer(tcp: &mut TcpStream) -> (u16, String) {
    tcp.set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    let mut raw = Vec::new();
    let _ = tcp.read_to_end(&mut raw);
    let raw = text(&raw);
    let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((&raw, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = if head.to_ascii_lowercase().contains("chunked") {
        body.lines()
            .filter(|l| l.starts_with('{'))
            .collect::<String>()
    } else {
        body.to_owned()
    };
    (status, body)
}

#[test]
fn an_oversized_publish_is_a_json_413_before_its_body_is_sent() {
    let host = HostOptions::default().arg("--queue").arg("a=1").start();
    let target = host.addr().trim_start_matches("http://").to_owned();
    // Declared too large: answered before a byte of the body is sent.
    let mut tcp = TcpStream::connect(&target).expect("connect");
    let head = format!(
        "POST /v1/queues/a/messages HTTP/1.1\r\nHost: {target}\r\nContent-Type: application/json\r\n\
         Content-Length: 70000000\r\n\r\n"
    );
    tcp.write_all(head.as_bytes()).expect("write head");
    let (status, body) = answer(&mut tcp);
    assert_eq!((status, code(&body).as_str()), (413, "too_large"), "{body}");
    assert!(body.contains("host.max_message_bytes"), "{body}");

    // Chunked, no length: cut off once past the cap, long before 70 MB are sent.
    let mut tcp = TcpStream::connect(&target).expect("connect");
    let head = format!(
        "POST /v1/queues/a/messages HTTP/1.1\r\nHost: {target}\r\nContent-Type: application/json\r\n\
         Transfer-Encoding: chunked\r\n\r\n"
    );
    tcp.write_all(head.as_bytes()).expect("write head");
    let sent = Arc::new(AtomicU64::new(0));
    let mut writer = tcp.try_clone().expect("clone");
    let counter = Arc::clone(&sent);
    std::thread::spawn(move || {
        let chunk = vec![b' '; 64 << 10];
        let frame = [
            format!("{:x}\r\n", chunk.len()).into_bytes(),
            chunk,
            b"\r\n".to_vec(),
        ]
        .concat();
        while counter.load(Ordering::Relaxed) < 70_000_000 {
            if writer.write_all(&frame).is_err() {
                return;
            }
            counter.fetch_add(frame.len() as u64, Ordering::Relaxed);
        }
    });
    let (status, body) = answer(&mut tcp);
    assert_eq!((status, code(&body).as_str()), (413, "too_large"), "{body}");
    let at_answer = sent.load(Ordering::Relaxed);
    assert!(
        at_answer < 70_000_000,
        "answered after {at_answer} bytes were sent"
    );
}

#[test]
fn slow_clients_are_cut_off() {
    let host = HostOptions::default()
        .config("[host]\nheader_timeout = \"1s\"\nbody_timeout = \"1s\"\n")
        .arg("--queue")
        .arg("a=1")
        .start();
    let target = host.addr().trim_start_matches("http://").to_owned();
    // A head trickled one byte every 200 ms: closed after the header timeout.
    let tcp = TcpStream::connect(&target).expect("connect");
    let mut writer = tcp.try_clone().expect("clone");
    let started = Instant::now();
    std::thread::spawn(move || {
        let head = format!(
            "GET /v1/queues HTTP/1.1\r\nHost: {target}\r\nX-Slow: {}",
            "a".repeat(200)
        );
        for byte in head.bytes() {
            if writer.write_all(&[byte]).is_err() {
                return;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    });
    let mut reader = tcp;
    reader
        .set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    let mut rest = Vec::new();
    let _ = reader.read_to_end(&mut rest);
    let took = started.elapsed();
    assert!(
        took < Duration::from_secs(6),
        "a trickling head held the connection {took:?}"
    );

    // A body that stops: 408 as JSON after the body timeout.
    let target = host.addr().trim_start_matches("http://").to_owned();
    let mut tcp = TcpStream::connect(&target).expect("connect");
    let head = format!(
        "POST /v1/queues/a/messages HTTP/1.1\r\nHost: {target}\r\nContent-Type: application/json\r\n\
         Content-Length: 100\r\n\r\n{{\"x\":"
    );
    let started = Instant::now();
    tcp.write_all(head.as_bytes()).expect("write");
    let (status, body) = answer(&mut tcp);
    assert_eq!((status, code(&body).as_str()), (408, "timeout"), "{body}");
    assert!(
        started.elapsed() < Duration::from_secs(6),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn tls_round_trip_with_a_self_signed_certificate() {
    let dir = tempfile::tempdir().expect("temp dir");
    let certified =
        rcgen::generate_simple_self_signed(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
            .expect("a self-signed certificate");
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&cert, certified.cert.pem()).expect("write cert");
    std::fs::write(&key, certified.key_pair.serialize_pem()).expect("write key");
    let host = HostOptions::default()
        .config(format!(
            "[host]\ntls_cert = \"{}\"\ntls_key = \"{}\"\n",
            cert.display(),
            key.display()
        ))
        .arg("--queue")
        .arg("a=1")
        .start();
    assert!(host.addr().starts_with("https://"), "{}", host.addr());
    let ca = cert.display().to_string();
    let out = host.cli(["queues", "--json", "--ca", &ca]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("\"a\""), "{}", text(&out.stdout));
    let out = host.cli(["queues"]);
    assert!(
        !out.status.success(),
        "an unknown self-signed certificate is refused"
    );
    assert!(
        text(&out.stderr).to_lowercase().contains("certificate"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn a_token_revoked_on_one_host_is_refused_by_another_on_the_same_redis() {
    let redis = RedisServer::start();
    let toml = format!(
        "[host]\nshutdown_grace = \"5s\"\n[broker]\ntype = \"redis\"\nurl = \"{}\"\n",
        redis.url()
    );
    let mut first = HostOptions::default().config(&toml).start();
    let second = HostOptions::default().config(&toml).start();
    let admin = create_token(&first, &["--scope", "admin"]);
    first.set_token(Some(admin));
    let read = create_token(&first, &["--scope", "read"]);
    let auth = bearer(&read);
    let on_second = || {
        http_with(
            second.addr(),
            "GET",
            "/v1/queues",
            &[("Authorization", &auth)],
            b"",
        )
        .0
    };
    poll(
        "the second host to accept the token",
        LONG,
        || second.log(),
        || (on_second() == 200).then_some(()),
    );
    let out = first.cli(["token", "revoke", id_of(&read)]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let revoked_at = Instant::now();
    poll(
        "the second host to refuse the revoked token",
        LONG,
        || second.log(),
        || (on_second() == 401).then_some(()),
    );
    let took = revoked_at.elapsed();
    assert!(
        took < Duration::from_secs(5),
        "revocation took {took:?} to reach the other host"
    );
    let (status, _) = http_with(
        first.addr(),
        "GET",
        "/v1/queues",
        &[("Authorization", &auth)],
        b"",
    );
    assert_eq!(status, 401, "refused at once where it was revoked");
}

#[test]
fn audit_entries_name_who_did_what_with_which_module() {
    let (host, admin) = host_with_admin();
    let wasm = guests::example("add");
    let out = host.cli([
        std::ffi::OsStr::new("deploy"),
        "a".as_ref(),
        wasm.as_os_str(),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = host.cli(["pause", "a"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = host.cli(["versions", "a", "--json"]);
    let versions: Value = serde_json::from_slice(&out.stdout).expect("versions JSON");
    let sha = versions[0]["sha256"].as_str().expect("sha256").to_owned();
    let out = host.cli(["audit", "--json"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let entries: Vec<Value> = serde_json::from_slice(&out.stdout).expect("audit JSON");
    let find = |action: &str| {
        entries
            .iter()
            .find(|e| e["action"] == action)
            .unwrap_or_else(|| panic!("no {action} entry in {entries:?}"))
    };
    let deploy = find("deploy");
    assert_eq!(deploy["who"], id_of(&admin));
    assert_eq!(deploy["queue"], "a");
    assert_eq!(deploy["sha256"], sha.as_str());
    assert_eq!(find("pause")["who"], id_of(&admin));
    assert_eq!(find("token.create")["who"], "local", "the bootstrap token");
    assert!(
        strip_ansi(&host.log()).contains("action=deploy"),
        "also in the host log:\n{}",
        host.log()
    );
}

#[test]
fn a_named_profile_supplies_server_and_token() {
    let (host, admin) = host_with_admin();
    let config = tempfile::tempdir().expect("temp dir");
    let dir = config.path().join("wasmboost");
    std::fs::create_dir_all(&dir).expect("mkdir");
    std::fs::write(
        dir.join("config.toml"),
        format!(
            "[profiles.here]\nserver = \"{}\"\ntoken = \"{admin}\"\n",
            host.addr()
        ),
    )
    .expect("write profiles");
    let run = |args: &[&str]| {
        Command::new(wasmboost_bin())
            .args(args)
            .env("XDG_CONFIG_HOME", config.path())
            .env_remove("WASMBOOST_ADDR")
            .env_remove("WASMBOOST_SERVER")
            .env_remove("WASMBOOST_TOKEN")
            .env_remove("WASMBOOST_PROFILE")
            .stdin(Stdio::null())
            .output()
            .expect("the wasmboost binary runs")
    };
    let out = run(&["queues", "--json", "--profile", "here"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = run(&["queues", "--server", host.addr()]);
    assert!(!out.status.success(), "no token without the profile");
    assert!(text(&out.stderr).contains("token"), "{}", text(&out.stderr));
    let out = run(&["queues", "--profile", "nope"]);
    assert!(text(&out.stderr).contains("nope"), "{}", text(&out.stderr));
}

/// The host log without terminal colour codes (`ESC [ ... m`), so fields read as `key=value`.
fn strip_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

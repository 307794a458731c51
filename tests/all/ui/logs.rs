//! `serve --log-format json` against the real binary: every log line is one JSON object, and a
//! guest's text (newlines, quotes, a whole forged JSON line, terminal escapes) stays inside the
//! field that carries it. The text format's twin is `security::house::
//! guest_output_is_capped_and_escaped_before_the_host_log`.

use std::time::Duration;

use serde_json::{Value, json};
use wasmboost_tests::guests;
use wasmboost_tests::host::{HostOptions, LISTEN_MARKER};
use wasmboost_tests::poll::poll;

const LONG: Duration = Duration::from_secs(120);

#[test]
fn json_logs_cannot_be_forged() {
    let host = HostOptions::default()
        .arg("--log-format")
        .arg("json")
        .env("RUST_LOG", "warn,wasmboost=debug")
        .start();
    let (status, body) = host.http(
        "PUT",
        "/v1/queues/noisy/module",
        &guests::guest_bytes("noisy"),
    );
    assert!((200..300).contains(&status), "deploy: {status} {body}");
    let forged = r#"{"timestamp":"2026-01-01T00:00:00Z","level":"ERROR","target":"wasmboost","fields":{"message":"FORGED"}}"#;
    let text = format!("innocent \"quoted\" \\ back\n{forged}\r\x1b[2J");
    let payload = json!({ "log_bytes": 0, "text": text });
    let (status, body) = host.http(
        "POST",
        "/v1/queues/noisy/messages",
        payload.to_string().as_bytes(),
    );
    assert_eq!(status, 202, "publish: {body}");
    let log = poll(
        "the guest's line in the host log",
        LONG,
        || host.log(),
        || {
            let log = host.log();
            log.contains("FORGED").then_some(log)
        },
    );
    let mut objects = 0;
    for line in log.lines() {
        // The host's own plain banner lines (the address it listens on, shutdown) are printed
        // by the binary, not logged.
        if line.starts_with(LISTEN_MARKER) || line.starts_with("wasmboost ") {
            continue;
        }
        let parsed: Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("not one JSON object ({e}): {line:?}"));
        objects += 1;
        for key in ["timestamp", "level", "target", "fields"] {
            assert!(parsed.get(key).is_some(), "{key} missing: {line}");
        }
        assert_ne!(parsed["fields"]["message"], "FORGED", "forged line: {line}");
        assert!(!line.contains('\x1b'), "raw escape in: {line:?}");
        if line.contains("FORGED") {
            let fields = parsed["fields"].to_string();
            assert!(
                fields.contains("innocent"),
                "the forged text sits in the guest's own field: {line}"
            );
            assert_eq!(parsed["fields"]["queue"], "noisy", "{line}");
        }
    }
    assert!(objects >= 2, "the host logged JSON lines:\n{log}");
}

//! The dashboard's files over plain HTTP against the real binary: open without a token, served
//! with a strict content security policy, while the data behind them still needs one.

use serde_json::Value;
use wasmboost_tests::host::{HostOptions, HostProcess, http_with};

/// The value of header `name` in a raw response head.
fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines().find_map(|line| {
        let (key, value) = line.split_once(':')?;
        key.trim()
            .eq_ignore_ascii_case(name)
            .then_some(value.trim())
    })
}

/// One GET returning the raw head and body (the harness's helper drops the head).
fn get_raw(addr: &str, path: &str) -> (String, String) {
    use std::io::{Read, Write};
    let host = addr.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(host).expect("the host accepts");
    let request = format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).expect("write");
    let mut answer = String::new();
    stream.read_to_string(&mut answer).expect("read");
    let (head, body) = answer.split_once("\r\n\r\n").unwrap_or((&answer, ""));
    (head.to_owned(), body.to_owned())
}

#[test]
fn the_page_is_open_and_strict_and_the_data_is_not() {
    let mut host = HostOptions::default().arg("--queue").arg("a=1").start();
    let token = |host: &HostProcess, scope: &str| {
        let out = host.cli(["token", "create", "--scope", scope]);
        assert!(
            out.status.success(),
            "token create: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    };
    let admin = token(&host, "admin");
    host.set_token(Some(admin));
    let read = token(&host, "read");
    host.set_token(None);

    for (path, kind) in [
        ("/ui", "text/html"),
        ("/ui/", "text/html"),
        ("/ui/core.js", "text/javascript"),
        ("/ui/pages.js", "text/javascript"),
        ("/ui/app.js", "text/javascript"),
        ("/ui/chart.js", "text/javascript"),
        ("/ui/app.css", "text/css"),
    ] {
        let (head, body) = get_raw(host.addr(), path);
        assert!(head.starts_with("HTTP/1.1 200"), "{path}: {head}");
        assert!(
            header(&head, "content-type").is_some_and(|t| t.starts_with(kind)),
            "{path}: {head}"
        );
        let csp = header(&head, "content-security-policy").unwrap_or_default();
        assert!(
            csp.contains("script-src 'self'") && csp.contains("connect-src 'self'"),
            "{path}: {csp}"
        );
        assert_eq!(header(&head, "x-content-type-options"), Some("nosniff"));
        assert!(!body.is_empty());
    }
    let (head, _) = get_raw(host.addr(), "/ui/../../etc/passwd");
    assert!(!head.starts_with("HTTP/1.1 200"), "{head}");
    let (head, _) = get_raw(host.addr(), "/ui/nothing.js");
    assert!(head.starts_with("HTTP/1.1 404"), "{head}");

    // The data needs the token; whoami says what the token may do.
    let (status, _) = http_with(host.addr(), "GET", "/v1/queues", &[], b"");
    assert_eq!(status, 401);
    let (status, _) = http_with(host.addr(), "GET", "/v1/whoami", &[], b"");
    assert_eq!(status, 401, "whoami needs a token too");
    host.set_token(Some(read.clone()));
    let (status, body) = host.http("GET", "/v1/whoami", b"");
    assert_eq!(status, 200, "{body}");
    let me: Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!(me["scopes"], serde_json::json!(["read"]), "{me}");
    assert_eq!(me["authenticated"], true);
    assert!(read.contains(me["id"].as_str().unwrap_or("?")), "{me}");
    assert!(
        !body.contains(&read[read.len() - 16..]),
        "no secret in whoami"
    );
}

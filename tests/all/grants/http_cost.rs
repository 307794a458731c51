//! What a guest's HTTP GET costs over the same request made natively, in one run against the
//! same local site: the `granted` guest fetches `/small` [`REQUESTS`] times in one invocation
//! (minus an invocation that fetches nothing), and the test itself sends the same request as
//! many times over a new TCP connection each (the host's egress opens one per request too).
//! It checks every request got its 200 and prints both per-request times and their difference;
//! the README's table comes from this test's output. In a debug build the host's own code is
//! unoptimized, so the difference is an upper bound.

use std::time::{Duration, Instant};

use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use wasmboost_runtime::egress::rule::HttpRule;
use wasmboost_runtime::{Grants, HttpGrant};
use wasmboost_tests::web::WebServer;

use super::{ok_json, run};

const REQUESTS: u32 = 200;
/// Runs of each side; the fastest run counts (the machine is shared and noisy).
const ROUNDS: u32 = 3;

fn grants(site: &WebServer) -> Grants {
    let rule = HttpRule::parse(&site.base()).unwrap_or_else(|err| panic!("{err}"));
    Grants {
        http: Some(HttpGrant {
            allow: vec![rule],
            max_requests: REQUESTS,
            max_response_bytes: 1 << 20,
            timeout: Duration::from_secs(5),
        }),
        ..Grants::default()
    }
}

/// One GET of `/small` on a new connection; the status line must say 200.
async fn native_get(port: u16) {
    let mut conn = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connect");
    let request = format!(
        "GET /small HTTP/1.1\r\nhost: 127.0.0.1:{port}\r\nconnection: close\r\n\r\n"
    );
    conn.write_all(request.as_bytes()).await.expect("write");
    let mut answer = Vec::new();
    conn.read_to_end(&mut answer).await.expect("read");
    assert!(answer.starts_with(b"HTTP/1.1 200"), "{answer:?}");
}

/// The guest's time for `n` fetches in one invocation (wall clock of the whole invocation).
async fn guest_run(site: &WebServer, n: u32) -> Duration {
    let urls: Vec<String> = (0..n).map(|_| format!("{}/small", site.base())).collect();
    let started = Instant::now();
    let report = run("granted", json!({ "fetch": urls }), grants(site)).await;
    let took = started.elapsed();
    let fetched = ok_json(&report)["fetch"].as_array().cloned().unwrap_or_default();
    assert_eq!(fetched.len() as u32, n);
    assert!(
        fetched.iter().all(|f| f["ok"]["status"] == 200),
        "{fetched:?}"
    );
    took
}

#[tokio::test]
async fn a_guest_http_get_costs_little_more_than_a_native_one() {
    let site = WebServer::start(1);
    let (mut guest, mut native) = (Duration::MAX, Duration::MAX);
    for _ in 0..ROUNDS {
        let all = guest_run(&site, REQUESTS).await;
        let none = guest_run(&site, 0).await;
        guest = guest.min(all.saturating_sub(none) / REQUESTS);
        let started = Instant::now();
        for _ in 0..REQUESTS {
            native_get(site.port()).await;
        }
        native = native.min(started.elapsed() / REQUESTS);
    }
    assert_eq!(site.hits("/small"), u64::from(2 * ROUNDS * REQUESTS));
    let added = guest.as_secs_f64() * 1e6 - native.as_secs_f64() * 1e6;
    eprintln!(
        "http GET of /small: guest {:.1} µs, native {:.1} µs per request, ratio {:.2}, added {added:.1} µs ({} build)",
        guest.as_secs_f64() * 1e6,
        native.as_secs_f64() * 1e6,
        guest.as_secs_f64() / native.as_secs_f64(),
        if cfg!(debug_assertions) { "debug" } else { "release" },
    );
}

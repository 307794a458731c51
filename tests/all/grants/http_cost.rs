//! What a guest's HTTP GET costs over the same request made natively, in one run against the
//! same local site: the `granted` guest, on the real binary (`WASMBOOST_BIN`: run it with a
//! release binary for the README's numbers), fetches `/small` [`REQUESTS`] times in one task
//! (its record's `duration_us`, minus a task that fetches nothing), and the test itself sends
//! the same request as many times over a new TCP connection each (the host's egress opens one
//! per request too). It checks every request got its 200 and prints both per-request times and
//! their difference. With a debug binary the host's own code is unoptimized, so the difference
//! is an upper bound.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use wasmboost_tests::guests;
use wasmboost_tests::host::{HostOptions, HostProcess};
use wasmboost_tests::web::WebServer;

const REQUESTS: u32 = 200;
/// Runs of each side; the fastest run counts (the machine is shared and noisy).
const ROUNDS: u32 = 3;

fn start_host(site: &WebServer) -> HostProcess {
    let host = HostOptions::default()
        .config(format!(
            "[queues.fetch.grants]\nhttp = [\"{}\"]\nhttp_max_requests = {REQUESTS}\n",
            site.base()
        ))
        .start();
    let wasm = guests::guest_bytes("granted");
    let (status, body) = host.http("PUT", "/v1/queues/fetch/module", &wasm);
    assert!((200..300).contains(&status), "deploy: {status} {body}");
    host
}

/// One GET of `/small` on a new connection; the status line must say 200.
async fn native_get(port: u16) {
    let mut conn = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connect");
    let request =
        format!("GET /small HTTP/1.1\r\nhost: 127.0.0.1:{port}\r\nconnection: close\r\n\r\n");
    conn.write_all(request.as_bytes()).await.expect("write");
    let mut answer = Vec::new();
    conn.read_to_end(&mut answer).await.expect("read");
    assert!(answer.starts_with(b"HTTP/1.1 200"), "{answer:?}");
}

/// The guest's time for `n` fetches in one task (the record's `duration_us`).
fn guest_run(host: &HostProcess, site: &WebServer, n: u32) -> Duration {
    let urls: Vec<String> = (0..n).map(|_| format!("{}/small", site.base())).collect();
    let body = json!({ "fetch": urls }).to_string();
    let (status, answer) = host.http(
        "POST",
        "/v1/queues/fetch/messages?wait=60000",
        body.as_bytes(),
    );
    assert!((200..300).contains(&status), "{status} {answer}");
    let record: Value = serde_json::from_str(&answer).expect("a record");
    assert_eq!(record["state"], "succeeded", "{record}");
    let fetched = record["result"]["fetch"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(fetched.len() as u32, n, "{record}");
    assert!(
        fetched.iter().all(|f| f["ok"]["status"] == 200),
        "{fetched:?}"
    );
    Duration::from_micros(record["duration_us"].as_u64().expect("a duration"))
}

#[tokio::test]
async fn a_guest_http_get_costs_little_more_than_a_native_one() {
    let site = WebServer::start(1);
    let host = start_host(&site);
    let (mut guest, mut native) = (Duration::MAX, Duration::MAX);
    for _ in 0..ROUNDS {
        let all = guest_run(&host, &site, REQUESTS);
        let none = guest_run(&host, &site, 0);
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
        "http GET of /small: guest {:.1} µs, native {:.1} µs per request, ratio {:.2}, added {added:.1} µs (host {})",
        guest.as_secs_f64() * 1e6,
        native.as_secs_f64() * 1e6,
        guest.as_secs_f64() / native.as_secs_f64(),
        wasmboost_tests::host::wasmboost_bin().display(),
    );
}

//! The examples of issue 13 through the real binary, configured as examples/README.md shows:
//! the crawler drains a generated 200-page local site (every page fetched exactly once, the
//! queue's QPS respected, the kv page count 200), and the CSV job reads from a read-only
//! directory and writes its result into a read-write one (that read-only means read-only is
//! `grants::dirs`'s).

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use wasmboost_tests::api::run_to_end;
use wasmboost_tests::guests;
use wasmboost_tests::host::{HostOptions, HostProcess};
use wasmboost_tests::web::WebServer;

/// Pages of the generated site.
const PAGES: u32 = 200;
/// The crawl queue's rate: the drain must take at least `(PAGES - 1) / QPS` seconds.
const QPS: u32 = 100;

fn poll<T>(what: &str, host: &HostProcess, f: impl FnMut() -> Option<T>) -> T {
    wasmboost_tests::poll::poll(what, Duration::from_secs(120), || host.log(), f)
}

fn deploy(host: &HostProcess, queue: &str, example: &str) {
    let wasm = guests::example_bytes(example);
    let (status, body) = host.http("PUT", &format!("/v1/queues/{queue}/module"), &wasm);
    assert!(
        (200..300).contains(&status),
        "deploy {queue}: {status} {body}"
    );
}

fn result_of(record: &Value) -> Value {
    assert_eq!(record["state"], "succeeded", "{record}");
    match record["result"].as_str() {
        Some(text) => serde_json::from_str(text).expect("json result"),
        None => record["result"].clone(),
    }
}

fn queue_row(host: &HostProcess, queue: &str) -> Option<Value> {
    let (_, body) = host.http("GET", "/v1/queues", b"");
    let rows: Vec<Value> = serde_json::from_str(&body).ok()?;
    rows.into_iter().find(|r| r["queue"] == queue)
}

#[test]
fn the_crawler_fetches_every_page_of_a_local_site_exactly_once() {
    let took = crawl(Some(QPS));
    let min = Duration::from_secs_f64(f64::from(PAGES - 1) / f64::from(QPS));
    assert!(
        took >= min,
        "{PAGES} pages at {QPS}/s took {took:?}, under {min:?}"
    );
    eprintln!("crawler: {PAGES} pages in {took:?} at qps {QPS}");
}

/// The issue's drain measurement: the same crawl with no QPS limit (pages/s printed).
#[test]
fn the_crawler_drains_the_site_with_qps_unset() {
    let took = crawl(None);
    eprintln!(
        "crawler: {PAGES} pages in {took:?} with qps unset: {:.0} pages/s",
        f64::from(PAGES) / took.as_secs_f64()
    );
}

/// Crawl the local site from page 1 under `qps` (none: unlimited); checks every page was
/// fetched exactly once and counted in kv; the time from the seed to the drained queue.
fn crawl(qps: Option<u32>) -> Duration {
    let site = WebServer::start(PAGES);
    let qps = qps.map(|q| format!("qps = {q}\n")).unwrap_or_default();
    let host = HostOptions::default()
        .config(format!(
            r#"
[queues.crawl]
concurrency = 8
{qps}
[queues.crawl.grants]
http = ["{base}"]
kv = true
publish_to = ["crawl"]
"#,
            base = site.base()
        ))
        .start();
    deploy(&host, "crawl", "crawler");
    let started = Instant::now();
    let seed = json!({ "url": format!("{}/page/1", site.base()) });
    let first = result_of(&run_to_end(&host, "crawl", &seed));
    assert_eq!(
        first["published"], 2,
        "page 1 links to pages 2 and 3: {first}"
    );
    poll("the crawl to drain", &host, || {
        queue_row(&host, "crawl").filter(|r| {
            ["queued", "running", "delayed"]
                .iter()
                .all(|k| r[*k].as_u64() == Some(0))
                && r["succeeded"].as_u64() == Some(u64::from(PAGES))
        })
    });
    let took = started.elapsed();
    let hits = site.all_hits();
    for n in 1..=PAGES {
        assert_eq!(
            hits.get(&format!("/page/{n}")),
            Some(&1),
            "page {n}: {hits:?}"
        );
    }
    assert_eq!(
        site.total_hits(),
        u64::from(PAGES),
        "nothing else fetched: {hits:?}"
    );
    let report = json!({ "url": format!("{}/page/1", site.base()), "report": true });
    let count = result_of(&run_to_end(&host, "crawl", &report));
    assert_eq!(count["pages"], PAGES, "the kv page count: {count}");
    took
}

#[test]
fn the_csv_job_reads_a_read_only_dir_and_writes_a_read_write_one() {
    let root = tempfile::tempdir().expect("tempdir");
    let (input, output) = (root.path().join("in"), root.path().join("out"));
    std::fs::create_dir_all(&input).expect("in");
    std::fs::create_dir_all(&output).expect("out");
    std::fs::write(
        input.join("sales.csv"),
        "region,amount\neast,10\nwest,2.5\neast,2.5\nnorth,1\n",
    )
    .expect("write the input");
    let host = HostOptions::default()
        .config(format!(
            r#"
[queues.csv.grants]
dirs = [{{ host = "{}", guest = "/in", mode = "ro" }}, {{ host = "{}", guest = "/out", mode = "rw" }}]
"#,
            input.display(),
            output.display()
        ))
        .start();
    deploy(&host, "csv", "csvjob");
    let payload = json!({ "file": "sales.csv", "group": "region", "value": "amount" });
    let result = result_of(&run_to_end(&host, "csv", &payload));
    assert_eq!(result["rows"], 4, "{result}");
    assert_eq!(result["groups"]["east"], 12.5, "{result}");
    let written =
        std::fs::read_to_string(output.join("sales.totals.csv")).expect("the result file");
    assert_eq!(written, "region,amount\neast,12.5\nnorth,1\nwest,2.5\n");
    let inputs: Vec<_> = std::fs::read_dir(&input)
        .expect("list in")
        .filter_map(|e| e.ok().map(|e| e.file_name()))
        .collect();
    assert_eq!(inputs, ["sales.csv"], "the input directory is as it was");
}

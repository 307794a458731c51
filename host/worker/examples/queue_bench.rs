//! Queue engine benchmark, in process, on the embedded durable broker (what `make bench` and
//! `scripts/bench-queue.sh` run), or on Redis when `WASMBOOST_BENCH_REDIS_URL` is set
//! (`scripts/bench-redis.sh`):
//!
//! ```text
//! cargo run --release -p wasmboost-worker --example queue_bench -- <add.wasm> <sleep.wasm> [n]
//! ```
//!
//! 1. bulk publish of `n` (default 100 000) no-op `add` tasks, batches of 1 000;
//! 2. drain them (queue paused while publishing, then resumed);
//! 3. RPC latency: publish + wait for the result, sequentially, p50 / p99;
//! 4. 2 000 tasks sleeping 50 ms at concurrency 50 (ideal 2.0 s);
//! 5. 10 000 tasks sleeping at once on one host, and the host's memory.
//!
//! `WASMBOOST_BENCH_RESULTS` sets the `add` queue's `results` policy (`always`, `errors` or
//! `never`; unset: the queue's default), to measure what a record per task costs.
//!
//! `QUEUE_BENCH_BROKER` replaces the broker: the body of a `[broker]` table, e.g.
//! `type = "amqp"` and `url = "amqp://..."` on two lines (`scripts/bench-amqp.sh`). With a broker
//! on the network the drain is polled every 50 ms instead of 5 (each poll is round trips).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use wasmboost_worker::{Config, Host, PublishOptions};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The allocator the `wasmboost` binary uses (`host/cli/src/main.rs`), so the benchmark measures
/// what a host runs.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn config(dir: &std::path::Path) -> Result<Config, BoxError> {
    let broker = broker_table().unwrap_or_default();
    let text = format!(
        r#"
        {broker}
        [host]
        data_dir = {dir:?}
        [runtime]
        compile_in_child = false
        max_instances = 10100
        [queues.add]
        concurrency = {add_concurrency}
        {results}
        [queues.sleep50]
        concurrency = 50
        [queues.sleep10k]
        concurrency = 10000
        memory = "1MiB"
        "#,
        dir = dir.display().to_string(),
        add_concurrency =
            std::env::var("WASMBOOST_BENCH_CONCURRENCY").unwrap_or_else(|_| "200".to_owned()),
        results = std::env::var("WASMBOOST_BENCH_RESULTS")
            .map(|policy| format!("results = {policy:?}"))
            .unwrap_or_default(),
    );
    Ok(Config::parse(&text)?)
}

/// The `[broker]` table from `QUEUE_BENCH_BROKER`, else from `WASMBOOST_BENCH_REDIS_URL`; none
/// means the embedded broker.
fn broker_table() -> Option<String> {
    if let Ok(body) = std::env::var("QUEUE_BENCH_BROKER") {
        return Some(format!("[broker]\n{body}\n"));
    }
    let url = std::env::var("WASMBOOST_BENCH_REDIS_URL").ok()?;
    Some(format!("[broker]\ntype = \"redis\"\nurl = {url:?}\n"))
}

async fn drained(host: &Host, queue: &str) -> Result<bool, BoxError> {
    let stats = host.stats().await?;
    Ok(stats
        .iter()
        .find(|s| s.queue == queue)
        .is_some_and(|s| s.queued == 0 && s.running == 0 && s.delayed == 0))
}

async fn wait_drained(host: &Host, queue: &str) -> Result<(), BoxError> {
    let poll = if broker_table().is_some() { 50 } else { 5 };
    while !drained(host, queue).await? {
        tokio::time::sleep(Duration::from_millis(poll)).await;
    }
    Ok(())
}

async fn publish_bulk(
    host: &Host,
    queue: &str,
    n: usize,
    body: &str,
) -> Result<Duration, BoxError> {
    let t0 = Instant::now();
    let mut left = n;
    while left > 0 {
        let k = left.min(1000);
        let bodies = vec![body.as_bytes().to_vec(); k];
        host.publish_batch(queue, bodies, PublishOptions::default())
            .await?;
        left -= k;
    }
    Ok(t0.elapsed())
}

fn rate(n: usize, d: Duration) -> f64 {
    n as f64 / d.as_secs_f64()
}

async fn throughput(host: &Host, n: usize) -> Result<(), BoxError> {
    host.set_paused("add", true).await?;
    let took = publish_bulk(host, "add", n, r#"{"x":1,"y":2}"#).await?;
    println!(
        "bulk publish   {n:>7} tasks  {:>8.0} tasks/s  ({took:.2?})",
        rate(n, took)
    );
    let cpu0 = (own_cpu_secs(), redis_cpu_secs());
    let t0 = Instant::now();
    host.set_paused("add", false).await?;
    wait_drained(host, "add").await?;
    let took = t0.elapsed();
    let per_task = |a: Option<f64>, b: Option<f64>| match (a, b) {
        (Some(a), Some(b)) => format!("{:.1} µs", (b - a) * 1e6 / n as f64),
        _ => "-".to_owned(),
    };
    println!(
        "drain          {n:>7} tasks  {:>8.0} tasks/s  ({took:.2?})  CPU per task: host {}, redis-server {}",
        rate(n, took),
        per_task(cpu0.0, own_cpu_secs()),
        per_task(cpu0.1, redis_cpu_secs()),
    );
    Ok(())
}

/// CPU time (user + system) this process used so far, from `/proc/self/stat` (10 ms ticks).
fn own_cpu_secs() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name (which may hold spaces) start at the state, field 3.
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0)
}

/// CPU time the Redis server used so far (`INFO cpu` through `redis-cli`), when benchmarking
/// on Redis.
fn redis_cpu_secs() -> Option<f64> {
    let url = std::env::var("WASMBOOST_BENCH_REDIS_URL").ok()?;
    let out = std::process::Command::new("redis-cli")
        .args(["-u", &url, "info", "cpu"])
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let value = |key: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|v| v.trim().parse::<f64>().ok())
    };
    Some(value("used_cpu_user:")? + value("used_cpu_sys:")?)
}

async fn rpc(host: &Host, n: usize) -> Result<(), BoxError> {
    let mut lat = Vec::with_capacity(n);
    for i in 0..n {
        let body = format!(r#"{{"x":{i},"y":1}}"#);
        let t0 = Instant::now();
        // A waiting caller (as `?wait=` marks it): its record is kept whatever `results` says.
        let waits = PublishOptions {
            reply: true,
            ..PublishOptions::default()
        };
        let id = host.publish("add", body.as_bytes(), waits).await?;
        let r = host.wait_result(&id, Duration::from_secs(10)).await?;
        lat.push(t0.elapsed());
        if r.is_none() {
            return Err(format!("rpc {i} timed out").into());
        }
    }
    lat.sort();
    let p = |q: f64| lat[((lat.len() as f64 * q) as usize).min(lat.len() - 1)];
    println!(
        "rpc            {n:>7} calls  p50 {:.3?}  p99 {:.3?}",
        p(0.50),
        p(0.99)
    );
    Ok(())
}

async fn sleepers(host: &Host, queue: &str, n: usize, ms: u64) -> Result<Duration, BoxError> {
    host.set_paused(queue, true).await?;
    publish_bulk(host, queue, n, &format!(r#"{{"ms":{ms}}}"#)).await?;
    let t0 = Instant::now();
    host.set_paused(queue, false).await?;
    wait_drained(host, queue).await?;
    Ok(t0.elapsed())
}

fn rss_kib() -> String {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .filter(|l| l.starts_with("VmRSS") || l.starts_with("VmHWM"))
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect::<Vec<_>>()
        .join(", ")
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let args: Vec<String> = std::env::args().collect();
    let (Some(add), Some(sleep)) = (args.get(1), args.get(2)) else {
        return Err("usage: queue_bench <add.wasm> <sleep.wasm> [n]".into());
    };
    let n: usize = args.get(3).map_or(Ok(100_000), |s| s.parse())?;
    let dir = tempfile::tempdir()?;
    let config = config(dir.path())?;
    let backend = wasmboost_backends::open(&config.broker, &config.host.data_dir).await?;
    let host = Host::start(config, backend).await?;
    host.deploy("add", std::fs::read(PathBuf::from(add))?)
        .await?;
    let sleep_wasm = std::fs::read(PathBuf::from(sleep))?;
    host.deploy("sleep50", sleep_wasm.clone()).await?;
    host.deploy("sleep10k", sleep_wasm).await?;

    throughput(&host, n).await?;
    rpc(&host, 2000).await?;
    let took = sleepers(&host, "sleep50", 2000, 50).await?;
    println!(
        "sleep 50ms x2000 @50  {took:.2?}  (ideal 2.00s, {:+.1}%)",
        (took.as_secs_f64() / 2.0 - 1.0) * 100.0
    );
    let took = sleepers(&host, "sleep10k", 10_000, 2000).await?;
    println!("sleep 2s x10000 @10000  {took:.2?}  memory: {}", rss_kib());
    host.shutdown(Duration::from_secs(10)).await?;
    Ok(())
}

//! `wasmboost bench`: many isolated invocations; median, p99 and invocations/s.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use wasmboost_runtime::{Invocation, Limits, Outcome, Phases, TaskModule};

use super::run::{BudgetArgs, EngineArgs, run_context};

/// Run many isolated invocations of a component and print latency and throughput.
#[derive(Debug, clap::Args)]
pub struct BenchCommand {
    /// The task component (`.wasm`, built for wasm32-wasip2).
    pub component: PathBuf,
    /// The message as JSON.
    #[arg(long)]
    pub payload: String,
    /// Pad the payload to about this many bytes with an `extra.pad` string (not an argument).
    #[arg(long)]
    pub payload_size: Option<usize>,
    /// Number of measured invocations.
    #[arg(short = 'n', long, default_value_t = 10_000)]
    pub invocations: usize,
    /// Invocations in flight at once, spread over the threads.
    #[arg(short = 'c', long, default_value_t = 1)]
    pub concurrency: usize,
    /// OS threads driving invocations, each with its own single-threaded async runtime.
    #[arg(short = 't', long, default_value_t = 1)]
    pub threads: usize,
    /// Invocations run (and not measured) before the measurement.
    #[arg(long, default_value_t = 500)]
    pub warmup: usize,
    /// Print one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub budget: BudgetArgs,
    #[command(flatten)]
    pub engine: EngineArgs,
}

/// What one measured run found.
#[derive(Debug)]
struct Stats {
    invocations: usize,
    threads: usize,
    concurrency: usize,
    payload_bytes: usize,
    p50_us: f64,
    p99_us: f64,
    mean_us: f64,
    per_second: f64,
    not_ok: usize,
    /// Median of each phase, in µs: instantiate, call, teardown.
    phases_p50_us: [f64; 3],
    /// How long loading the component took (cache hit or compile), in ms.
    load_ms: f64,
    /// Peak linear memory of one instance, in bytes.
    memory_per_instance: u64,
}

impl Stats {
    fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "invocations": self.invocations,
            "threads": self.threads,
            "concurrency": self.concurrency,
            "payload_bytes": self.payload_bytes,
            "p50_us": self.p50_us,
            "p99_us": self.p99_us,
            "mean_us": self.mean_us,
            "per_second": self.per_second,
            "not_ok": self.not_ok,
            "instantiate_p50_us": self.phases_p50_us[0],
            "call_p50_us": self.phases_p50_us[1],
            "teardown_p50_us": self.phases_p50_us[2],
            "load_ms": self.load_ms,
            "memory_per_instance_bytes": self.memory_per_instance,
        })
    }
}

impl BenchCommand {
    pub async fn execute(self) -> anyhow::Result<ExitCode> {
        anyhow::ensure!(
            self.threads >= 1 && self.concurrency >= 1,
            "--threads and -c must be at least 1"
        );
        let payload = pad_payload(&self.payload, self.payload_size)?;
        let concurrency = self.concurrency.max(self.threads);
        let slots = u32::try_from(concurrency + self.threads).context("-c is too large")?;
        let runtime = self.engine.runtime(slots, self.budget.memory)?;
        let loading = Instant::now();
        let module = runtime
            .load_file(&self.component)
            .with_context(|| format!("cannot load {}", self.component.display()))?;
        let load_ms = loading.elapsed().as_secs_f64() * 1e3;
        let limits = self.budget.limits();
        let memory_per_instance = check_first(&module, &payload, limits).await?;
        for _ in 0..self.warmup {
            module.invoke(invocation(&payload, limits)).await;
        }
        let (threads, n) = (self.threads, self.invocations);
        let job = Job {
            module,
            payload: payload.into(),
            limits,
            threads,
            concurrency,
            invocations: n,
        };
        let mut stats = tokio::task::spawn_blocking(move || job.run())
            .await
            .context("the benchmark threads failed")??;
        stats.load_ms = load_ms;
        stats.memory_per_instance = memory_per_instance;
        self.print(&stats)?;
        Ok(ExitCode::SUCCESS)
    }

    fn print(&self, stats: &Stats) -> anyhow::Result<()> {
        if self.json {
            println!("{}", stats.to_json());
            return Ok(());
        }
        println!(
            "{} invocations, {} thread(s), concurrency {}, payload {} B",
            stats.invocations, stats.threads, stats.concurrency, stats.payload_bytes
        );
        println!(
            "median {:.1} µs  p99 {:.1} µs  mean {:.1} µs  {:.0} invocations/s",
            stats.p50_us, stats.p99_us, stats.mean_us, stats.per_second
        );
        let [instantiate, call, teardown] = stats.phases_p50_us;
        println!(
            "median phases: instantiate {instantiate:.1} µs  call {call:.1} µs  teardown {teardown:.1} µs; \
             load {:.1} ms; peak memory per instance {:.1} MiB",
            stats.load_ms,
            stats.memory_per_instance as f64 / (1024.0 * 1024.0)
        );
        if stats.not_ok > 0 {
            println!("warning: {} invocation(s) did not return ok", stats.not_ok);
        }
        Ok(())
    }
}

fn invocation(payload: &str, limits: Limits) -> Invocation {
    Invocation {
        context: run_context(),
        payload: payload.to_owned(),
        limits,
    }
}

/// Refuses to measure a task that does not succeed.
/// Runs one invocation that must succeed; returns its peak linear memory.
async fn check_first(module: &TaskModule, payload: &str, limits: Limits) -> anyhow::Result<u64> {
    let report = module.invoke(invocation(payload, limits)).await;
    match report.outcome {
        Outcome::Ok { .. } => Ok(report.peak_memory_bytes),
        other => anyhow::bail!("the first invocation did not succeed, not measuring: {other:?}"),
    }
}

/// Adds `extra.pad` so the JSON text is about `size` bytes.
fn pad_payload(payload: &str, size: Option<usize>) -> anyhow::Result<String> {
    let mut value: serde_json::Value =
        serde_json::from_str(payload).context("the payload is not valid JSON")?;
    let Some(size) = size else {
        return Ok(payload.to_owned());
    };
    let object = value
        .as_object_mut()
        .context("the payload must be a JSON object")?;
    let extra = object
        .entry("extra")
        .or_insert_with(|| serde_json::json!({}));
    let extra = extra.as_object_mut().context("`extra` must be an object")?;
    extra.insert("pad".into(), serde_json::Value::String(String::new()));
    let base = serde_json::to_string(&value)
        .context("cannot encode the payload")?
        .len();
    let pad = "x".repeat(size.saturating_sub(base));
    if let Some(extra) = value.get_mut("extra").and_then(|e| e.as_object_mut()) {
        extra.insert("pad".into(), serde_json::Value::String(pad));
    }
    serde_json::to_string(&value).context("cannot encode the payload")
}

struct Job {
    module: TaskModule,
    payload: Arc<str>,
    limits: Limits,
    threads: usize,
    concurrency: usize,
    invocations: usize,
}

impl Job {
    /// Runs on `threads` OS threads; each runs its share with its share of the concurrency.
    fn run(self) -> anyhow::Result<Stats> {
        let started = Instant::now();
        let job = &self;
        let results: Vec<anyhow::Result<(Vec<Sample>, usize)>> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..job.threads)
                .map(|i| {
                    let count = share(job.invocations, job.threads, i);
                    let lanes = share(job.concurrency, job.threads, i).max(1);
                    scope.spawn(move || job.thread(count, lanes))
                })
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join()
                        .unwrap_or_else(|_| Err(anyhow::anyhow!("a benchmark thread panicked")))
                })
                .collect()
        });
        let wall = started.elapsed();
        let mut latencies = Vec::with_capacity(self.invocations);
        let mut not_ok = 0;
        for result in results {
            let (mut lat, bad) = result?;
            latencies.append(&mut lat);
            not_ok += bad;
        }
        Ok(self.stats(latencies, not_ok, wall))
    }

    fn thread(&self, count: usize, lanes: usize) -> anyhow::Result<(Vec<Sample>, usize)> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("cannot start a benchmark thread's runtime")?;
        rt.block_on(async {
            let mut set = tokio::task::JoinSet::new();
            for lane in 0..lanes {
                let (module, payload) = (self.module.clone(), self.payload.clone());
                set.spawn(run_lane(
                    module,
                    payload,
                    self.limits,
                    share(count, lanes, lane),
                ));
            }
            let mut latencies = Vec::with_capacity(count);
            let mut not_ok = 0;
            while let Some(joined) = set.join_next().await {
                let (mut lat, bad) = joined.context("a benchmark lane failed")?;
                latencies.append(&mut lat);
                not_ok += bad;
            }
            Ok((latencies, not_ok))
        })
    }

    fn stats(&self, samples: Vec<Sample>, not_ok: usize, wall: Duration) -> Stats {
        let phase = |pick: fn(&Phases) -> Duration| {
            let mut times: Vec<Duration> = samples.iter().map(|(_, p)| pick(p)).collect();
            times.sort_unstable();
            times
                .get(times.len() / 2)
                .map_or(0.0, |d| d.as_secs_f64() * 1e6)
        };
        let phases_p50_us = [
            phase(|p| p.instantiate),
            phase(|p| p.call),
            phase(|p| p.teardown),
        ];
        let mut latencies: Vec<Duration> = samples.iter().map(|(d, _)| *d).collect();
        latencies.sort_unstable();
        let us = |d: Duration| d.as_secs_f64() * 1e6;
        let pick = |q: f64| {
            latencies
                .get(((latencies.len() as f64 - 1.0) * q).round() as usize)
                .copied()
        };
        let total: Duration = latencies.iter().sum();
        Stats {
            invocations: latencies.len(),
            threads: self.threads,
            concurrency: self.concurrency,
            payload_bytes: self.payload.len(),
            p50_us: pick(0.50).map(us).unwrap_or_default(),
            p99_us: pick(0.99).map(us).unwrap_or_default(),
            mean_us: us(total) / latencies.len().max(1) as f64,
            per_second: latencies.len() as f64 / wall.as_secs_f64().max(1e-9),
            not_ok,
            phases_p50_us,
            load_ms: 0.0,
            memory_per_instance: 0,
        }
    }
}

/// One measured invocation: its latency and where the time went.
type Sample = (Duration, Phases);

/// The `i`th of `parts` nearly equal shares of `total`.
fn share(total: usize, parts: usize, i: usize) -> usize {
    total / parts + usize::from(i < total % parts)
}

/// One in-flight slot: `count` invocations back to back, each timed.
async fn run_lane(
    module: TaskModule,
    payload: Arc<str>,
    limits: Limits,
    count: usize,
) -> (Vec<Sample>, usize) {
    let mut latencies = Vec::with_capacity(count);
    let mut not_ok = 0;
    for _ in 0..count {
        let invocation = invocation(&payload, limits);
        let start = Instant::now();
        let report = module.invoke(invocation).await;
        latencies.push((start.elapsed(), report.phases));
        if !matches!(report.outcome, Outcome::Ok { .. }) {
            not_ok += 1;
        }
    }
    (latencies, not_ok)
}

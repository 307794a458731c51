//! `wasmboost run`: one invocation of a component on a JSON payload, printed.

use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context as _;
use wasmboost_runtime::{
    Invocation, Limits, Outcome, Report, Runtime, RuntimeConfig, TaskContext, config,
};

use wasmboost_worker::units::display_size;

use super::{EXIT_TASK_ERROR, EXIT_TRAP};
use crate::client::{parse_duration_arg, parse_size_arg};

/// Run a component once on a JSON payload: the result on stdout, a summary on stderr.
#[derive(Debug, clap::Args)]
pub struct RunCommand {
    /// The task component (`.wasm`, built for wasm32-wasip2).
    pub component: PathBuf,
    /// The message as JSON (`{"x": 1, "y": 2}`). Without it and `--payload-file`, stdin is read.
    #[arg(long, conflicts_with = "payload_file")]
    pub payload: Option<String>,
    /// Read the message from this file.
    #[arg(long)]
    pub payload_file: Option<PathBuf>,
    /// Print one JSON object (outcome, result or error, duration, fuel, peak memory) on stdout
    /// instead of the result and a summary on stderr.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub budget: BudgetArgs,
    #[command(flatten)]
    pub engine: EngineArgs,
}

/// Per-invocation budgets shared by `run` and `bench`.
#[derive(Debug, clap::Args)]
pub struct BudgetArgs {
    /// Fuel budget (about one unit per wasm instruction).
    #[arg(long, default_value_t = config::DEFAULT_FUEL)]
    pub fuel: u64,
    /// Wall-clock budget: `200ms`, `5s`, `2m`, `1h30m` (a bare number is seconds).
    #[arg(long, default_value = "30s", value_parser = parse_duration_arg)]
    pub timeout: Duration,
    /// Memory budget: `64MiB`, `512KiB`, `1GiB`, `10MB` (a bare number is bytes).
    #[arg(long, default_value = "64MiB", value_parser = parse_size_arg)]
    pub memory: u64,
}

impl BudgetArgs {
    pub fn limits(&self) -> Limits {
        Limits {
            fuel: self.fuel,
            timeout: self.timeout,
            memory_bytes: self.memory,
        }
    }
}

/// Engine settings shared by `run` and `bench`.
#[derive(Debug, clap::Args)]
pub struct EngineArgs {
    /// Directory for compiled components (default: `$XDG_CACHE_HOME/wasmboost` or
    /// `~/.cache/wasmboost`).
    #[arg(long, env = "WASMBOOST_CACHE_DIR")]
    pub cache_dir: Option<PathBuf>,
    /// Compile every time; keep nothing on disk.
    #[arg(long, conflicts_with = "cache_dir")]
    pub no_cache: bool,
    /// Address space reserved per instance's memory (at most 4GiB, at least `--memory`). Below
    /// 4GiB compiled code checks every memory access itself, but the pool fits where terabytes
    /// of address space cannot be reserved (`ulimit -v`, valgrind).
    #[arg(long, env = "WASMBOOST_MEMORY_RESERVATION", default_value = "4GiB", value_parser = parse_size_arg)]
    pub memory_reservation: u64,
}

impl EngineArgs {
    /// A runtime whose pool holds at least `instances` live instances.
    pub fn runtime(&self, instances: u32, memory: u64) -> anyhow::Result<Runtime> {
        let cache_dir = if self.no_cache {
            None
        } else {
            self.cache_dir.clone().or_else(default_cache_dir)
        };
        let defaults = RuntimeConfig::default();
        // The default ceiling, unless the reservation is smaller: then the budget itself, so a
        // budget over the reservation is refused by name.
        let ceiling = defaults.max_memory_bytes.min(self.memory_reservation);
        let config = RuntimeConfig {
            cache_dir,
            max_instances: instances.max(1),
            max_memory_bytes: memory.max(ceiling),
            memory_reservation: self.memory_reservation,
            ..defaults
        };
        Runtime::new(config).context("cannot start the wasm runtime")
    }
}

fn default_cache_dir() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cache")))?;
    Some(base.join("wasmboost"))
}

impl RunCommand {
    pub async fn execute(self) -> anyhow::Result<ExitCode> {
        let payload = self.read_payload()?;
        let runtime = self.engine.runtime(1, self.budget.memory)?;
        let module = runtime
            .load_file(&self.component)
            .with_context(|| format!("cannot load {}", self.component.display()))?;
        let invocation = Invocation {
            context: run_context(),
            payload,
            limits: self.budget.limits(),
        };
        let report = module.invoke(invocation).await;
        print_guest_output(&report);
        if self.json {
            println!("{}", outcome_json(&report));
            return Ok(exit_code(&report.outcome));
        }
        Ok(print_outcome(&report))
    }

    fn read_payload(&self) -> anyhow::Result<String> {
        let payload = match (&self.payload, &self.payload_file) {
            (Some(payload), _) => payload.clone(),
            (None, Some(path)) => std::fs::read_to_string(path)
                .with_context(|| format!("cannot read payload file {}", path.display()))?,
            (None, None) => {
                let mut payload = String::new();
                std::io::stdin()
                    .read_to_string(&mut payload)
                    .context("cannot read payload from stdin")?;
                payload
            }
        };
        let value: serde_json::Value =
            serde_json::from_str(&payload).context("the payload is not valid JSON")?;
        anyhow::ensure!(
            value.is_object(),
            "the payload must be a JSON object, got: {value}"
        );
        Ok(payload)
    }
}

/// A context for a one-off run: a unique task id, queue `run`, first attempt, published now.
pub fn run_context() -> TaskContext {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    TaskContext {
        task_id: format!("run-{}-{}", std::process::id(), now.as_nanos()),
        queue: "run".into(),
        attempt: 1,
        publish_time_ms: u64::try_from(now.as_millis()).unwrap_or(u64::MAX),
    }
}

fn print_guest_output(report: &Report) {
    for (name, captured) in [
        ("stdout", &report.stdout),
        ("stderr", &report.stderr),
        ("log", &report.logs),
    ] {
        for line in captured.text.lines() {
            eprintln!("[guest {name}] {line}");
        }
        if captured.truncated {
            eprintln!("[guest {name}] ... (truncated)");
        }
    }
}

/// The exit code of an outcome: 0, [`EXIT_TASK_ERROR`] or [`EXIT_TRAP`].
fn exit_code(outcome: &Outcome) -> ExitCode {
    match outcome {
        Outcome::Ok { .. } => ExitCode::SUCCESS,
        Outcome::TaskError { .. } => ExitCode::from(EXIT_TASK_ERROR),
        Outcome::Trap { .. } => ExitCode::from(EXIT_TRAP),
    }
}

/// `run --json`: the outcome and the run's figures as one object. A result that is JSON is
/// embedded as such.
fn outcome_json(report: &Report) -> serde_json::Value {
    let mut out = serde_json::json!({
        "duration_us": u64::try_from(report.duration.as_micros()).unwrap_or(u64::MAX),
        "fuel_used": report.fuel_used,
        "peak_memory_bytes": report.peak_memory_bytes,
    });
    match &report.outcome {
        Outcome::Ok { result } => {
            out["outcome"] = "ok".into();
            out["result"] = serde_json::from_str(result).unwrap_or_else(|_| result.clone().into());
        }
        Outcome::TaskError { error } => {
            out["outcome"] = "task_error".into();
            out["error"] = describe_task_error(error).into();
        }
        Outcome::Trap { trap } => {
            out["outcome"] = "trap".into();
            out["trap"] = trap.name().into();
            if let wasmboost_runtime::TrapKind::Panic(m) | wasmboost_runtime::TrapKind::Other(m) =
                trap
            {
                out["error"] = m.clone().into();
            }
        }
    }
    out
}

/// Prints the result or the reason and returns the exit code.
fn print_outcome(report: &Report) -> ExitCode {
    let summary = format!(
        "{:.3} ms, fuel {}, peak memory {}",
        report.duration.as_secs_f64() * 1e3,
        report.fuel_used,
        display_size(report.peak_memory_bytes)
    );
    match &report.outcome {
        Outcome::Ok { result } => {
            println!("{result}");
            eprintln!("ok: {summary}");
            ExitCode::SUCCESS
        }
        Outcome::TaskError { error } => {
            eprintln!("task error: {}; {summary}", describe_task_error(error));
            ExitCode::from(EXIT_TASK_ERROR)
        }
        Outcome::Trap { trap } => {
            let detail = match trap {
                wasmboost_runtime::TrapKind::Panic(m) | wasmboost_runtime::TrapKind::Other(m) => {
                    format!(": {m}")
                }
                _ => String::new(),
            };
            eprintln!("trap: {}{detail}; {summary}", trap.name());
            ExitCode::from(EXIT_TRAP)
        }
    }
}

fn describe_task_error(error: &wasmboost_runtime::TaskError) -> String {
    use wasmboost_runtime::TaskError;
    match error {
        TaskError::Fail { reason } => format!("fail: {reason}"),
        TaskError::Retry {
            reason,
            delay: Some(delay),
        } => {
            format!("retry after {} ms: {reason}", delay.as_millis())
        }
        TaskError::Retry {
            reason,
            delay: None,
        } => format!("retry: {reason}"),
        TaskError::DeadLetter { reason } => format!("dead-letter: {reason}"),
    }
}

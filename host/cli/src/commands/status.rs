//! `wasmboost status <task-id>`: a task's state, attempts, timings and budgets used.

use std::process::ExitCode;

use anyhow::Context;
use wasmboost_server::contract::TaskRecord;

use super::result::state_name;
use crate::client::{Client, ClientArgs};
use crate::output;

#[derive(Debug, clap::Args)]
pub struct StatusCommand {
    task_id: String,
    #[command(flatten)]
    client: ClientArgs,
}

impl StatusCommand {
    pub async fn execute(self) -> anyhow::Result<ExitCode> {
        let client = Client::new(&self.client)?;
        let record = client
            .record(&self.task_id)
            .await
            .with_context(|| format!("fetching the status of task {}", self.task_id))?;
        if self.client.json {
            println!("{}", serde_json::to_string_pretty(&record)?);
        } else {
            print!("{}", describe(&record));
        }
        Ok(ExitCode::SUCCESS)
    }
}

fn describe(r: &TaskRecord) -> String {
    let fields = [
        ("task", r.task_id.clone()),
        ("queue", r.queue.clone()),
        ("state", state_name(r.state)),
        ("attempts", r.attempts.to_string()),
        ("version", output::opt(r.module_version)),
        ("published", output::time_ms(r.published_ms)),
        (
            "started",
            r.started_ms.map_or_else(|| "-".into(), output::time_ms),
        ),
        (
            "finished",
            r.finished_ms.map_or_else(|| "-".into(), output::time_ms),
        ),
        (
            "duration",
            r.duration_us
                .map_or_else(|| "-".into(), |us| output::secs(us as f64 / 1e6)),
        ),
        ("fuel used", output::opt(r.fuel_used)),
        (
            "peak memory",
            r.peak_memory_bytes
                .map_or_else(|| "-".into(), output::bytes),
        ),
        ("result", output::opt(r.result.as_ref())),
        ("error", output::opt(r.error.as_deref())),
    ];
    fields
        .iter()
        .map(|(key, value)| format!("{key:<12} {value}\n"))
        .collect()
}

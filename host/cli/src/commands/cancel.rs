//! `wasmboost cancel <task-id> [--wait [--timeout 30s]]`: cancel a task by id. A queued,
//! delayed or retrying task is skipped when a host fetches it; a running one is stopped on the
//! host that runs it. `--wait` waits for the final record and prints its state.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;

use super::EXIT_HOST_ERROR;
use crate::client::{Client, ClientArgs, Reply, parse_duration_arg};

#[derive(Debug, clap::Args)]
pub struct CancelCommand {
    task_id: String,
    /// Wait until the task has ended (cancelled, or finished before the cancel reached it).
    #[arg(long)]
    wait: bool,
    /// How long `--wait` waits: `30s`, `2m` (a bare number is seconds).
    #[arg(long, default_value = "30s", value_parser = parse_duration_arg)]
    timeout: Duration,
    #[command(flatten)]
    client: ClientArgs,
}

impl CancelCommand {
    pub async fn execute(self) -> anyhow::Result<ExitCode> {
        let client = Client::new(&self.client)?;
        let id = &self.task_id;
        let reply = client
            .cancel(id)
            .await
            .with_context(|| format!("cannot cancel task {id}"))?;
        let before = reply.state.map_or("unknown".to_owned(), |s| s.to_string());
        if !self.wait {
            if self.client.json {
                println!("{}", serde_json::to_string(&reply)?);
            } else if reply.requested {
                println!("cancel requested for task {id} (it was {before})");
            } else {
                println!("task {id} had already ended ({before}); nothing to cancel");
            }
            return Ok(ExitCode::SUCCESS);
        }
        let waited = client
            .result(id, Some(self.timeout))
            .await
            .with_context(|| format!("waiting for task {id} to end"))?;
        match waited {
            Reply::Done(record) => {
                if self.client.json {
                    println!("{}", serde_json::to_string(&record)?);
                } else {
                    println!("task {id} is {}", record.state);
                }
                Ok(ExitCode::SUCCESS)
            }
            Reply::Pending { .. } => {
                eprintln!(
                    "error: task {id} did not end within {:?} of the cancel",
                    self.timeout
                );
                Ok(ExitCode::from(EXIT_HOST_ERROR))
            }
        }
    }
}

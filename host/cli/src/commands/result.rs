//! `wasmboost result <task-id> [--wait [--timeout 30s]]`: print a task's result.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use wasmboost_server::contract::{TaskRecord, TaskState};

use super::{EXIT_HOST_ERROR, EXIT_TASK_ERROR};
use crate::client::{Client, ClientArgs, Reply, parse_duration_arg};

#[derive(Debug, clap::Args)]
pub struct ResultCommand {
    task_id: String,
    /// Wait until the task finishes.
    #[arg(long)]
    wait: bool,
    /// How long `--wait` waits: `30s`, `2m`, `1h30m` (a bare number is seconds).
    #[arg(long, default_value = "30s", value_parser = parse_duration_arg)]
    timeout: Duration,
    #[command(flatten)]
    client: ClientArgs,
}

impl ResultCommand {
    pub async fn execute(self) -> anyhow::Result<ExitCode> {
        let client = Client::new(&self.client)?;
        let wait = self.wait.then_some(self.timeout);
        let reply = client
            .result(&self.task_id, wait)
            .await
            .with_context(|| format!("fetching the result of task {}", self.task_id))?;
        Ok(print_reply(&reply, self.client.json, wait))
    }
}

/// Print a finished record's result (or its error) and pick the exit code; for a task not
/// finished yet, say how far it got.
pub fn print_reply(reply: &Reply, json: bool, waited: Option<Duration>) -> ExitCode {
    match reply {
        Reply::Done(record) => print_done(record, json),
        Reply::Pending { task_id, record } => {
            if json {
                let value = match record {
                    Some(record) => serde_json::to_value(record),
                    None => Ok(serde_json::json!({ "task_id": task_id })),
                };
                println!("{}", value.unwrap_or_default());
            }
            let state = record
                .as_ref()
                .map_or_else(|| "queued".to_owned(), |r| state_name(r.state));
            match waited {
                Some(wait) => eprintln!(
                    "error: task {task_id} did not finish within {wait:?} (it is {state}); \
                     wait again with `wasmboost result {task_id} --wait`"
                ),
                None => eprintln!("task {task_id} is {state}, not finished yet"),
            }
            ExitCode::from(EXIT_HOST_ERROR)
        }
    }
}

fn print_done(record: &TaskRecord, json: bool) -> ExitCode {
    if json {
        println!("{}", serde_json::to_string(record).unwrap_or_default());
    }
    let code = exit_code(record.state);
    if json {
        return code;
    }
    match record.state {
        TaskState::Succeeded => match &record.result {
            Some(value) => println!("{value}"),
            None => println!("null"),
        },
        state => eprintln!(
            "task {} {} after {} attempt(s){}",
            record.task_id,
            state_name(state),
            record.attempts,
            record
                .error
                .as_deref()
                .map(|e| format!(": {e}"))
                .unwrap_or_default()
        ),
    }
    code
}

/// Success and a skipped duplicate are fine; every other terminal state is a task error.
pub fn exit_code(state: TaskState) -> ExitCode {
    match state {
        TaskState::Succeeded | TaskState::SkippedDuplicate => ExitCode::SUCCESS,
        _ => ExitCode::from(EXIT_TASK_ERROR),
    }
}

/// The snake_case name the JSON uses, with spaces for people.
pub fn state_name(state: TaskState) -> String {
    serde_json::to_value(state)
        .ok()
        .and_then(|v| v.as_str().map(|s| s.replace('_', " ")))
        .unwrap_or_else(|| format!("{state:?}"))
}

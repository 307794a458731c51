//! `wasmboost schedule list`: the host's schedules (`[[schedules]]` in its config) with their
//! next tick, last tick, and the last tick's task id and state.

use std::process::ExitCode;

use anyhow::Context;

use crate::client::{Client, ClientArgs};

#[derive(Debug, clap::Args)]
pub struct ScheduleCommand {
    #[command(subcommand)]
    action: Action,
}

#[derive(Debug, clap::Subcommand)]
enum Action {
    /// List the schedules with their next and last ticks.
    List {
        #[command(flatten)]
        client: ClientArgs,
    },
}

impl ScheduleCommand {
    pub async fn execute(self) -> anyhow::Result<ExitCode> {
        let Action::List { client: args } = self.action;
        let client = Client::new(&args)?;
        let schedules = client
            .schedules()
            .await
            .context("cannot list the schedules")?;
        if args.json {
            println!("{}", serde_json::to_string(&schedules)?);
            return Ok(ExitCode::SUCCESS);
        }
        if schedules.is_empty() {
            println!("no schedules (declare them as [[schedules]] in wasmboost.toml)");
        }
        for s in &schedules {
            let next = s.next_ms.map_or("never".to_owned(), time_text);
            let last = match (&s.last_ms, &s.last_task_id, &s.last_state) {
                (Some(ms), Some(id), Some(state)) => format!("{} {id} {state}", time_text(*ms)),
                (Some(ms), _, _) => time_text(*ms),
                _ => "never".to_owned(),
            };
            println!(
                "{}  queue={}  {}  misfire={}  next={next}  last={last}",
                s.name, s.queue, s.trigger, s.misfire
            );
        }
        Ok(ExitCode::SUCCESS)
    }
}

fn time_text(ms: u64) -> String {
    let ms = i64::try_from(ms).unwrap_or(i64::MAX);
    jiff::Timestamp::from_millisecond(ms).map_or_else(|_| ms.to_string(), |t| t.to_string())
}

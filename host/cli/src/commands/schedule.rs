//! `wasmboost schedule list|add|pause|resume|rm|run-now`: the host's schedules (`[[schedules]]`
//! in its config, and those added at run time, kept in the state store) with their next tick,
//! last tick, and the last tick's task id and state; and their management at run time.

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
    /// Add a schedule at run time (kept in the state store, fired like a config one).
    Add(AddArgs),
    /// Pause a schedule: no tick fires until it is resumed.
    Pause {
        name: String,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Resume a paused schedule (ticks missed meanwhile follow its misfire policy).
    Resume {
        name: String,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Remove a schedule added at run time.
    Rm {
        name: String,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Publish a schedule's message now, outside its ticks.
    RunNow {
        name: String,
        #[command(flatten)]
        client: ClientArgs,
    },
}

/// `schedule add`: the keys of a `[[schedules]]` entry as flags (one grammar: the same
/// struct is checked by the host).
#[derive(Debug, clap::Args)]
struct AddArgs {
    name: String,
    #[arg(long)]
    queue: String,
    /// Cron with seconds, e.g. `"0 */5 * * * *"`.
    #[arg(long, group = "trigger")]
    cron: Option<String>,
    /// Time zone of `--cron`: `UTC` (default), `+02:00`, `Europe/Berlin`.
    #[arg(long, requires = "cron")]
    tz: Option<String>,
    /// Fixed interval, e.g. `30s`.
    #[arg(long, group = "trigger")]
    every: Option<String>,
    /// One shot, RFC 3339, e.g. `2027-01-01T09:00:00Z`.
    #[arg(long, group = "trigger")]
    at: Option<String>,
    /// The message of every tick, a JSON object (default `{}`).
    #[arg(long)]
    payload: Option<String>,
    /// `skip` (default), `once` or `all`.
    #[arg(long)]
    misfire: Option<String>,
    /// How late a tick may fire and still count as on time, e.g. `10s`.
    #[arg(long)]
    grace: Option<String>,
    #[command(flatten)]
    client: ClientArgs,
}

impl AddArgs {
    /// The JSON of a `[[schedules]]` entry; the host checks it.
    fn entry(&self) -> anyhow::Result<serde_json::Value> {
        let mut entry = serde_json::json!({"name": self.name, "queue": self.queue});
        let payload = match &self.payload {
            Some(text) => serde_json::from_str::<serde_json::Value>(text)
                .with_context(|| format!("--payload {text:?} is not JSON"))?,
            None => serde_json::json!({}),
        };
        entry["payload"] = payload;
        for (key, value) in [
            ("cron", &self.cron),
            ("tz", &self.tz),
            ("every", &self.every),
            ("at", &self.at),
            ("misfire", &self.misfire),
            ("grace", &self.grace),
        ] {
            if let Some(value) = value {
                entry[key] = serde_json::Value::String(value.clone());
            }
        }
        Ok(entry)
    }
}

impl ScheduleCommand {
    pub async fn execute(self) -> anyhow::Result<ExitCode> {
        let (args, change) = match self.action {
            Action::List { client } => return list(client).await,
            Action::Add(add) => {
                let entry = add.entry()?;
                (add.client, Change::Add(entry))
            }
            Action::Pause { name, client } => (client, Change::Pause(name)),
            Action::Resume { name, client } => (client, Change::Resume(name)),
            Action::Rm { name, client } => (client, Change::Remove(name)),
            Action::RunNow { name, client } => (client, Change::RunNow(name)),
        };
        let client = Client::new(&args)?;
        let done = client
            .change_schedule(change)
            .await
            .context("cannot change the schedule")?;
        if args.json {
            println!("{}", serde_json::to_string(&done)?);
        } else if let Some(task_id) = &done.task_id {
            println!("schedule {} run now: task {task_id}", done.name);
        } else {
            println!("schedule {} {}", done.name, done.done);
        }
        Ok(ExitCode::SUCCESS)
    }
}

/// A change `wasmboost schedule` asks the host for.
pub enum Change {
    Add(serde_json::Value),
    Pause(String),
    Resume(String),
    Remove(String),
    RunNow(String),
}

async fn list(args: ClientArgs) -> anyhow::Result<ExitCode> {
    {
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
            println!(
                "no schedules (declare them as [[schedules]] in wasmboost.toml, or `wasmboost schedule add`)"
            );
        }
        for s in &schedules {
            let next = s.next_ms.map_or("never".to_owned(), time_text);
            let last = match (&s.last_ms, &s.last_task_id, &s.last_state) {
                (Some(ms), Some(id), Some(state)) => format!("{} {id} {state}", time_text(*ms)),
                (Some(ms), _, _) => time_text(*ms),
                _ => "never".to_owned(),
            };
            let paused = if s.paused { "  PAUSED" } else { "" };
            println!(
                "{}  queue={}  {}  misfire={}  next={next}  last={last}  ({}){paused}",
                s.name, s.queue, s.trigger, s.misfire, s.source
            );
        }
        Ok(ExitCode::SUCCESS)
    }
}

fn time_text(ms: u64) -> String {
    let ms = i64::try_from(ms).unwrap_or(i64::MAX);
    jiff::Timestamp::from_millisecond(ms).map_or_else(|_| ms.to_string(), |t| t.to_string())
}

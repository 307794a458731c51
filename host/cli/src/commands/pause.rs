//! `wasmboost pause <queue>` and `wasmboost resume <queue>` (persisted across restarts).

use std::process::ExitCode;

use anyhow::Context;

use crate::client::{Client, ClientArgs};

#[derive(Debug, clap::Args)]
pub struct PauseCommand {
    queue: String,
    #[command(flatten)]
    client: ClientArgs,
}

impl PauseCommand {
    pub async fn execute(self) -> anyhow::Result<ExitCode> {
        set_paused(&self.client, &self.queue, true).await
    }
}

#[derive(Debug, clap::Args)]
pub struct ResumeCommand {
    queue: String,
    #[command(flatten)]
    client: ClientArgs,
}

impl ResumeCommand {
    pub async fn execute(self) -> anyhow::Result<ExitCode> {
        set_paused(&self.client, &self.queue, false).await
    }
}

async fn set_paused(args: &ClientArgs, queue: &str, paused: bool) -> anyhow::Result<ExitCode> {
    let verb = if paused { "pause" } else { "resume" };
    let client = Client::new(args)?;
    let answer = client
        .set_paused(queue, paused)
        .await
        .with_context(|| format!("cannot {verb} queue {queue:?}"))?;
    if args.json {
        println!("{}", serde_json::to_string(&answer)?);
    } else {
        println!("{verb}d {queue}");
    }
    Ok(ExitCode::SUCCESS)
}

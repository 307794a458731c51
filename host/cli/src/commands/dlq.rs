//! `wasmboost dlq list|replay|purge <queue>`: a queue's dead-letter queue.

use std::process::ExitCode;

use anyhow::Context;

use crate::client::{Client, ClientArgs};
use crate::output;

#[derive(Debug, clap::Args)]
pub struct DlqCommand {
    #[command(subcommand)]
    action: DlqAction,
    #[command(flatten)]
    client: ClientArgs,
}

#[derive(Debug, clap::Subcommand)]
enum DlqAction {
    /// Show the dead letters, oldest first, with the reason each was dead-lettered.
    List {
        queue: String,
        /// Show at most this many.
        #[arg(long, default_value_t = 100)]
        limit: usize,
    },
    /// Put every dead letter back on the queue, attempts reset.
    Replay { queue: String },
    /// Delete every dead letter.
    Purge { queue: String },
}

impl DlqCommand {
    pub async fn execute(self) -> anyhow::Result<ExitCode> {
        let client = Client::new(&self.client)?;
        let json = self.client.json;
        match self.action {
            DlqAction::List { queue, limit } => list(&client, &queue, limit, json).await?,
            DlqAction::Replay { queue } => {
                let n = client
                    .dlq_replay(&queue)
                    .await
                    .with_context(|| format!("replaying the dead letters of {queue:?}"))?;
                report(json, "replayed", &queue, n);
            }
            DlqAction::Purge { queue } => {
                let n = client
                    .dlq_purge(&queue)
                    .await
                    .with_context(|| format!("purging the dead letters of {queue:?}"))?;
                report(json, "purged", &queue, n);
            }
        }
        Ok(ExitCode::SUCCESS)
    }
}

async fn list(client: &Client, queue: &str, limit: usize, json: bool) -> anyhow::Result<()> {
    let letters = client
        .dlq_list(queue, limit)
        .await
        .with_context(|| format!("listing the dead letters of {queue:?}"))?;
    if json {
        println!("{}", serde_json::to_string_pretty(&letters)?);
        return Ok(());
    }
    if letters.is_empty() {
        println!("no dead letters in {queue}");
        return Ok(());
    }
    let rows: Vec<Vec<String>> = letters
        .iter()
        .map(|d| {
            vec![
                d.message.id.clone(),
                d.message.attempt.to_string(),
                output::time_ms(d.dead_ms),
                d.reason.clone(),
            ]
        })
        .collect();
    print!(
        "{}",
        output::table(&["TASK", "ATTEMPTS", "DEAD SINCE", "REASON"], &rows)
    );
    Ok(())
}

fn report(json: bool, verb: &str, queue: &str, n: u64) {
    if json {
        println!("{}", serde_json::json!({ "queue": queue, (verb): n }));
    } else {
        println!("{verb} {n} dead letter(s) of {queue}");
    }
}

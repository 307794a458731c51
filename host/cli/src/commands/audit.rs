//! `wasmboost audit [--limit N]`: the host's audit log, newest first (admin).

use std::process::ExitCode;

use anyhow::Context;

use crate::client::{Client, ClientArgs};
use crate::output;

#[derive(Debug, clap::Args)]
pub struct AuditCommand {
    /// How many entries, newest first.
    #[arg(long, default_value_t = 50)]
    limit: usize,
    #[command(flatten)]
    client: ClientArgs,
}

impl AuditCommand {
    pub async fn execute(self) -> anyhow::Result<ExitCode> {
        let client = Client::new(&self.client)?;
        let entries = client
            .audit(self.limit)
            .await
            .context("reading the audit log")?;
        if self.client.json {
            println!("{}", serde_json::to_string_pretty(&entries)?);
            return Ok(ExitCode::SUCCESS);
        }
        let dash = || "-".to_owned();
        let rows: Vec<Vec<String>> = entries
            .iter()
            .map(|e| {
                vec![
                    output::time_ms(e.at_ms),
                    e.who.clone(),
                    e.action.clone(),
                    e.queue.clone().unwrap_or_else(dash),
                    e.sha256
                        .as_deref()
                        .map_or_else(dash, |s| s.chars().take(16).collect()),
                    e.detail.clone().unwrap_or_else(dash),
                ]
            })
            .collect();
        print!(
            "{}",
            output::table(
                &["WHEN", "WHO", "ACTION", "QUEUE", "SHA256", "DETAIL"],
                &rows
            )
        );
        Ok(ExitCode::SUCCESS)
    }
}

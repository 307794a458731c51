//! `wasmboost rollback <queue> [version]`: bind the queue to an earlier version (default: the
//! one before the current).

use std::process::ExitCode;

use anyhow::Context;

use crate::client::{Client, ClientArgs};

#[derive(Debug, clap::Args)]
pub struct RollbackCommand {
    queue: String,
    /// Version number to run (see `wasmboost versions`); default: the previous one.
    version: Option<u32>,
    #[command(flatten)]
    client: ClientArgs,
}

impl RollbackCommand {
    pub async fn execute(self) -> anyhow::Result<ExitCode> {
        let client = Client::new(&self.client)?;
        let version = client
            .rollback(&self.queue, self.version)
            .await
            .with_context(|| format!("rolling back queue {:?}", self.queue))?;
        if self.client.json {
            println!("{}", serde_json::to_string_pretty(&version)?);
        } else {
            println!("{} now runs version {}", self.queue, version.number);
        }
        Ok(ExitCode::SUCCESS)
    }
}

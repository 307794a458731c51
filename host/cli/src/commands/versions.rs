//! `wasmboost versions <queue>`: the deployed versions of a queue's module.

use std::process::ExitCode;

use anyhow::Context;

use crate::client::{Client, ClientArgs};
use crate::output;

#[derive(Debug, clap::Args)]
pub struct VersionsCommand {
    queue: String,
    #[command(flatten)]
    client: ClientArgs,
}

impl VersionsCommand {
    pub async fn execute(self) -> anyhow::Result<ExitCode> {
        let client = Client::new(&self.client)?;
        let versions = client
            .versions(&self.queue)
            .await
            .with_context(|| format!("listing the versions of queue {:?}", self.queue))?;
        if self.client.json {
            println!("{}", serde_json::to_string_pretty(&versions)?);
            return Ok(ExitCode::SUCCESS);
        }
        let rows: Vec<Vec<String>> = versions
            .iter()
            .map(|v| {
                vec![
                    v.number.to_string(),
                    if v.current { "*" } else { "" }.to_owned(),
                    v.sha256.chars().take(16).collect(),
                    output::bytes(v.size),
                    output::time_ms(v.deployed_ms),
                ]
            })
            .collect();
        print!(
            "{}",
            output::table(&["VERSION", "CURRENT", "SHA256", "SIZE", "DEPLOYED"], &rows)
        );
        Ok(ExitCode::SUCCESS)
    }
}

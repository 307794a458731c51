//! `wasmboost deploy <queue> <component.wasm>`: upload a component as the queue's new version.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;

use crate::client::{Client, ClientArgs};
use crate::output;

#[derive(Debug, clap::Args)]
pub struct DeployCommand {
    /// Queue to bind the component to (created if it does not exist).
    queue: String,
    /// The component (`.wasm`) to deploy.
    file: PathBuf,
    #[command(flatten)]
    client: ClientArgs,
}

impl DeployCommand {
    pub async fn execute(self) -> anyhow::Result<ExitCode> {
        let wasm = tokio::fs::read(&self.file)
            .await
            .with_context(|| format!("cannot read component {}", self.file.display()))?;
        let client = Client::new(&self.client)?;
        let version = client.deploy(&self.queue, wasm).await.with_context(|| {
            format!(
                "deploying {} to queue {:?}",
                self.file.display(),
                self.queue
            )
        })?;
        if self.client.json {
            println!("{}", serde_json::to_string_pretty(&version)?);
        } else {
            println!(
                "deployed {} to {} as version {} (sha256 {}, {})",
                self.file.display(),
                self.queue,
                version.number,
                &version.sha256[..version.sha256.len().min(12)],
                output::bytes(version.size)
            );
        }
        Ok(ExitCode::SUCCESS)
    }
}

//! `wasmboost publish`.

use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub struct PublishCommand {}

impl PublishCommand {
    pub async fn execute(self) -> anyhow::Result<ExitCode> {
        anyhow::bail!("`wasmboost publish` is not implemented yet")
    }
}

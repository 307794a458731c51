//! `wasmboost deploy`.

use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub struct DeployCommand {}

impl DeployCommand {
    pub async fn execute(self) -> anyhow::Result<ExitCode> {
        anyhow::bail!("`wasmboost deploy` is not implemented yet")
    }
}

//! `wasmboost status`.

use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub struct StatusCommand {}

impl StatusCommand {
    pub async fn execute(self) -> anyhow::Result<ExitCode> {
        anyhow::bail!("`wasmboost status` is not implemented yet")
    }
}

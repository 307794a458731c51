//! `wasmboost pause` and `wasmboost resume`.

use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub struct PauseCommand {}

impl PauseCommand {
    pub async fn execute(self) -> anyhow::Result<ExitCode> {
        anyhow::bail!("`wasmboost pause` is not implemented yet")
    }
}

#[derive(Debug, clap::Args)]
pub struct ResumeCommand {}

impl ResumeCommand {
    pub async fn execute(self) -> anyhow::Result<ExitCode> {
        anyhow::bail!("`wasmboost resume` is not implemented yet")
    }
}

//! `wasmboost run`.

use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub struct RunCommand {}

impl RunCommand {
    pub async fn execute(self) -> anyhow::Result<ExitCode> {
        anyhow::bail!("`wasmboost run` is not implemented yet")
    }
}

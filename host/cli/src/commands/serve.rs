//! `wasmboost serve`.

use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub struct ServeCommand {}

impl ServeCommand {
    pub async fn execute(self) -> anyhow::Result<ExitCode> {
        anyhow::bail!("`wasmboost serve` is not implemented yet")
    }
}

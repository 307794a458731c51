//! `wasmboost result`.

use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub struct ResultCommand {}

impl ResultCommand {
    pub async fn execute(self) -> anyhow::Result<ExitCode> {
        anyhow::bail!("`wasmboost result` is not implemented yet")
    }
}

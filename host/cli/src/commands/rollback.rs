//! `wasmboost rollback`.

use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub struct RollbackCommand {}

impl RollbackCommand {
    pub async fn execute(self) -> anyhow::Result<ExitCode> {
        anyhow::bail!("`wasmboost rollback` is not implemented yet")
    }
}

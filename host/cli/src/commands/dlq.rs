//! `wasmboost dlq`.

use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub struct DlqCommand {}

impl DlqCommand {
    pub async fn execute(self) -> anyhow::Result<ExitCode> {
        anyhow::bail!("`wasmboost dlq` is not implemented yet")
    }
}

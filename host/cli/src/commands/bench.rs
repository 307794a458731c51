//! `wasmboost bench`.

use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub struct BenchCommand {}

impl BenchCommand {
    pub async fn execute(self) -> anyhow::Result<ExitCode> {
        anyhow::bail!("`wasmboost bench` is not implemented yet")
    }
}

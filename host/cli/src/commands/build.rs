//! `wasmboost build`.

use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub struct BuildCommand {}

impl BuildCommand {
    pub async fn execute(self) -> anyhow::Result<ExitCode> {
        anyhow::bail!("`wasmboost build` is not implemented yet")
    }
}

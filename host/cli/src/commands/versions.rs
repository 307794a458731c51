//! `wasmboost versions`.

use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub struct VersionsCommand {}

impl VersionsCommand {
    pub async fn execute(self) -> anyhow::Result<ExitCode> {
        anyhow::bail!("`wasmboost versions` is not implemented yet")
    }
}

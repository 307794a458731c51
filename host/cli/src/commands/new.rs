//! `wasmboost new`.

use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub struct NewCommand {}

impl NewCommand {
    pub async fn execute(self) -> anyhow::Result<ExitCode> {
        anyhow::bail!("`wasmboost new` is not implemented yet")
    }
}

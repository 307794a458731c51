//! `wasmboost compile`.

use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub struct CompileCommand {}

impl CompileCommand {
    pub async fn execute(self) -> anyhow::Result<ExitCode> {
        anyhow::bail!("`wasmboost compile` is not implemented yet")
    }
}

//! `wasmboost queues`.

use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub struct QueuesCommand {}

impl QueuesCommand {
    pub async fn execute(self) -> anyhow::Result<ExitCode> {
        anyhow::bail!("`wasmboost queues` is not implemented yet")
    }
}

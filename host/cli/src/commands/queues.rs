//! `wasmboost queues [--watch]`: a table of queue statistics, refreshed in place with `--watch`.

use std::io::{IsTerminal, Write};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use wasmboost_server::contract::QueueStats;

use crate::client::{Client, ClientArgs, parse_duration_arg};
use crate::output;

#[derive(Debug, clap::Args)]
pub struct QueuesCommand {
    /// Refresh the table until interrupted.
    #[arg(long)]
    watch: bool,
    /// Refresh period of `--watch`: `1s`, `500ms` (a bare number is seconds).
    #[arg(long, default_value = "1s", value_parser = parse_duration_arg)]
    interval: Duration,
    #[command(flatten)]
    client: ClientArgs,
}

impl QueuesCommand {
    pub async fn execute(self) -> anyhow::Result<ExitCode> {
        let client = Client::new(&self.client)?;
        if !self.watch {
            let stats = client.queues().await.context("fetching queue statistics")?;
            self.print(&stats)?;
            return Ok(ExitCode::SUCCESS);
        }
        let redraw = std::io::stdout().is_terminal() && !self.client.json;
        let mut ticker = tokio::time::interval(self.interval);
        loop {
            tokio::select! {
                _ = ticker.tick() => {}
                _ = tokio::signal::ctrl_c() => return Ok(ExitCode::SUCCESS),
            }
            let stats = client.queues().await.context("fetching queue statistics")?;
            if redraw {
                // Home the cursor and clear the screen, so the table updates in place.
                print!("\x1b[H\x1b[2J");
            }
            self.print(&stats)?;
            std::io::stdout().flush().context("writing to stdout")?;
        }
    }

    fn print(&self, stats: &[QueueStats]) -> anyhow::Result<()> {
        if self.client.json {
            println!("{}", serde_json::to_string(stats)?);
        } else if stats.is_empty() {
            println!("no queues yet: deploy a module with `wasmboost deploy <queue> <file.wasm>`");
        } else {
            print!("{}", render(stats));
        }
        Ok(())
    }
}

/// The table `wasmboost queues` prints.
pub fn render(stats: &[QueueStats]) -> String {
    let rows: Vec<Vec<String>> = stats.iter().map(row).collect();
    output::table(
        &[
            "QUEUE",
            "MODULE",
            "STATE",
            "QUEUED",
            "DELAYED",
            "RUNNING",
            "SUCCEEDED",
            "FAILED",
            "DLQ",
            "RATE/S",
            "AVG",
            "DRAIN",
        ],
        &rows,
    )
}

fn row(s: &QueueStats) -> Vec<String> {
    vec![
        s.queue.clone(),
        s.version
            .map_or_else(|| "no module".to_owned(), |v| format!("v{v}")),
        if s.paused { "paused" } else { "running" }.to_owned(),
        s.queued.to_string(),
        s.delayed.to_string(),
        s.running.to_string(),
        s.succeeded.to_string(),
        s.failed.to_string(),
        s.dead_lettered.to_string(),
        format!("{:.1}", s.rate_per_sec_1m),
        output::secs(s.avg_duration_ms / 1000.0),
        s.eta_drain_secs
            .map_or_else(|| "-".to_owned(), output::secs),
    ]
}

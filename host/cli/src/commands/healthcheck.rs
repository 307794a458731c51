//! `wasmboost healthcheck [--ready]`: exit 0 when a host's `/healthz` (or `/readyz`) answers 200,
//! else 1. For container `HEALTHCHECK`s and probes where no `curl` exists (distroless images).

use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;

use crate::client::DEFAULT_ADDR;

#[derive(Debug, clap::Args)]
pub struct HealthcheckCommand {
    /// Address of the host to check.
    #[arg(long, env = "WASMBOOST_ADDR", default_value = DEFAULT_ADDR)]
    addr: String,
    /// Check readiness (`/readyz`: 503 while the host drains at shutdown) instead of liveness.
    #[arg(long)]
    ready: bool,
    /// Give up after this many seconds.
    #[arg(long, default_value_t = 3)]
    timeout_secs: u64,
    /// Print `{"url", "healthy", "status"}` (and `error` when unreachable) on stdout.
    #[arg(long)]
    json: bool,
}

impl HealthcheckCommand {
    pub async fn execute(self) -> anyhow::Result<ExitCode> {
        let path = if self.ready { "/readyz" } else { "/healthz" };
        let base = self.addr.trim_end_matches('/');
        let url = if base.contains("://") {
            format!("{base}{path}")
        } else {
            format!("http://{base}{path}")
        };
        crate::client::install_tls_provider();
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(self.timeout_secs))
            .build()
            .context("cannot build the HTTP client")?;
        let status = match client.get(&url).send().await {
            Ok(response) => response.status(),
            Err(err) => {
                if self.json {
                    let line = serde_json::json!({
                        "url": url, "healthy": false, "status": null, "error": err.to_string(),
                    });
                    println!("{line}");
                } else {
                    eprintln!("unhealthy: {url}: {err}");
                }
                return Ok(ExitCode::FAILURE);
            }
        };
        if self.json {
            let healthy = status.is_success();
            let line =
                serde_json::json!({ "url": url, "healthy": healthy, "status": status.as_u16() });
            println!("{line}");
            return Ok(if healthy {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            });
        }
        if status.is_success() {
            println!("{url}: {status}");
            Ok(ExitCode::SUCCESS)
        } else {
            eprintln!("unhealthy: {url}: {status}");
            Ok(ExitCode::FAILURE)
        }
    }
}

//! HTTP client of the control API (`host/server`), shared by the client subcommands. One
//! `reqwest::Client` per command, so a bulk publish reuses one keep-alive connection.

use std::time::Duration;

use anyhow::{Context, anyhow, bail};
use reqwest::{Method, RequestBuilder, Response, StatusCode};
use serde::de::DeserializeOwned;
use wasmboost_server::contract::{DeadLetter, QueueStats, TaskRecord, Version};
use wasmboost_server::{Count, ErrorBody, Paused, Published, PublishedBatch};

/// Where the server listens unless `--addr` or `WASMBOOST_ADDR` says otherwise.
pub const DEFAULT_ADDR: &str = "http://127.0.0.1:7878";

/// Flags every client subcommand takes.
#[derive(Debug, Clone, clap::Args)]
pub struct ClientArgs {
    /// Address of a running `wasmboost serve`.
    #[arg(long, env = "WASMBOOST_ADDR", default_value = DEFAULT_ADDR, global = true)]
    pub addr: String,
    /// Print machine-readable JSON instead of text.
    #[arg(long, global = true)]
    pub json: bool,
}

/// Query parameters of a publish.
#[derive(Debug, Clone, Default)]
pub struct PublishParams {
    pub countdown: Option<Duration>,
    pub eta: Option<String>,
    pub priority: Option<u8>,
    pub task_id: Option<String>,
    pub wait: Option<Duration>,
}

impl PublishParams {
    fn query(&self) -> Vec<(&'static str, String)> {
        let mut query = Vec::new();
        if let Some(countdown) = self.countdown {
            query.push(("countdown", format!("{}ms", countdown.as_millis())));
        }
        if let Some(eta) = &self.eta {
            query.push(("eta", eta.clone()));
        }
        if let Some(priority) = self.priority {
            query.push(("priority", priority.to_string()));
        }
        if let Some(task_id) = &self.task_id {
            query.push(("task_id", task_id.clone()));
        }
        if let Some(wait) = self.wait {
            query.push(("wait", wait.as_millis().to_string()));
        }
        query
    }
}

/// What a publish or result fetch answered.
#[derive(Debug, Clone)]
pub enum Reply {
    /// The task finished (200).
    Done(TaskRecord),
    /// Not finished yet (202): the record so far, if the host has one.
    Pending {
        task_id: String,
        record: Option<TaskRecord>,
    },
}

#[derive(Debug, Clone)]
pub struct Client {
    http: reqwest::Client,
    base: String,
}

impl Client {
    pub fn new(addr: &str) -> anyhow::Result<Client> {
        let base = if addr.contains("://") {
            addr.trim_end_matches('/').to_owned()
        } else {
            format!("http://{}", addr.trim_end_matches('/'))
        };
        let http = reqwest::Client::builder()
            .tcp_nodelay(true)
            .connect_timeout(Duration::from_secs(5))
            .build()
            .context("cannot build the HTTP client")?;
        Ok(Client { http, base })
    }

    fn request(&self, method: Method, path: &str) -> RequestBuilder {
        self.http.request(method, format!("{}{path}", self.base))
    }

    /// Send, turning "connection refused" into advice and error bodies into their message.
    async fn send(&self, request: RequestBuilder) -> anyhow::Result<Response> {
        let response = request.send().await.map_err(|err| {
            if err.is_connect() {
                anyhow!(
                    "server not running at {} (start it with `wasmboost serve`)",
                    self.base
                )
            } else {
                anyhow!("request to {} failed: {err}", self.base)
            }
        })?;
        if response.status().is_success() {
            return Ok(response);
        }
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        match serde_json::from_str::<ErrorBody>(&text) {
            Ok(body) => bail!("{}", body.error.message),
            Err(_) => bail!("server at {} answered {status}: {}", self.base, text.trim()),
        }
    }

    async fn json<T: DeserializeOwned>(&self, request: RequestBuilder) -> anyhow::Result<T> {
        let response = self.send(request).await?;
        decode(response).await
    }

    pub async fn publish(
        &self,
        queue: &str,
        body: Vec<u8>,
        params: &PublishParams,
    ) -> anyhow::Result<Reply> {
        let request = self
            .request(Method::POST, &format!("/v1/queues/{queue}/messages"))
            .query(&params.query())
            .header("content-type", "application/json")
            .body(body);
        let response = self.send(request).await?;
        reply(response).await
    }

    /// Publish JSON lines (one message per line) in one request; ids in order.
    pub async fn publish_batch(
        &self,
        queue: &str,
        lines: Vec<u8>,
        params: &PublishParams,
    ) -> anyhow::Result<Vec<String>> {
        let request = self
            .request(Method::POST, &format!("/v1/queues/{queue}/messages:batch"))
            .query(&params.query())
            .header("content-type", "application/x-ndjson")
            .body(lines);
        let batch: PublishedBatch = self.json(request).await?;
        Ok(batch.task_ids)
    }

    pub async fn record(&self, task_id: &str) -> anyhow::Result<TaskRecord> {
        self.json(self.request(Method::GET, &format!("/v1/tasks/{task_id}")))
            .await
    }

    pub async fn result(&self, task_id: &str, wait: Option<Duration>) -> anyhow::Result<Reply> {
        let mut request = self.request(Method::GET, &format!("/v1/tasks/{task_id}/result"));
        if let Some(wait) = wait {
            request = request.query(&[("wait", wait.as_millis().to_string())]);
        }
        let response = self.send(request).await?;
        reply(response).await
    }

    pub async fn deploy(&self, queue: &str, wasm: Vec<u8>) -> anyhow::Result<Version> {
        let request = self
            .request(Method::PUT, &format!("/v1/queues/{queue}/module"))
            .header("content-type", "application/wasm")
            .body(wasm);
        self.json(request).await
    }

    pub async fn versions(&self, queue: &str) -> anyhow::Result<Vec<Version>> {
        self.json(self.request(Method::GET, &format!("/v1/queues/{queue}/versions")))
            .await
    }

    pub async fn rollback(&self, queue: &str, to: Option<u32>) -> anyhow::Result<Version> {
        let body = serde_json::json!({ "version": to });
        let request = self
            .request(Method::POST, &format!("/v1/queues/{queue}/rollback"))
            .json(&body);
        self.json(request).await
    }

    pub async fn set_paused(&self, queue: &str, paused: bool) -> anyhow::Result<Paused> {
        let verb = if paused { "pause" } else { "resume" };
        self.json(self.request(Method::POST, &format!("/v1/queues/{queue}/{verb}")))
            .await
    }

    pub async fn queues(&self) -> anyhow::Result<Vec<QueueStats>> {
        self.json(self.request(Method::GET, "/v1/queues")).await
    }

    pub async fn dlq_list(&self, queue: &str, limit: usize) -> anyhow::Result<Vec<DeadLetter>> {
        let request = self
            .request(Method::GET, &format!("/v1/queues/{queue}/dlq"))
            .query(&[("limit", limit.to_string())]);
        self.json(request).await
    }

    pub async fn dlq_replay(&self, queue: &str) -> anyhow::Result<u64> {
        let request = self.request(Method::POST, &format!("/v1/queues/{queue}/dlq/replay"));
        Ok(self.json::<Count>(request).await?.count)
    }

    pub async fn dlq_purge(&self, queue: &str) -> anyhow::Result<u64> {
        let request = self.request(Method::DELETE, &format!("/v1/queues/{queue}/dlq"));
        Ok(self.json::<Count>(request).await?.count)
    }
}

async fn decode<T: DeserializeOwned>(response: Response) -> anyhow::Result<T> {
    let url = response.url().clone();
    let bytes = response
        .bytes()
        .await
        .with_context(|| format!("reading the answer of {url}"))?;
    serde_json::from_slice(&bytes).with_context(|| {
        format!(
            "unexpected answer from {url}: {}",
            String::from_utf8_lossy(&bytes)
        )
    })
}

/// 200 = finished record; 202 = a record still running, or just `{task_id}`.
async fn reply(response: Response) -> anyhow::Result<Reply> {
    if response.status() == StatusCode::OK {
        return Ok(Reply::Done(decode(response).await?));
    }
    let value: serde_json::Value = decode(response).await?;
    let record = serde_json::from_value::<TaskRecord>(value.clone()).ok();
    let task_id = match &record {
        Some(record) => record.task_id.clone(),
        None => {
            serde_json::from_value::<Published>(value)
                .context("unexpected publish answer")?
                .task_id
        }
    };
    Ok(Reply::Pending { task_id, record })
}

/// clap value parser for every duration flag: the one grammar of `wasmboost_policy::units`
/// (`250ms`, `30s`, `1h30m`; a bare number is seconds).
pub fn parse_duration_arg(text: &str) -> Result<Duration, String> {
    wasmboost_worker::units::parse_duration(text).map_err(|e| e.to_string())
}

/// clap value parser for every size flag (`64MiB`, `1GB`; a bare number is bytes).
pub fn parse_size_arg(text: &str) -> Result<u64, String> {
    wasmboost_worker::units::parse_size(text).map_err(|e| e.to_string())
}

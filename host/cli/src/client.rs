//! HTTP client of the control API (`host/server`), shared by the client subcommands. One
//! `reqwest::Client` per command, so a bulk publish reuses one keep-alive connection.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, anyhow, bail};
use reqwest::{Method, RequestBuilder, Response, StatusCode};
use serde::de::DeserializeOwned;
use wasmboost_server::audit::AuditEntry;
use wasmboost_server::auth::TokenInfo;
use wasmboost_server::contract::{
    CancelReply, DeadLetter, QueueStats, ScheduleInfo, TaskRecord, Version, WorkflowInfo,
};
use wasmboost_server::{
    Count, CreateToken, CreatedToken, ErrorBody, Paused, Published, PublishedBatch, Revoked,
    ScheduleChanged,
};

use crate::profile;

/// Where the server listens unless a flag, an environment variable or a profile says otherwise.
pub const DEFAULT_ADDR: &str = "http://127.0.0.1:7878";
/// The older name of `WASMBOOST_SERVER`, still read (scripts export it).
const LEGACY_ADDR_ENV: &str = "WASMBOOST_ADDR";

/// Flags every client subcommand takes. Precedence: flag or its environment variable, then the
/// profile (`--profile`, else the `default` profile), then the built-in default.
#[derive(Debug, Clone, clap::Args)]
pub struct ClientArgs {
    /// URL of a running `wasmboost serve`, e.g. `https://wb.example.com:7878`
    /// [default: http://127.0.0.1:7878; WASMBOOST_ADDR is read too].
    #[arg(long, visible_alias = "addr", env = "WASMBOOST_SERVER", global = true)]
    pub server: Option<String>,
    /// API token (`wbt_…`), needed once the host has tokens.
    #[arg(long, env = "WASMBOOST_TOKEN", hide_env_values = true, global = true)]
    pub token: Option<String>,
    /// Named profile in `$XDG_CONFIG_HOME/wasmboost/config.toml` (server, token, ca).
    #[arg(long, env = "WASMBOOST_PROFILE", global = true)]
    pub profile: Option<String>,
    /// PEM file of a CA (or self-signed certificate) to trust for an `https://` server.
    #[arg(long, env = "WASMBOOST_CA", global = true)]
    pub ca: Option<PathBuf>,
    /// Print machine-readable JSON instead of text.
    #[arg(long, global = true)]
    pub json: bool,
}

/// Where and how to connect, once flags, environment and profile are merged.
#[derive(Debug, Clone)]
struct Target {
    server: String,
    token: Option<String>,
    ca: Option<PathBuf>,
}

impl ClientArgs {
    fn target(&self) -> anyhow::Result<Target> {
        let named = self.profile.is_some();
        let profile = profile::load(self.profile.as_deref())?.unwrap_or_default();
        let legacy = std::env::var(LEGACY_ADDR_ENV)
            .ok()
            .filter(|v| !v.is_empty());
        // A profile named on purpose beats the legacy variable; the default profile does not.
        let server = if named {
            self.server.clone().or(profile.server).or(legacy)
        } else {
            self.server.clone().or(legacy).or(profile.server)
        };
        Ok(Target {
            server: server.unwrap_or_else(|| DEFAULT_ADDR.to_owned()),
            token: self.token.clone().or(profile.token),
            ca: self.ca.clone().or(profile.ca),
        })
    }
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
    token: Option<String>,
}

impl Client {
    pub fn new(args: &ClientArgs) -> anyhow::Result<Client> {
        let target = args.target()?;
        let addr = target.server.trim_end_matches('/');
        let base = if addr.contains("://") {
            addr.to_owned()
        } else {
            format!("http://{addr}")
        };
        install_tls_provider();
        let mut builder = reqwest::Client::builder()
            .tcp_nodelay(true)
            .connect_timeout(Duration::from_secs(5));
        if let Some(ca) = &target.ca {
            let pem = std::fs::read(ca)
                .with_context(|| format!("cannot read the CA file {}", ca.display()))?;
            let cert = reqwest::Certificate::from_pem(&pem)
                .with_context(|| format!("{} is not a PEM certificate", ca.display()))?;
            builder = builder.tls_certs_only([cert]);
        }
        let http = builder.build().context("cannot build the HTTP client")?;
        Ok(Client {
            http,
            base,
            token: target.token,
        })
    }

    /// A request with the token (if any). Every state-changing route requires a content type
    /// even with an empty body (the browser guard): JSON unless the route takes another.
    fn request(&self, method: Method, path: &str) -> RequestBuilder {
        let content_type = (method != Method::GET).then_some("application/json");
        self.request_as(method, path, content_type)
    }

    fn request_as(&self, method: Method, path: &str, content_type: Option<&str>) -> RequestBuilder {
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        if let Some(content_type) = content_type {
            request = request.header("content-type", content_type);
        }
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        request
    }

    /// Send, turning "connection refused" into advice and error bodies into their message.
    async fn send(&self, request: RequestBuilder) -> anyhow::Result<Response> {
        let response = request.send().await.map_err(|err| {
            let cause = causes(&err);
            if err.is_connect() && cause.contains("refused") {
                anyhow!(
                    "server not running at {} (start it with `wasmboost serve`)",
                    self.base
                )
            } else if err.is_connect() {
                anyhow!(
                    "cannot connect to {}: {cause} (for a self-signed certificate pass --ca)",
                    self.base
                )
            } else {
                anyhow!("request to {} failed: {cause}", self.base)
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
        let path = format!("/v1/queues/{queue}/messages:batch");
        let request = self
            .request_as(Method::POST, &path, Some("application/x-ndjson"))
            .query(&params.query())
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

    pub async fn schedules(&self) -> anyhow::Result<Vec<ScheduleInfo>> {
        self.json(self.request(Method::GET, "/v1/schedules")).await
    }

    /// Add, pause, resume, remove or run a schedule.
    pub async fn change_schedule(
        &self,
        change: crate::commands::schedule::Change,
    ) -> anyhow::Result<ScheduleChanged> {
        use crate::commands::schedule::Change;
        let request = match change {
            Change::Add(entry) => self
                .request(Method::POST, "/v1/schedules")
                .body(entry.to_string()),
            Change::Pause(name) => {
                self.request(Method::POST, &format!("/v1/schedules/{name}/pause"))
            }
            Change::Resume(name) => {
                self.request(Method::POST, &format!("/v1/schedules/{name}/resume"))
            }
            Change::Remove(name) => self.request(Method::DELETE, &format!("/v1/schedules/{name}")),
            Change::RunNow(name) => {
                self.request(Method::POST, &format!("/v1/schedules/{name}/run"))
            }
        };
        self.json(request).await
    }

    pub async fn submit_workflow(&self, doc: Vec<u8>) -> anyhow::Result<WorkflowInfo> {
        self.json(self.request(Method::POST, "/v1/workflows").body(doc))
            .await
    }

    pub async fn workflow(&self, id: &str) -> anyhow::Result<WorkflowInfo> {
        self.json(self.request(Method::GET, &format!("/v1/workflows/{id}")))
            .await
    }

    pub async fn cancel_workflow(&self, id: &str) -> anyhow::Result<WorkflowInfo> {
        self.json(self.request(Method::DELETE, &format!("/v1/workflows/{id}")))
            .await
    }

    pub async fn cancel(&self, task_id: &str) -> anyhow::Result<CancelReply> {
        self.json(self.request(Method::DELETE, &format!("/v1/tasks/{task_id}")))
            .await
    }

    pub async fn deploy(&self, queue: &str, wasm: Vec<u8>) -> anyhow::Result<Version> {
        let path = format!("/v1/queues/{queue}/module");
        let request = self
            .request_as(Method::PUT, &path, Some("application/wasm"))
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
            .body(body.to_string());
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

    pub async fn create_token(&self, token: &CreateToken) -> anyhow::Result<CreatedToken> {
        let body = serde_json::to_vec(token).context("encoding the token request")?;
        let request = self.request(Method::POST, "/v1/tokens").body(body);
        self.json(request).await
    }

    pub async fn tokens(&self) -> anyhow::Result<Vec<TokenInfo>> {
        self.json(self.request(Method::GET, "/v1/tokens")).await
    }

    pub async fn revoke_token(&self, id: &str) -> anyhow::Result<Revoked> {
        self.json(self.request(Method::DELETE, &format!("/v1/tokens/{id}")))
            .await
    }

    pub async fn audit(&self, limit: usize) -> anyhow::Result<Vec<AuditEntry>> {
        let request = self
            .request(Method::GET, "/v1/audit")
            .query(&[("limit", limit.to_string())]);
        self.json(request).await
    }
}

/// An error and its sources, `: `-joined (reqwest's own message omits the TLS or I/O cause).
fn causes(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
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

/// Install rustls's ring provider, which every reqwest client of this binary needs before it is
/// built (aws-lc-rs, reqwest's default, needs cmake and a C toolchain). Installing twice (a
/// second client in one process) is harmless.
pub fn install_tls_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

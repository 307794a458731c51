//! The HTTP layer against an in-memory [`Control`] fake, over a real loopback socket.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use axum::http::StatusCode;
use reqwest::Client;
use tokio::net::TcpListener;
use wasmboost_broker::{MemoryStore, StateStore};

use crate::contract::{
    CancelReply, DeadLetter, History, PublishOptions, QueueStats, ScheduleInfo, TaskRecord,
    TaskState, Version,
};
use crate::{ApiError, Control, ErrorBody, ServeOptions};

const CAP: u64 = 1000;
/// The fake's `host.max_message_bytes`.
const MESSAGE_CAP: u64 = 4096;

/// Queue `add` exists; a publish "runs" at once and its record holds the body as the result.
#[derive(Default)]
struct Fake {
    records: Mutex<BTreeMap<String, TaskRecord>>,
    /// The options of every publish, in order, shared with the test that reads them back.
    options: Arc<Mutex<Vec<PublishOptions>>>,
    rollbacks: Mutex<Vec<Option<u32>>>,
    store: Arc<MemoryStore>,
}

fn unknown(queue: &str) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "unknown_queue",
        format!("unknown queue {queue:?}"),
    )
}

fn record(id: &str, body: &[u8]) -> TaskRecord {
    TaskRecord {
        task_id: id.to_owned(),
        queue: "add".to_owned(),
        state: TaskState::Succeeded,
        attempts: 1,
        published_ms: 1,
        started_ms: Some(2),
        finished_ms: Some(3),
        duration_us: Some(10),
        fuel_used: Some(100),
        peak_memory_bytes: Some(65536),
        result: serde_json::from_slice(body).ok(),
        error: None,
        module_version: Some(1),
    }
}

#[async_trait]
impl Control for Fake {
    fn max_module_bytes(&self) -> u64 {
        CAP
    }
    fn ready(&self) -> bool {
        true
    }
    fn max_message_bytes(&self) -> u64 {
        MESSAGE_CAP
    }
    fn state(&self) -> Arc<dyn StateStore> {
        Arc::clone(&self.store) as Arc<dyn StateStore>
    }
    fn metrics(&self) -> wasmboost_worker::metrics::Snapshot {
        wasmboost_worker::metrics::Snapshot::default()
    }
    async fn publish(
        &self,
        queue: &str,
        body: &[u8],
        opts: PublishOptions,
    ) -> Result<String, ApiError> {
        if queue != "add" {
            return Err(unknown(queue));
        }
        let mut records = self.records.lock().expect("not poisoned");
        let id = opts
            .task_id
            .clone()
            .unwrap_or_else(|| format!("t{}", records.len()));
        records.insert(id.clone(), record(&id, body));
        self.options.lock().expect("not poisoned").push(opts);
        Ok(id)
    }
    async fn publish_batch(
        &self,
        queue: &str,
        bodies: Vec<Vec<u8>>,
        opts: PublishOptions,
    ) -> Result<Vec<String>, ApiError> {
        let mut ids = Vec::new();
        for body in bodies {
            ids.push(self.publish(queue, &body, opts.clone()).await?);
        }
        Ok(ids)
    }
    async fn record(&self, task_id: &str) -> Result<Option<TaskRecord>, ApiError> {
        Ok(self
            .records
            .lock()
            .expect("not poisoned")
            .get(task_id)
            .cloned())
    }
    async fn wait_result(
        &self,
        task_id: &str,
        _timeout: Duration,
    ) -> Result<Option<TaskRecord>, ApiError> {
        self.record(task_id).await
    }
    async fn deploy(&self, _queue: &str, wasm: Vec<u8>) -> Result<Version, ApiError> {
        Ok(Version {
            number: 2,
            sha256: "ab".repeat(32),
            size: wasm.len() as u64,
            deployed_ms: 5,
            current: true,
        })
    }
    async fn versions(&self, queue: &str) -> Result<Vec<Version>, ApiError> {
        Err(unknown(queue))
    }
    async fn rollback(&self, _queue: &str, to: Option<u32>) -> Result<Version, ApiError> {
        self.rollbacks.lock().expect("not poisoned").push(to);
        Ok(Version {
            number: to.unwrap_or(1),
            sha256: String::new(),
            size: 0,
            deployed_ms: 0,
            current: true,
        })
    }
    async fn set_paused(&self, _queue: &str, _paused: bool) -> Result<(), ApiError> {
        Ok(())
    }
    async fn stats(&self) -> Result<Vec<QueueStats>, ApiError> {
        Ok(vec![QueueStats {
            queue: "add".into(),
            paused: false,
            version: Some(1),
            queued: 7,
            delayed: 0,
            running: 2,
            succeeded: 40,
            failed: 1,
            dead_lettered: 0,
            retried: 1,
            dead_lettered_total: 0,
            expired: 0,
            skipped_duplicate: 0,
            rate_per_sec_1m: 3.5,
            avg_duration_ms: 12.0,
            eta_drain_secs: Some(2.0),
            hosts: vec!["h1".into()],
            denied: 0,
            grants: None,
            config: None,
        }])
    }
    async fn hosts(&self) -> Result<Vec<crate::contract::HostInfo>, ApiError> {
        Ok(Vec::new())
    }
    async fn history(&self, _queue: &str) -> Result<History, ApiError> {
        Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "state_error",
            "state store unavailable",
        ))
    }
    async fn dlq_list(&self, _queue: &str, _limit: usize) -> Result<Vec<DeadLetter>, ApiError> {
        Ok(Vec::new())
    }
    async fn dlq_replay(&self, _queue: &str) -> Result<u64, ApiError> {
        Ok(3)
    }
    async fn dlq_purge(&self, _queue: &str) -> Result<u64, ApiError> {
        Ok(4)
    }
    async fn cancel(&self, task_id: &str) -> Result<CancelReply, ApiError> {
        let record = self.record(task_id).await?;
        Ok(CancelReply {
            task_id: task_id.to_owned(),
            queue: record.as_ref().map(|r| r.queue.clone()),
            state: record.as_ref().map(|r| r.state),
            requested: true,
        })
    }
    async fn schedules(&self) -> Result<Vec<ScheduleInfo>, ApiError> {
        Ok(Vec::new())
    }
}

/// A server on a free port; the sender stops it.
async fn start() -> (
    String,
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<Result<(), crate::ServerError>>,
) {
    start_with(Fake::default(), ServeOptions::default()).await
}

/// [`start`], plus the options every publish reached the host with.
async fn start_recording() -> (
    String,
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<Result<(), crate::ServerError>>,
    Arc<Mutex<Vec<PublishOptions>>>,
) {
    let fake = Fake::default();
    let options = Arc::clone(&fake.options);
    let (addr, tx, handle) = start_with(fake, ServeOptions::default()).await;
    (addr, tx, handle, options)
}

async fn start_with(
    fake: Fake,
    options: ServeOptions,
) -> (
    String,
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<Result<(), crate::ServerError>>,
) {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("loopback port");
    let addr = format!("http://{}", listener.local_addr().expect("bound"));
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let handle = tokio::spawn(crate::serve(fake, listener, options, async move {
        let _ = rx.await;
    }));
    (addr, tx, handle)
}

/// A client that says `Content-Type: application/json` unless a request says otherwise (as the
/// CLI does), so state-changing requests pass the browser guard.
fn client() -> Client {
    install_tls_provider();
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(
        reqwest::header::CONTENT_TYPE,
        reqwest::header::HeaderValue::from_static("application/json"),
    );
    Client::builder()
        .default_headers(headers)
        .build()
        .expect("client")
}

/// reqwest in this workspace is built with rustls and no default crypto provider (the CLI
/// installs ring at start); a test client must do the same before it is built.
pub(crate) fn install_tls_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

async fn error_of(response: reqwest::Response) -> (u16, ErrorBody) {
    let status = response.status().as_u16();
    let body = response.json::<ErrorBody>().await.expect("errors are JSON");
    (status, body)
}

#[tokio::test]
async fn publish_answers_202_with_the_task_id_and_parses_options() {
    let (addr, _stop, _, options) = start_recording().await;
    let response = client()
        .post(format!(
            "{addr}/v1/queues/add/messages?countdown=5s&priority=7&task_id=abc"
        ))
        .body(r#"{"x":1}"#)
        .send()
        .await
        .expect("server answers");
    assert_eq!(response.status(), 202);
    let body: crate::Published = response.json().await.expect("json");
    assert_eq!(body.task_id, "abc");
    // What reached the host, not only what the server answered.
    let seen = options.lock().expect("not poisoned").clone();
    let [opts] = seen.as_slice() else {
        panic!("one publish reached the host: {seen:?}");
    };
    assert_eq!(opts.countdown, Some(Duration::from_secs(5)), "{opts:?}");
    assert_eq!(opts.priority, Some(7), "{opts:?}");
    assert_eq!(opts.task_id.as_deref(), Some("abc"), "{opts:?}");
    assert_eq!(opts.eta, None, "{opts:?}");
}

#[tokio::test]
async fn batch_publish_hands_every_message_the_query_options() {
    let (addr, _stop, _, options) = start_recording().await;
    let response = client()
        .post(format!(
            "{addr}/v1/queues/add/messages:batch?eta=2030-01-01T00:00:00Z&priority=3"
        ))
        .header("content-type", "application/x-ndjson")
        .body("{\"x\":1}\n{\"x\":2}\n")
        .send()
        .await
        .expect("server answers");
    assert!(response.status().is_success(), "{}", response.status());
    let seen = options.lock().expect("not poisoned").clone();
    assert_eq!(seen.len(), 2, "{seen:?}");
    let eta: jiff::Timestamp = "2030-01-01T00:00:00Z".parse().expect("a timestamp");
    for opts in &seen {
        assert_eq!(opts.eta, Some(eta), "{opts:?}");
        assert_eq!(opts.priority, Some(3), "{opts:?}");
        assert_eq!(opts.countdown, None, "{opts:?}");
    }
}

#[tokio::test]
async fn publish_with_wait_answers_the_finished_record() {
    let (addr, _stop, _) = start().await;
    let response = client()
        .post(format!("{addr}/v1/queues/add/messages?wait=1000"))
        .body(r#"{"x":1,"y":2}"#)
        .send()
        .await
        .expect("server answers");
    assert_eq!(response.status(), 200);
    let record: TaskRecord = response.json().await.expect("a task record");
    assert_eq!(record.state, TaskState::Succeeded);
    assert_eq!(record.result, Some(serde_json::json!({"x": 1, "y": 2})));
}

#[tokio::test]
async fn host_errors_keep_their_status_and_code() {
    let (addr, _stop, _) = start().await;
    let client = client();
    let response = client
        .post(format!("{addr}/v1/queues/nope/messages"))
        .body("{}")
        .send()
        .await
        .expect("answers");
    let (status, body) = error_of(response).await;
    assert_eq!((status, body.error.code.as_str()), (404, "unknown_queue"));
    assert!(
        body.error.message.contains("nope"),
        "{}",
        body.error.message
    );
    let response = client
        .get(format!("{addr}/v1/queues/add/history"))
        .send()
        .await
        .expect("answers");
    assert_eq!(error_of(response).await.0, 503);
}

#[tokio::test]
async fn bad_query_parameters_are_json_400s_naming_the_value() {
    let (addr, _stop, _) = start().await;
    let client = client();
    for (query, needle) in [
        ("priority=high", "priority"),
        ("priority=12", "12"),
        ("countdown=soon", "soon"),
        ("eta=tomorrow", "tomorrow"),
    ] {
        let response = client
            .post(format!("{addr}/v1/queues/add/messages?{query}"))
            .body("{}")
            .send()
            .await
            .expect("answers");
        let (status, body) = error_of(response).await;
        assert_eq!(
            (status, body.error.code.as_str()),
            (400, "bad_request"),
            "{query}"
        );
        assert!(
            body.error.message.contains(needle),
            "{query}: {}",
            body.error.message
        );
    }
}

#[tokio::test]
async fn batch_publishes_each_non_blank_line() {
    let (addr, _stop, _) = start().await;
    let response = client()
        .post(format!("{addr}/v1/queues/add/messages:batch"))
        .header("content-type", "application/x-ndjson")
        .body("{\"x\":1}\n\n{\"x\":2}\n{\"x\":3}\n")
        .send()
        .await
        .expect("answers");
    assert_eq!(response.status(), 202);
    let body: crate::PublishedBatch = response.json().await.expect("json");
    assert_eq!(body.task_ids.len(), 3);
}

#[tokio::test]
async fn module_over_the_cap_is_413_naming_the_cap() {
    let (addr, _stop, _) = start().await;
    let client = client();
    let response = client
        .put(format!("{addr}/v1/queues/add/module"))
        .header("content-type", "application/wasm")
        .body(vec![0u8; CAP as usize + 1])
        .send()
        .await
        .expect("answers");
    let (status, body) = error_of(response).await;
    assert_eq!(status, 413);
    assert!(
        body.error.message.contains(&CAP.to_string()),
        "{}",
        body.error.message
    );

    // Without Content-Length (chunked), the cap is enforced while the body streams.
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        (0..20).map(|_| Ok(vec![1u8; 100])).collect();
    let body = reqwest::Body::wrap_stream(futures::stream::iter(chunks));
    let response = client
        .put(format!("{addr}/v1/queues/add/module"))
        .header("content-type", "application/wasm")
        .body(body)
        .send()
        .await
        .expect("answers");
    assert_eq!(error_of(response).await.0, 413);

    let response = client
        .put(format!("{addr}/v1/queues/add/module"))
        .header("content-type", "application/wasm")
        .body(vec![0u8; 10])
        .send()
        .await
        .expect("answers");
    assert_eq!(response.status(), 201);
    let version: Version = response.json().await.expect("json");
    assert_eq!(version.size, 10);
}

#[tokio::test]
async fn rollback_body_is_optional() {
    let (addr, _stop, _) = start().await;
    let client = client();
    let response = client
        .post(format!("{addr}/v1/queues/add/rollback"))
        .send()
        .await
        .expect("answers");
    assert_eq!(response.json::<Version>().await.expect("json").number, 1);
    let response = client
        .post(format!("{addr}/v1/queues/add/rollback"))
        .body(r#"{"version": 3}"#)
        .send()
        .await
        .expect("answers");
    assert_eq!(response.json::<Version>().await.expect("json").number, 3);
    let response = client
        .post(format!("{addr}/v1/queues/add/rollback"))
        .body(r#"{"versoin": 3}"#)
        .send()
        .await
        .expect("answers");
    let (status, body) = error_of(response).await;
    assert_eq!(status, 400);
    assert!(
        body.error.message.contains("versoin"),
        "{}",
        body.error.message
    );
}

#[tokio::test]
async fn task_routes_answer_records_and_404_unknown_ids() {
    let (addr, _stop, _) = start().await;
    let client = client();
    client
        .post(format!("{addr}/v1/queues/add/messages?task_id=t-1"))
        .body("{}")
        .send()
        .await
        .expect("answers");
    let response = client
        .get(format!("{addr}/v1/tasks/t-1/result?wait=10"))
        .send()
        .await
        .expect("answers");
    assert_eq!(response.status(), 200);
    let response = client
        .get(format!("{addr}/v1/tasks/t-1"))
        .send()
        .await
        .expect("answers");
    assert_eq!(
        response.json::<TaskRecord>().await.expect("json").task_id,
        "t-1"
    );
    let response = client
        .get(format!("{addr}/v1/tasks/missing"))
        .send()
        .await
        .expect("answers");
    let (status, body) = error_of(response).await;
    assert_eq!((status, body.error.code.as_str()), (404, "unknown_task"));
}

#[tokio::test]
async fn metrics_health_queues_and_unknown_routes() {
    let (addr, _stop, _) = start().await;
    let client = client();
    let text = client
        .get(format!("{addr}/metrics"))
        .send()
        .await
        .expect("answers")
        .text()
        .await
        .expect("text");
    assert!(
        text.contains("wasmboost_queue_queued{queue=\"add\"} 7"),
        "{text}"
    );
    assert!(
        text.contains("# TYPE wasmboost_tasks_succeeded_total counter"),
        "{text}"
    );
    let health = client
        .get(format!("{addr}/healthz"))
        .send()
        .await
        .expect("answers");
    assert_eq!(health.status(), 200);
    let stats: Vec<QueueStats> = client
        .get(format!("{addr}/v1/queues"))
        .send()
        .await
        .expect("answers")
        .json()
        .await
        .expect("json");
    assert_eq!(stats[0].queue, "add");
    let replay: crate::Count = client
        .post(format!("{addr}/v1/queues/add/dlq/replay"))
        .send()
        .await
        .expect("answers")
        .json()
        .await
        .expect("json");
    assert_eq!(replay.count, 3);
    let purge: crate::Count = client
        .delete(format!("{addr}/v1/queues/add/dlq"))
        .send()
        .await
        .expect("answers")
        .json()
        .await
        .expect("json");
    assert_eq!(purge.count, 4);
    let response = client
        .get(format!("{addr}/v2/nothing"))
        .send()
        .await
        .expect("answers");
    assert_eq!(error_of(response).await.1.error.code, "not_found");
}

#[tokio::test]
async fn serve_returns_when_shutdown_resolves() {
    let (addr, stop, handle) = start().await;
    let client = client();
    assert!(
        client
            .get(format!("{addr}/healthz"))
            .send()
            .await
            .expect("answers")
            .status()
            .is_success()
    );
    stop.send(()).expect("server is running");
    let result = tokio::time::timeout(Duration::from_secs(30), handle)
        .await
        .expect("server stops");
    assert!(result.expect("no panic").is_ok());
}

mod auth;
mod fuzz;

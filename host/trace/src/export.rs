//! The exporting `tracing` layer: spans with target [`crate::TARGET`] become OpenTelemetry
//! spans, batched by the SDK and posted as OTLP/HTTP JSON ([`crate::otlp`]) to the collector.
//!
//! The batch processor runs on a thread of its own and blocks on each export; the HTTP request
//! itself runs on the host's tokio runtime, so the workspace's async reqwest serves and no
//! second HTTP stack is built.

use std::time::Duration;

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::error::{OTelSdkError, OTelSdkResult};
use opentelemetry_sdk::trace::{
    BatchConfigBuilder, BatchSpanProcessor, SdkTracerProvider, SpanData, SpanExporter,
};
use tracing::Subscriber;
use tracing_subscriber::Layer;
use tracing_subscriber::filter::filter_fn;
use tracing_subscriber::registry::LookupSpan;

use crate::config::TraceConfig;

/// Spans are sent at least this often (the OTLP default is 5 s; a second keeps a task's trace
/// close behind the task).
const EXPORT_EVERY: Duration = Duration::from_secs(1);
/// One export request gives up after this long (the collector is down: those spans are
/// dropped, the host never waits on it).
const EXPORT_TIMEOUT: Duration = Duration::from_secs(10);

/// Why tracing could not start.
#[derive(Debug, thiserror::Error)]
pub enum TraceError {
    /// `[trace] endpoint` is not a URL the HTTP client accepts.
    #[error("trace.endpoint {endpoint:?} is not usable: {reason}")]
    Endpoint { endpoint: String, reason: String },
    /// Tracing needs the host's tokio runtime, and there is none on this thread.
    #[error("traces need a tokio runtime to send them from")]
    NoRuntime,
}

/// The running exporter; [`Exporting::shutdown`] sends what is still buffered.
#[derive(Debug)]
pub struct Exporting {
    provider: SdkTracerProvider,
}

impl Exporting {
    /// Send the spans still buffered and stop. Blocks up to the export timeout: call it off the
    /// async runtime's worker threads (`spawn_blocking`).
    pub fn shutdown(self) {
        if let Err(err) = self.provider.shutdown() {
            tracing::warn!(error = %err, "could not send the last spans");
        }
    }
}

/// The layer to add to the host's subscriber, or `None` when `[trace] endpoint` is unset.
/// Building it turns [`crate::on`] true; call it from within the host's tokio runtime.
pub fn layer<S>(
    config: &TraceConfig,
) -> Result<Option<(impl Layer<S> + use<S>, Exporting)>, TraceError>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    let Some(url) = config.traces_url() else {
        return Ok(None);
    };
    let bad = |reason: String| TraceError::Endpoint {
        endpoint: url.clone(),
        reason,
    };
    let url_checked = reqwest::Url::parse(&url).map_err(|e| bad(e.to_string()))?;
    let client = reqwest::Client::builder()
        .timeout(EXPORT_TIMEOUT)
        .build()
        .map_err(|e| bad(e.to_string()))?;
    let exporter = OtlpJson {
        client,
        url: url_checked,
        service_name: config.service_name.clone(),
        runtime: tokio::runtime::Handle::try_current().map_err(|_| TraceError::NoRuntime)?,
    };
    let batch = BatchConfigBuilder::default()
        .with_scheduled_delay(EXPORT_EVERY)
        .build();
    let processor = BatchSpanProcessor::builder(exporter)
        .with_batch_config(batch)
        .build();
    let provider = SdkTracerProvider::builder()
        .with_span_processor(processor)
        .build();
    let tracer = provider.tracer("wasmboost");
    let layer = tracing_opentelemetry::layer()
        .with_tracer(tracer)
        .with_filter(filter_fn(|meta| meta.target() == crate::TARGET));
    crate::turn_on();
    Ok(Some((layer, Exporting { provider })))
}

/// Posts each batch as one OTLP/HTTP JSON request, on the host's runtime: the batch
/// processor's thread has no reactor of its own, so the request is spawned there and awaited
/// through its handle.
#[derive(Debug)]
struct OtlpJson {
    client: reqwest::Client,
    url: reqwest::Url,
    service_name: String,
    runtime: tokio::runtime::Handle,
}

impl SpanExporter for OtlpJson {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        let body = crate::otlp::encode(&self.service_name, &batch);
        let request = self.client.post(self.url.clone()).json(&body);
        let sent = self.runtime.spawn(async move { request.send().await });
        let failed = |why: String| Err(OTelSdkError::InternalFailure(why));
        match sent.await {
            Ok(Ok(answer)) if answer.status().is_success() => Ok(()),
            Ok(Ok(answer)) => failed(format!("the collector answered {}", answer.status())),
            Ok(Err(err)) => failed(format!("cannot reach the collector: {err}")),
            Err(err) => failed(format!("the export task failed: {err}")),
        }
    }
}

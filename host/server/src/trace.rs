//! The publish span (OpenTelemetry, `wasmboost_trace`): a child of the producer's span named
//! by a `traceparent` header or the message's `extra.traceparent`, whose own `traceparent` is
//! written into the message's `extra`, so the broker carries it to the task run.
//! While tracing is off the body passes through untouched and no span is made.

use axum::http::HeaderMap;
use bytes::Bytes;
use serde_json::{Map, Value};
use wasmboost_trace::{TARGET, TRACEPARENT};

/// The span of one publish and the body to publish (with `extra.traceparent` set to this
/// span), or `None` and the body as given while tracing is off.
pub fn publish_span(
    queue: &str,
    headers: &HeaderMap,
    body: Bytes,
) -> (Bytes, Option<tracing::Span>) {
    if !wasmboost_trace::on() {
        return (body, None);
    }
    let span = tracing::info_span!(
        target: TARGET,
        "publish",
        otel.kind = "producer",
        queue,
        task_id = tracing::field::Empty,
    );
    // A body that is not a JSON object is published as given: the publish refuses it with the
    // reason, and the span records that it failed.
    let Ok(mut message) = serde_json::from_slice::<Map<String, Value>>(&body) else {
        return (body, Some(span));
    };
    let header = headers.get(TRACEPARENT).and_then(|v| v.to_str().ok());
    let given = header.or_else(|| wasmboost_trace::traceparent_in(&message));
    wasmboost_trace::continue_trace(&span, given);
    let Some(own) = wasmboost_trace::traceparent_of(&span) else {
        return (body, Some(span));
    };
    if !wasmboost_trace::set_traceparent(&mut message, own) {
        return (body, Some(span));
    }
    match serde_json::to_vec(&message) {
        Ok(rewritten) => (Bytes::from(rewritten), Some(span)),
        Err(_) => (body, Some(span)),
    }
}

/// The span of one batch publish (`None` while tracing is off). Its lines are published as
/// given: each continues the trace its own `extra.traceparent` names, if any.
pub fn batch_span(queue: &str) -> Option<tracing::Span> {
    wasmboost_trace::on().then(|| tracing::info_span!(target: TARGET, "publish_batch", queue))
}

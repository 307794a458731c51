//! The publish span (OpenTelemetry, `wasmboost_trace`): a child of the producer's span named
//! by a `traceparent` header or the message's `extra.traceparent`, whose own `traceparent` is
//! written into the message's `extra`, so the broker carries it to the task run.
//! While tracing is off the body passes through untouched and no span is made.
//!
//! A malformed value (header or `extra`) is ignored and the publish starts a new trace, as W3C
//! Trace Context asks of a receiver: a trace link is advisory, and refusing the message over it
//! would lose a task for a tracing defect. The header, when the request has one, is the only
//! source read: a bad header does not fall back to `extra.traceparent`, and a repeated header
//! is invalid (the W3C test suite's `test_traceparent_duplicated`).

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
    let given = match header(headers) {
        Header::Absent => wasmboost_trace::traceparent_in(&message),
        Header::One(value) => value,
        Header::Repeated => None,
    };
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

/// The span of one batch publish (`None` while tracing is off), a child of the producer's
/// span a `traceparent` header names. Its lines are published as given: each task continues
/// the trace its own `extra.traceparent` names, if any (a malformed one: a new trace).
pub fn batch_span(queue: &str, headers: &HeaderMap) -> Option<tracing::Span> {
    if !wasmboost_trace::on() {
        return None;
    }
    let span = tracing::info_span!(target: TARGET, "publish_batch", queue);
    if let Header::One(given) = header(headers) {
        wasmboost_trace::continue_trace(&span, given);
    }
    Some(span)
}

/// The request's `traceparent` header.
enum Header<'a> {
    Absent,
    /// Its value; `None` when it is not visible ASCII (malformed, so ignored).
    One(Option<&'a str>),
    /// Sent more than once: invalid, whatever the values.
    Repeated,
}

fn header(headers: &HeaderMap) -> Header<'_> {
    let mut all = headers.get_all(TRACEPARENT).iter();
    match (all.next(), all.next()) {
        (None, _) => Header::Absent,
        (Some(one), None) => Header::One(one.to_str().ok()),
        (Some(_), Some(_)) => Header::Repeated,
    }
}

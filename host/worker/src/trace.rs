//! The worker's spans for OpenTelemetry (`wasmboost_trace`): one per task run, a child of the
//! publisher's span named by the message's `extra.traceparent`, one per settle inside it, and
//! one per follow-up the task publishes, whose message carries the trace on.
//! Each helper checks [`wasmboost_trace::on`] first; off, a task runs exactly as without them.

use std::future::Future;

use tracing::Instrument;
use wasmboost_broker::{BrokerError, Delivery, Settlement};
use wasmboost_policy::message::ParsedMessage;
use wasmboost_trace::{TARGET, TRACEPARENT};

use crate::record::TaskRecord;

/// The span of one task run (`None` while tracing is off), continuing the trace the message
/// names. `module_version`, `fuel` and `outcome` are filled in by [`record_end`].
pub(crate) fn task_span(
    queue: &str,
    task_id: &str,
    attempt: u32,
    parsed: Option<&ParsedMessage>,
) -> Option<tracing::Span> {
    if !wasmboost_trace::on() {
        return None;
    }
    let span = tracing::info_span!(
        target: TARGET,
        "task",
        otel.kind = "consumer",
        queue,
        task_id,
        attempt,
        module_version = tracing::field::Empty,
        fuel = tracing::field::Empty,
        duration_us = tracing::field::Empty,
        outcome = tracing::field::Empty,
    );
    let traceparent = parsed
        .and_then(|p| p.raw_extra.as_ref())
        .and_then(|extra| extra.get(TRACEPARENT))
        .and_then(|v| v.as_str());
    wasmboost_trace::continue_trace(&span, traceparent);
    Some(span)
}

/// Run `work` inside `span` when there is one.
pub(crate) async fn within<F: Future<Output = ()>>(span: Option<tracing::Span>, work: F) {
    match span {
        Some(span) => work.instrument(span).await,
        None => work.await,
    }
}

/// Put how the task ended on the current task span.
pub(crate) fn record_end(record: &TaskRecord) {
    if !wasmboost_trace::on() {
        return;
    }
    let span = tracing::Span::current();
    span.record("outcome", record.state.name());
    if let Some(version) = record.module_version {
        span.record("module_version", version);
    }
    if let Some(fuel) = record.fuel_used {
        span.record("fuel", fuel);
    }
    if let Some(us) = record.duration_us {
        span.record("duration_us", us);
    }
}

/// The span of a follow-up a task publishes (a child of the task's span) and the payload
/// with its `extra.traceparent` (`None` to publish it as given); `None` while tracing is off.
pub(crate) fn follow_up(queue: &str, payload: &[u8]) -> Option<(tracing::Span, Option<Vec<u8>>)> {
    if !wasmboost_trace::on() {
        return None;
    }
    let span = tracing::info_span!(target: TARGET, "publish", otel.kind = "producer", queue);
    let body = wasmboost_trace::stamp_body(payload, &span);
    Some((span, body))
}

/// Settle `delivery`, inside a `settle` span while tracing is on.
pub(crate) async fn settle(delivery: Delivery, settlement: Settlement) -> Result<(), BrokerError> {
    if !wasmboost_trace::on() {
        return delivery.settle(settlement).await;
    }
    let kind = match &settlement {
        Settlement::Ack => "ack",
        Settlement::Retry { .. } => "retry",
        Settlement::Requeue => "requeue",
        Settlement::DeadLetter { .. } => "dead_letter",
    };
    let span = tracing::info_span!(target: TARGET, "settle", settlement = kind);
    delivery.settle(settlement).instrument(span).await
}

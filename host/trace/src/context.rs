//! W3C trace context (`traceparent`) in and out of spans, through the standard propagator.

use std::collections::HashMap;

use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::TraceContextExt;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// The header (and the `extra` key) that carries a W3C trace context.
pub const TRACEPARENT: &str = "traceparent";

/// Make `span` a child of the span `traceparent` names. A missing or malformed value leaves
/// `span` a root: a producer's bad header costs it its trace link, nothing else.
pub fn continue_trace(span: &tracing::Span, traceparent: Option<&str>) {
    let Some(value) = traceparent else { return };
    let carrier = HashMap::from([(TRACEPARENT.to_owned(), value.to_owned())]);
    let parent = TraceContextPropagator::new().extract(&carrier);
    if parent.span().span_context().is_valid() {
        // Only fails when the span is disabled, and then there is no trace to continue.
        let _ = span.set_parent(parent);
    }
}

/// The `traceparent` of `span`, to hand to whatever continues its work (the message's
/// `extra.traceparent`); `None` when the span is not exported.
pub fn traceparent_of(span: &tracing::Span) -> Option<String> {
    let context = span.context();
    if !context.span().span_context().is_valid() {
        return None;
    }
    let mut carrier = HashMap::new();
    TraceContextPropagator::new().inject_context(&context, &mut carrier);
    carrier.remove(TRACEPARENT)
}

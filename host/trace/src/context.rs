//! W3C trace context (`traceparent`) in and out of spans: read strictly ([`crate::traceparent`]),
//! written through the standard propagator.

use std::collections::HashMap;

use serde_json::{Map, Value};

use opentelemetry::Context;
use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::TraceContextExt;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// The header (and the `extra` key) that carries a W3C trace context.
pub const TRACEPARENT: &str = "traceparent";

/// Make `span` a child of the span `traceparent` names. A missing or malformed value leaves
/// `span` a root, as W3C Trace Context asks of a receiver: a producer's bad value costs it its
/// trace link, nothing else (the message is published; the value is never logged).
pub fn continue_trace(span: &tracing::Span, traceparent: Option<&str>) {
    let Some(remote) = traceparent.and_then(crate::traceparent::parse) else {
        return;
    };
    // Only fails when the span is disabled, and then there is no trace to continue.
    let _ = span.set_parent(Context::new().with_remote_span_context(remote));
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

/// The `extra.traceparent` of a message, if it has a string there.
pub fn traceparent_in(message: &Map<String, Value>) -> Option<&str> {
    message.get("extra")?.get(TRACEPARENT)?.as_str()
}

/// Set the message's `extra.traceparent` (making `extra` when absent). `false`, and the message
/// unchanged, when its `extra` is not an object (the publish refuses it with its own reason).
pub fn set_traceparent(message: &mut Map<String, Value>, traceparent: String) -> bool {
    match message
        .entry("extra")
        .or_insert_with(|| Value::Object(Map::new()))
    {
        Value::Object(extra) => {
            extra.insert(TRACEPARENT.to_owned(), Value::String(traceparent));
            true
        }
        _ => false,
    }
}

/// `body` with `extra.traceparent` naming `span`, for a message that continues `span`'s
/// trace; `None` (publish the body as given) when the span is not exported or the body is not
/// a JSON object with an object `extra`.
pub fn stamp_body(body: &[u8], span: &tracing::Span) -> Option<Vec<u8>> {
    let mut message: Map<String, Value> = serde_json::from_slice(body).ok()?;
    let own = traceparent_of(span)?;
    if !set_traceparent(&mut message, own) {
        return None;
    }
    serde_json::to_vec(&message).ok()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn extra_traceparent_is_read_and_set_only_in_an_object_extra() {
        let mut m = json!({"x": 1}).as_object().cloned().expect("object");
        assert_eq!(traceparent_in(&m), None);
        assert!(set_traceparent(&mut m, "00-a-b-01".into()));
        assert_eq!(traceparent_in(&m), Some("00-a-b-01"));
        assert_eq!(m["x"], 1);
        let mut bad = json!({"extra": 5}).as_object().cloned().expect("object");
        assert!(!set_traceparent(&mut bad, "00-a-b-01".into()));
        assert_eq!(bad["extra"], 5);
    }
}

//! Spans as an OTLP/HTTP JSON export request (`ExportTraceServiceRequest` in the protobuf JSON
//! mapping the OTLP specification gives: hex ids, lowerCamelCase keys, 64-bit integers as
//! decimal strings), the body every OTLP/HTTP collector accepts with `application/json`.

use std::time::{SystemTime, UNIX_EPOCH};

use opentelemetry::trace::{SpanKind, Status};
use opentelemetry::{KeyValue, Value as Attr};
use opentelemetry_sdk::trace::SpanData;
use serde_json::{Value, json};

/// The request body for `spans`, all from one service.
pub(crate) fn encode(service_name: &str, spans: &[SpanData]) -> Value {
    let spans: Vec<Value> = spans.iter().map(span).collect();
    json!({
        "resourceSpans": [{
            "resource": {
                "attributes": [attribute(&KeyValue::new("service.name", service_name.to_owned()))]
            },
            "scopeSpans": [{
                "scope": { "name": "wasmboost" },
                "spans": spans,
            }],
        }]
    })
}

fn span(s: &SpanData) -> Value {
    let context = &s.span_context;
    let mut out = json!({
        "traceId": context.trace_id().to_string(),
        "spanId": context.span_id().to_string(),
        "name": s.name,
        "kind": kind(&s.span_kind),
        "startTimeUnixNano": nanos(s.start_time),
        "endTimeUnixNano": nanos(s.end_time),
        "attributes": s.attributes.iter().map(attribute).collect::<Vec<_>>(),
        "status": status(&s.status),
    });
    if s.parent_span_id != opentelemetry::trace::SpanId::INVALID {
        out["parentSpanId"] = s.parent_span_id.to_string().into();
    }
    out
}

/// `SpanKind` as the protobuf enum's number.
fn kind(kind: &SpanKind) -> u8 {
    match kind {
        SpanKind::Internal => 1,
        SpanKind::Server => 2,
        SpanKind::Client => 3,
        SpanKind::Producer => 4,
        SpanKind::Consumer => 5,
    }
}

fn status(status: &Status) -> Value {
    match status {
        Status::Unset => json!({}),
        Status::Ok => json!({ "code": 1 }),
        Status::Error { description } => json!({ "code": 2, "message": description.as_ref() }),
    }
}

fn attribute(kv: &KeyValue) -> Value {
    let value = match &kv.value {
        Attr::Bool(b) => json!({ "boolValue": b }),
        Attr::I64(n) => json!({ "intValue": n.to_string() }),
        Attr::F64(f) => json!({ "doubleValue": f }),
        Attr::String(s) => json!({ "stringValue": s.as_str() }),
        // Arrays (none of our spans has one) go as their text.
        other => json!({ "stringValue": other.to_string() }),
    };
    json!({ "key": kv.key.as_str(), "value": value })
}

/// Nanoseconds since the Unix epoch as decimal text (a JSON-mapped `fixed64`).
fn nanos(at: SystemTime) -> String {
    at.duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos())
        .to_string()
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;
    use std::time::Duration;

    use opentelemetry::InstrumentationScope;
    use opentelemetry::trace::{SpanContext, SpanId, TraceFlags, TraceId, TraceState};
    use opentelemetry_sdk::trace::{SpanEvents, SpanLinks};

    use super::*;

    #[test]
    fn a_span_is_encoded_as_the_otlp_json_mapping() {
        let trace_id = TraceId::from_hex("4bf92f3577b34da6a3ce929d0e0e4736").expect("hex");
        let span_id = SpanId::from_hex("00f067aa0ba902b7").expect("hex");
        let data = SpanData {
            span_context: SpanContext::new(
                trace_id,
                span_id,
                TraceFlags::SAMPLED,
                false,
                TraceState::default(),
            ),
            parent_span_id: SpanId::from_hex("0000000000000001").expect("hex"),
            parent_span_is_remote: true,
            span_kind: SpanKind::Consumer,
            name: Cow::Borrowed("task"),
            start_time: UNIX_EPOCH + Duration::from_nanos(5),
            end_time: UNIX_EPOCH + Duration::from_secs(1),
            attributes: vec![KeyValue::new("fuel", 42_i64), KeyValue::new("queue", "add")],
            dropped_attributes_count: 0,
            events: SpanEvents::default(),
            links: SpanLinks::default(),
            status: Status::Unset,
            instrumentation_scope: InstrumentationScope::builder("t").build(),
        };
        let body = encode("svc", &[data]);
        let span = &body["resourceSpans"][0]["scopeSpans"][0]["spans"][0];
        assert_eq!(span["traceId"], "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(span["spanId"], "00f067aa0ba902b7");
        assert_eq!(span["parentSpanId"], "0000000000000001");
        assert_eq!(span["kind"], 5);
        assert_eq!(span["startTimeUnixNano"], "5");
        assert_eq!(span["endTimeUnixNano"], "1000000000");
        assert_eq!(span["attributes"][0]["value"]["intValue"], "42");
        assert_eq!(span["attributes"][1]["value"]["stringValue"], "add");
        let resource = &body["resourceSpans"][0]["resource"]["attributes"][0];
        assert_eq!(resource["value"]["stringValue"], "svc");
    }
}

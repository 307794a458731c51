//! OpenTelemetry traces against the real binary: a small OTLP/HTTP receiver in the test
//! decodes what the host exports (OTLP JSON) and checks the span tree of one published task:
//! the producer's span (a `traceparent` header) -> `publish` -> `task` -> `settle`, one trace;
//! and a follow-up a task publishes continues it: `task` -> `publish` -> the follow-up's `task`.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use wasmboost_tests::guests;
use wasmboost_tests::host::{HostOptions, http_with};
use wasmboost_tests::poll::poll;

/// The producer's trace and span, as a W3C `traceparent` names them.
const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const PRODUCER_SPAN: &str = "00f067aa0ba902b7";
/// A second producer trace, for the follow-up.
const CHAIN_TRACE_ID: &str = "0af7651916cd43dd8448eb211c80319c";

/// One exported span: the fields the test checks.
#[derive(Debug, Clone)]
pub(super) struct Span {
    pub(super) name: String,
    pub(super) trace_id: String,
    pub(super) span_id: String,
    pub(super) parent_span_id: String,
    pub(super) attributes: HashMap<String, String>,
}

/// Every span posted to `/v1/traces`, decoded.
#[derive(Clone, Default)]
pub(super) struct Received(Arc<Mutex<Vec<Span>>>);

impl Received {
    pub(super) fn spans(&self) -> Vec<Span> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

/// Accept OTLP/HTTP exports on a free loopback port until the test process ends.
pub(super) fn receiver() -> (String, Received) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = format!("http://{}", listener.local_addr().expect("addr"));
    let received = Received::default();
    let sink = received.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let sink = sink.clone();
            std::thread::spawn(move || serve(stream, &sink));
        }
    });
    (addr, received)
}

/// Answer every request on one connection with 200 after decoding its body.
fn serve(stream: TcpStream, sink: &Received) {
    let mut reader = BufReader::new(stream.try_clone().expect("clone"));
    let mut stream = stream;
    loop {
        let mut length = 0usize;
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        loop {
            line.clear();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                return;
            }
            let header = line.trim_end();
            if header.is_empty() {
                break;
            }
            if let Some((name, value)) = header.split_once(':')
                && name.eq_ignore_ascii_case("content-length")
            {
                length = value.trim().parse().expect("a length");
            }
        }
        let mut body = vec![0; length];
        reader.read_exact(&mut body).expect("the body");
        let request: Value = serde_json::from_slice(&body).expect("an OTLP JSON body");
        sink.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend(spans_of(&request));
        let answer =
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}";
        if stream.write_all(answer.as_bytes()).is_err() {
            return;
        }
    }
}

/// The spans of one `ExportTraceServiceRequest` in its JSON mapping.
fn spans_of(request: &Value) -> Vec<Span> {
    let list = |v: &Value, key: &str| v[key].as_array().cloned().unwrap_or_default();
    let text = |v: &Value| v.as_str().unwrap_or_default().to_owned();
    let mut spans = Vec::new();
    for resource in list(request, "resourceSpans") {
        for scope in list(&resource, "scopeSpans") {
            for span in list(&scope, "spans") {
                let attributes = list(&span, "attributes")
                    .iter()
                    .map(|kv| {
                        let value = &kv["value"];
                        let value = match (&value["stringValue"], &value["intValue"]) {
                            (Value::String(s), _) => s.clone(),
                            (_, Value::String(n)) => n.clone(),
                            (_, n) => n.to_string(),
                        };
                        (text(&kv["key"]), value)
                    })
                    .collect();
                spans.push(Span {
                    name: text(&span["name"]),
                    trace_id: text(&span["traceId"]),
                    span_id: text(&span["spanId"]),
                    parent_span_id: text(&span["parentSpanId"]),
                    attributes,
                });
            }
        }
    }
    spans
}

#[test]
fn a_published_task_continues_the_producers_trace() {
    let (endpoint, received) = receiver();
    let host = HostOptions::default()
        .config(format!(
            "[trace]\nendpoint = \"{endpoint}\"\n[queues.chain.grants]\npublish_to = [\"add\"]\n"
        ))
        .start();
    for (queue, wasm) in [
        ("add", guests::example_bytes("add")),
        ("chain", guests::guest_bytes("granted")),
    ] {
        let (status, body) = host.http("PUT", &format!("/v1/queues/{queue}/module"), &wasm);
        assert!(
            (200..300).contains(&status),
            "deploy {queue}: {status} {body}"
        );
    }
    let traceparent = format!("00-{TRACE_ID}-{PRODUCER_SPAN}-01");
    let (status, answer) = http_with(
        host.addr(),
        "POST",
        "/v1/queues/add/messages?wait=30000",
        &[("traceparent", traceparent.as_str())],
        br#"{"x": 2, "y": 3}"#,
    );
    assert_eq!(status, 200, "{answer}");
    let record: Value = serde_json::from_str(&answer).expect("JSON");
    assert_eq!(record["result"], 5, "{answer}");
    let task_id = record["task_id"].as_str().expect("task id").to_owned();

    // The three spans of this task, once all are exported (every second).
    let (publish, task, settle) = poll(
        "the publish, task and settle spans",
        Duration::from_secs(20),
        || format!("{:#?}\n{}", received.spans(), host.log()),
        || {
            let spans = received.spans();
            let named = |name: &str| {
                spans
                    .iter()
                    .find(|s| s.name == name && s.trace_id == TRACE_ID)
                    .cloned()
            };
            Some((named("publish")?, named("task")?, named("settle")?))
        },
    );
    assert_eq!(
        publish.parent_span_id, PRODUCER_SPAN,
        "publish continues the producer"
    );
    assert_eq!(
        task.parent_span_id, publish.span_id,
        "the task continues the publish"
    );
    assert_eq!(
        settle.parent_span_id, task.span_id,
        "the settle is inside the task"
    );

    let publish_attrs = publish.attributes.clone();
    assert_eq!(publish_attrs.get("queue").map(String::as_str), Some("add"));
    assert_eq!(publish_attrs.get("task_id"), Some(&task_id));
    let task_attrs = task.attributes.clone();
    assert_eq!(task_attrs.get("queue").map(String::as_str), Some("add"));
    assert_eq!(task_attrs.get("task_id"), Some(&task_id));
    assert_eq!(task_attrs.get("attempt").map(String::as_str), Some("1"));
    assert_eq!(
        task_attrs.get("module_version").map(String::as_str),
        Some("1")
    );
    assert_eq!(
        task_attrs.get("outcome").map(String::as_str),
        Some("succeeded")
    );
    let fuel: u64 = task_attrs["fuel"].parse().expect("fuel is a number");
    assert!(fuel > 0, "{task_attrs:?}");
    assert_eq!(
        settle.attributes.get("settlement").map(String::as_str),
        Some("ack")
    );

    // A task's follow-up continues the trace: chain's task -> publish -> add's task.
    let traceparent = format!("00-{CHAIN_TRACE_ID}-{PRODUCER_SPAN}-01");
    let (status, answer) = http_with(
        host.addr(),
        "POST",
        "/v1/queues/chain/messages?wait=30000",
        &[("traceparent", traceparent.as_str())],
        br#"{"publish": [["add", {"x": 4, "y": 5}]]}"#,
    );
    assert_eq!(status, 200, "{answer}\n{}", host.log());
    let (chain_task, follow_up, add_task) = poll(
        "the follow-up's spans",
        Duration::from_secs(20),
        || format!("{:#?}\n{}", received.spans(), host.log()),
        || {
            let spans: Vec<Span> = received
                .spans()
                .into_iter()
                .filter(|s| s.trace_id == CHAIN_TRACE_ID)
                .collect();
            let task_of = |queue: &str| {
                spans
                    .iter()
                    .find(|s| {
                        s.name == "task" && s.attributes.get("queue").is_some_and(|q| q == queue)
                    })
                    .cloned()
            };
            let chain = task_of("chain")?;
            let follow_up = spans
                .iter()
                .find(|s| s.name == "publish" && s.parent_span_id == chain.span_id)?
                .clone();
            Some((chain, follow_up, task_of("add")?))
        },
    );
    assert_eq!(
        follow_up.attributes.get("queue").map(String::as_str),
        Some("add")
    );
    assert_eq!(
        add_task.parent_span_id, follow_up.span_id,
        "the follow-up continues the task"
    );
    assert_eq!(
        add_task.attributes.get("outcome").map(String::as_str),
        Some("succeeded")
    );
    assert_eq!(
        chain_task.attributes.get("outcome").map(String::as_str),
        Some("succeeded")
    );
}

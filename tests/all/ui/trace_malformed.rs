//! Malformed W3C `traceparent` values against the real binary, exporting to the in-test OTLP
//! receiver of `trace`: as the header of a single and a batch publish and as the message's
//! `extra.traceparent`. Each publish is accepted, each task runs in a new trace of its own (its
//! publish is a root), a well-formed line in the same batch keeps its producer's trace, and no
//! malformed value reaches the host's log.

use std::collections::HashSet;
use std::time::Duration;

use serde_json::{Value, json};
use wasmboost_tests::guests;
use wasmboost_tests::host::{HostOptions, http_with};
use wasmboost_tests::poll::poll;

use super::trace::{Span, receiver};

/// The trace and span every malformed value names (in some broken way): no exported span may
/// carry this trace id, and the log may not mention either.
const BAD_TRACE: &str = "5ad7c0ffee5ad7c0ffee5ad7c0ffee01";
const BAD_SPAN: &str = "badc0ffee0ddf00d";
/// A well-formed producer trace, for the line of a batch that must keep its link.
const GOOD_TRACE: &str = "6e0c63257de34c926f9efcd03899a1d3";
const GOOD_SPAN: &str = "b7ad6b7169203331";
/// The well-formed header of a batch.
const HEADER_TRACE: &str = "7f3a9b1c2d4e5f60718293a4b5c6d7e8";
/// In a value that tries to forge a log line.
const FORGED: &str = "forged-log-line";

/// Values a header can carry (visible ASCII), each malformed in one way.
fn malformed_header_values() -> Vec<String> {
    let (t, s) = (BAD_TRACE, BAD_SPAN);
    let ten_kb = "a".repeat(10 << 10);
    vec![
        format!("ff-{t}-{s}-01"),
        format!("0-{t}-{s}-01"),
        format!("xy-{t}-{s}-01"),
        format!("00-{}-{s}-01", &t[..31]),
        format!("00-{t}0-{s}-01"),
        format!("00-{t}-{}-01", &s[..15]),
        format!("00-{t}-{s}-1"),
        format!("00-{t}-{s}-01-extra"),
        format!("00-{}g-{s}-01", &t[..31]),
        format!("00-+{}-{s}-01", &t[1..]),
        format!("00-{}-{s}-01", t.to_uppercase()),
        format!("00-{}-{s}-01", "0".repeat(32)),
        format!("00-{t}-{}-01", "0".repeat(16)),
        format!("00-{t}-{s}-01{ten_kb}"),
        format!("cc-{t}-{s}-01-{ten_kb}"),
    ]
}

/// Values only a JSON string can carry: control characters and newlines.
fn malformed_json_values() -> Vec<String> {
    let (t, s) = (BAD_TRACE, BAD_SPAN);
    vec![
        format!("00-{t}-{s}-01\n"),
        format!("\n00-{t}-{s}-01"),
        format!("\u{b}00-{t}-{s}-01"),
        format!("00-{t}-{s}-01\r\n{FORGED}"),
        format!("00-{t}-{s}-0\u{1}"),
    ]
}

fn add_body(extra_traceparent: Option<&str>) -> Vec<u8> {
    let mut body = json!({"x": 2, "y": 3});
    if let Some(value) = extra_traceparent {
        body["extra"] = json!({ "traceparent": value });
    }
    body.to_string().into_bytes()
}

/// Publish one `add` message; its task id.
fn publish(addr: &str, headers: &[(&str, &str)], body: &[u8]) -> String {
    let (status, answer) = http_with(addr, "POST", "/v1/queues/add/messages", headers, body);
    assert_eq!(status, 202, "{headers:?}: {answer}");
    let answer: Value = serde_json::from_str(&answer).expect("JSON");
    answer["task_id"].as_str().expect("task id").to_owned()
}

fn with_task_id<'a>(spans: &'a [Span], name: &str, task_id: &str) -> Option<&'a Span> {
    spans
        .iter()
        .find(|s| s.name == name && s.attributes.get("task_id").is_some_and(|t| t == task_id))
}

#[test]
fn a_malformed_traceparent_starts_a_new_trace_and_is_never_logged() {
    let (endpoint, received) = receiver();
    let host = HostOptions::default()
        .config(format!("[trace]\nendpoint = \"{endpoint}\"\n"))
        .start();
    let (status, body) = host.http(
        "PUT",
        "/v1/queues/add/module",
        &guests::example_bytes("add"),
    );
    assert!((200..300).contains(&status), "deploy: {status} {body}");
    let addr = host.addr();

    // Single publishes: each malformed value as the header, then as `extra.traceparent`.
    let mut single = Vec::new();
    for value in malformed_header_values() {
        let id = publish(addr, &[("traceparent", &value)], &add_body(None));
        single.push((format!("header {value:.60}"), id));
    }
    for value in malformed_header_values()
        .into_iter()
        .chain(malformed_json_values())
    {
        let id = publish(addr, &[], &add_body(Some(&value)));
        single.push((format!("extra {value:.60?}"), id));
    }
    // A repeated header is invalid even when both values are well formed (W3C test suite:
    // test_traceparent_duplicated).
    let valid_bad = format!("00-{BAD_TRACE}-{BAD_SPAN}-01");
    let id = publish(
        addr,
        &[("traceparent", &valid_bad), ("traceparent", &valid_bad)],
        &add_body(None),
    );
    single.push(("repeated header".into(), id));
    // A header that is not visible ASCII is malformed, and the body's well-formed
    // `extra.traceparent` does not stand in for it.
    let id = publish(
        addr,
        &[("traceparent", &format!("{valid_bad}\u{e9}"))],
        &add_body(Some(&valid_bad)),
    );
    single.push(("non-ASCII header".into(), id));
    // A control character cannot reach the route: HTTP itself refuses the request.
    let (status, answer) = http_with(
        addr,
        "POST",
        "/v1/queues/add/messages",
        &[("traceparent", &format!("00-{BAD_TRACE}-{BAD_SPAN}-0\u{1}"))],
        &add_body(None),
    );
    assert_eq!(status, 400, "a control character in a header: {answer}");

    // One batch under a malformed header: a line per malformed `extra.traceparent` and one
    // well-formed line, which must keep its producer's trace.
    let mut lines: Vec<Vec<u8>> = malformed_header_values()
        .iter()
        .chain(&malformed_json_values())
        .map(|v| add_body(Some(v)))
        .collect();
    let good = format!("00-{GOOD_TRACE}-{GOOD_SPAN}-01");
    lines.push(add_body(Some(&good)));
    let (status, answer) = http_with(
        addr,
        "POST",
        "/v1/queues/add/messages:batch",
        &[("traceparent", &format!("ff-{BAD_TRACE}-{BAD_SPAN}-01"))],
        &lines.join(&b'\n'),
    );
    assert_eq!(status, 202, "batch: {answer}");
    let answer: Value = serde_json::from_str(&answer).expect("JSON");
    let mut batch: Vec<String> = answer["task_ids"]
        .as_array()
        .expect("task ids")
        .iter()
        .map(|id| id.as_str().expect("an id").to_owned())
        .collect();
    assert_eq!(batch.len(), lines.len(), "{answer}");
    let good_id = batch.pop().expect("the well-formed line");
    // A well-formed header on a batch: its `publish_batch` span continues the producer's.
    let (status, answer) = http_with(
        addr,
        "POST",
        "/v1/queues/add/messages:batch",
        &[("traceparent", &format!("00-{HEADER_TRACE}-{GOOD_SPAN}-01"))],
        &add_body(None),
    );
    assert_eq!(status, 202, "batch: {answer}");

    let spans = poll(
        "a publish and a task span for every task",
        Duration::from_secs(30),
        || format!("{:#?}\n{}", received.spans(), host.log()),
        || {
            let spans = received.spans();
            let all = single.iter().all(|(_, id)| {
                with_task_id(&spans, "publish", id).is_some()
                    && with_task_id(&spans, "task", id).is_some()
            }) && batch
                .iter()
                .chain([&good_id])
                .all(|id| with_task_id(&spans, "task", id).is_some())
                && spans
                    .iter()
                    .any(|s| s.name == "publish_batch" && s.trace_id != HEADER_TRACE)
                && spans
                    .iter()
                    .any(|s| s.name == "publish_batch" && s.trace_id == HEADER_TRACE);
            all.then_some(spans)
        },
    );

    let mut roots = HashSet::new();
    for (what, id) in &single {
        let publish = with_task_id(&spans, "publish", id).expect("polled");
        let task = with_task_id(&spans, "task", id).expect("polled");
        assert_eq!(publish.parent_span_id, "", "{what}: the publish is a root");
        assert!(
            roots.insert(publish.trace_id.clone()),
            "{what}: a trace of its own"
        );
        assert_eq!(
            task.trace_id, publish.trace_id,
            "{what}: the task continues the publish"
        );
        assert_eq!(task.parent_span_id, publish.span_id, "{what}");
        assert_eq!(task.attributes["outcome"], "succeeded", "{what}");
    }
    let batch_span = spans
        .iter()
        .find(|s| s.name == "publish_batch" && s.trace_id != HEADER_TRACE)
        .expect("polled");
    let continued = spans
        .iter()
        .find(|s| s.name == "publish_batch" && s.trace_id == HEADER_TRACE)
        .expect("polled");
    assert_eq!(
        continued.parent_span_id, GOOD_SPAN,
        "a well-formed batch header"
    );
    assert_eq!(
        batch_span.parent_span_id, "",
        "a malformed batch header: a root"
    );
    for id in &batch {
        let task = with_task_id(&spans, "task", id).expect("polled");
        assert_eq!(
            task.parent_span_id, "",
            "a malformed line's task is a root: {task:?}"
        );
        assert!(
            roots.insert(task.trace_id.clone()),
            "a trace of its own: {task:?}"
        );
        assert_eq!(task.attributes["outcome"], "succeeded", "{task:?}");
    }
    let good_task = with_task_id(&spans, "task", &good_id).expect("polled");
    assert_eq!(
        good_task.trace_id, GOOD_TRACE,
        "the well-formed line keeps its trace"
    );
    assert_eq!(good_task.parent_span_id, GOOD_SPAN);
    assert_eq!(good_task.attributes["outcome"], "succeeded");
    assert!(
        !spans.iter().any(|s| s.trace_id == BAD_TRACE),
        "no span continues a malformed value"
    );

    let log = host.log().to_lowercase();
    for raw in [BAD_TRACE, BAD_SPAN, FORGED] {
        assert!(!log.contains(raw), "the log mentions {raw}:\n{log}");
    }
}

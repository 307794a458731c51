//! Workflows on one host (embedded broker and store).

use serde_json::{Value, json};
use wasmboost_tests::guests;
use wasmboost_tests::host::HostOptions;

use wasmboost_tests::host::HostProcess;
use wasmboost_tests::poll::poll;

use super::support::{LONG, deploy_calc, ended, record, show, submit};

const CONFIG: &str = "[queues.calc]\nconcurrency = 8\n[queues.calc2]\nconcurrency = 8\n\
                      [queues.alert]\n";

/// chain: add(1, 2) = 3 -> double on the other queue = 6 -> chord of three members on both
/// queues [12, 7, 8] -> callback: sum = 27. A second workflow maps `double` over 1..=20 then
/// a group's list, whose order the result shows.
#[test]
fn a_chain_with_a_chord_and_a_map_passes_results_along_in_order() {
    let host = HostOptions::default().config(CONFIG).start();
    deploy_calc(&host, &["calc", "calc2"]);
    let chain = json!({"chain": [
        {"queue": "calc", "args": {"op": "add", "x": 1, "y": 2}},
        {"queue": "calc2", "args": {"op": "double"}, "arg": "x"},
        {"chord": {
            "group": [
                {"queue": "calc", "args": {"op": "double"}, "arg": "x"},
                {"queue": "calc2", "args": {"op": "add", "y": 1}, "arg": "x"},
                {"queue": "calc", "args": {"op": "add", "y": 2}, "arg": "x"}
            ],
            "callback": {"queue": "calc2", "args": {"op": "sum"}, "arg": "values"}
        }}
    ]});
    let file = host.data_dir().join("chain.json");
    std::fs::write(&file, chain.to_string()).expect("write the workflow file");
    let out = host.cli([
        "workflow",
        "run",
        file.to_str().expect("utf-8"),
        "--wait",
        "--json",
    ]);
    let info: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {:?}\n{}", out, host.log()));
    assert!(out.status.success(), "{info}\n{}", host.log());
    assert_eq!(info["state"], "succeeded", "{info}");
    assert_eq!(info["result"], 27, "{info}");
    let id = info["id"].as_str().expect("id");
    let sizes: Vec<&Value> = info["stages"]
        .as_array()
        .expect("stages")
        .iter()
        .map(|s| &s["size"])
        .collect();
    assert_eq!(sizes, [&json!(1), &json!(1), &json!(3), &json!(1)]);
    let step = &info["stages"][2]["steps"][1];
    assert_eq!(
        (step["task_id"].as_str(), step["queue"].as_str()),
        (Some(format!("{id}.2.1").as_str()), Some("calc2"))
    );
    assert_eq!(step["state"], "succeeded");
    let status = host.cli(["workflow", "status", id]);
    let text = String::from_utf8_lossy(&status.stdout);
    assert!(
        text.contains("succeeded") && text.contains(&format!("{id}.3.0")),
        "{text}"
    );

    let items: Vec<i64> = (1..=20).collect();
    let mapped = json!({"chain": [
        {"map": {"queue": "calc", "args": {"op": "double"}, "arg": "x", "over": items}},
        {"map": {"queue": "calc2", "args": {"op": "add", "y": 1}, "arg": "x"}}
    ]});
    let id = submit(&host, &mapped);
    let info = ended(&host, &id);
    let want: Vec<i64> = (1..=20).map(|x| 2 * x + 1).collect();
    assert_eq!(info["result"], json!(want), "in element order: {info}");
}

/// add -> fail -> double: the workflow fails naming the failed step and its error, the third
/// stage never starts, and `on_error` runs once with the error.
#[test]
fn a_failing_step_fails_the_workflow_and_the_rest_never_runs() {
    let host = HostOptions::default().config(CONFIG).start();
    deploy_calc(&host, &["calc", "calc2"]);
    let echo = guests::guest_bytes("echo_v1");
    let (status, body) = host.http("PUT", "/v1/queues/alert/module", &echo);
    assert!((200..300).contains(&status), "deploy: {status} {body}");
    let doc = json!({"chain": [
        {"queue": "calc", "args": {"op": "add", "x": 1, "y": 2}},
        {"queue": "calc2", "args": {"op": "fail"}, "arg": "x"},
        {"queue": "calc", "args": {"op": "double"}, "arg": "x"}
    ], "on_error": {"queue": "alert", "arg": "failure"}});
    let id = submit(&host, &doc);
    let info = ended(&host, &id);
    assert_eq!(info["state"], "failed", "{info}");
    let error = info["error"].as_str().expect("an error");
    assert!(
        error.contains(&format!("{id}.1.0")) && error.contains("calc fail"),
        "{error}"
    );
    assert_eq!(
        info["stages"][2]["size"],
        Value::Null,
        "stage 2 never started: {info}"
    );
    // The step's own record is written just after it advanced (failed) the workflow.
    let failed = poll_record(&host, &format!("{id}.1.0"));
    assert_eq!(failed["state"], "failed", "{failed}");
    let handler = format!("{id}.error");
    let record = poll_record(&host, &handler);
    assert_eq!(record["state"], "succeeded", "{record}");
    let failure = &record["result"]["payload"]["failure"];
    assert_eq!(failure["task_id"], format!("{id}.1.0"), "{record}");
    assert_eq!(failure["error"], "calc fail", "{record}");
    // Refusals name their cause (400), unknown queues 404, unknown workflows 404.
    let (status, body) = host.http("POST", "/v1/workflows", br#"{"chain": [{"args": {}}]}"#);
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("$.chain[0]"), "{body}");
    let (status, body) = host.http("POST", "/v1/workflows", br#"{"queue": "nope"}"#);
    assert_eq!(status, 404, "{body}");
    assert!(show(&host, "wf-0000").is_none());
    let (status, _) = host.http("GET", "/v1/workflows/not-a-workflow", b"");
    assert_eq!(status, 400);
}

/// A cancelled workflow ends `cancelled`; its running step is stopped and nothing after runs.
#[test]
fn a_cancelled_workflow_stops_and_starts_nothing_more() {
    let host = HostOptions::default().config(CONFIG).start();
    deploy_calc(&host, &["calc", "calc2"]);
    let doc = json!({"chain": [
        {"queue": "calc", "args": {"op": "add", "x": 1, "y": 2, "sleep_ms": 20000}},
        {"queue": "calc2", "args": {"op": "double"}, "arg": "x"}
    ]});
    let id = submit(&host, &doc);
    poll(
        "the first step to run",
        LONG,
        || host.log(),
        || record(&host, &format!("{id}.0.0")).filter(|r| r["state"] == "running"),
    );
    let out = host.cli(["workflow", "cancel", &id, "--json"]);
    assert!(out.status.success(), "{out:?}");
    let info = ended(&host, &id);
    assert_eq!(info["state"], "cancelled", "{info}");
    poll(
        "the running step to stop",
        LONG,
        || host.log(),
        || record(&host, &format!("{id}.0.0")).filter(|r| r["state"] == "cancelled"),
    );
    let info = show(&host, &id).expect("shown");
    assert_eq!(info["stages"][1]["size"], Value::Null, "{info}");
}

fn poll_record(host: &HostProcess, id: &str) -> Value {
    poll(
        "the record",
        LONG,
        || host.log(),
        || record(host, id).filter(|r| r["state"] == "succeeded" || r["state"] == "failed"),
    )
}

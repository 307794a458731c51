//! The dashboard driven in headless Chromium, every action checked through the API afterwards.

use std::time::Duration;

use serde_json::{Value, json};
use wasmboost_tests::browser::{Browser, output_dir};
use wasmboost_tests::guests;
use wasmboost_tests::host::{HostOptions, HostProcess};
use wasmboost_tests::poll::poll;

const LONG: Duration = Duration::from_secs(60);
const TASKS: usize = 1000;

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn create_token(host: &HostProcess, scope: &str) -> String {
    let out = host.cli(["token", "create", "--scope", scope]);
    assert!(out.status.success(), "token create: {}", text(&out.stderr));
    text(&out.stdout).trim().to_owned()
}

fn json_of(host: &HostProcess, path: &str) -> Value {
    let (status, body) = host.http("GET", path, b"");
    assert_eq!(status, 200, "GET {path}: {body}");
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("GET {path}: {e}: {body}"))
}

fn queue_row(host: &HostProcess, queue: &str) -> Value {
    let rows = json_of(host, "/v1/queues");
    rows.as_array()
        .and_then(|rows| rows.iter().find(|r| r["queue"] == queue).cloned())
        .unwrap_or_else(|| panic!("no queue {queue} in {rows}"))
}

fn post(host: &HostProcess, path: &str, body: &[u8]) -> Value {
    let (status, answer) = host.http("POST", path, body);
    assert!(
        (200..300).contains(&status),
        "POST {path}: {status} {answer}"
    );
    serde_json::from_str(&answer).unwrap_or_else(|e| panic!("POST {path}: {e}: {answer}"))
}

/// A host with `add` (the add example) and `dlq` (the flaky guest) deployed, and an admin token.
fn host() -> (HostProcess, String) {
    let mut host = HostOptions::default()
        .config("[queues.add]\nconcurrency = 8\n[queues.dlq]\nmax_retries = 0\n")
        .start();
    let admin = create_token(&host, "admin");
    host.set_token(Some(admin.clone()));
    for (queue, wasm) in [
        ("add", guests::example_bytes("add")),
        ("dlq", guests::guest_bytes("flaky")),
    ] {
        let (status, body) = host.http("PUT", &format!("/v1/queues/{queue}/module"), &wasm);
        assert!(
            (200..300).contains(&status),
            "deploy {queue}: {status} {body}"
        );
    }
    (host, admin)
}

/// The number in a queues-table cell (`1,000` -> 1000).
fn number(cell: &str) -> Option<u64> {
    cell.replace(',', "").trim().parse().ok()
}

fn cell(queue: &str, col: &str) -> String {
    format!("#queues-body tr[data-queue=\"{queue}\"] td[data-col=\"{col}\"]")
}

#[test]
fn dashboard_drives_a_real_host() {
    let (host, admin) = host();
    let shots = output_dir("ui_dashboard");
    let browser = Browser::start(&shots, 1280, 900);
    let ui = format!("{}/ui", host.addr());

    // Log in: the page asks for a token first, and a wrong one is refused with the host's words.
    browser.goto(&ui);
    browser.wait_text("#login h1", LONG, |t| t == "Log in");
    assert!(!browser.visible("#queues"), "no data before login");
    browser.screenshot("01-login");
    browser.type_into("#token", "wbt_0000000000000000_nope");
    browser.click("#login-button");
    browser.wait_text("#login-error", LONG, |t| t.contains("invalid API token"));
    browser.type_into("#token", &admin);
    browser.click("#login-button");
    browser.wait_text(&cell("add", "state"), LONG, |t| t == "running");
    let stored = browser.exec(
        "return [sessionStorage.getItem('wasmboost.token'), document.cookie];",
        &[],
    );
    assert_eq!(
        stored,
        json!([admin, ""]),
        "token in sessionStorage, no cookie"
    );

    // The queues table fills and drains live, without a reload (the marker would be lost).
    browser.exec("window.__wbMarker = 42; return null;", &[]);
    post(&host, "/v1/queues/add/pause", b"");
    let lines: String = (0..TASKS)
        .map(|i| format!("{}\n", json!({"x": i, "y": 1})))
        .collect();
    let batch = post(&host, "/v1/queues/add/messages:batch", lines.as_bytes());
    let ids: Vec<String> = batch["task_ids"]
        .as_array()
        .expect("task ids")
        .iter()
        .filter_map(|v| v.as_str().map(str::to_owned))
        .collect();
    assert_eq!(ids.len(), TASKS);
    browser.wait_text(&cell("add", "queued"), LONG, |t| {
        number(t) == Some(TASKS as u64)
    });
    browser.wait_text(&cell("add", "state"), LONG, |t| t == "paused");
    browser.screenshot("02-queues-filled");
    post(&host, "/v1/queues/add/resume", b"");
    browser.wait_text(&cell("add", "succeeded"), LONG * 2, |t| {
        number(t) == Some(TASKS as u64)
    });
    browser.wait_text(&cell("add", "queued"), LONG, |t| number(t) == Some(0));
    assert_eq!(
        browser.exec("return window.__wbMarker;", &[]),
        json!(42),
        "the table updated in place"
    );
    browser.screenshot("03-queues-drained");

    // A second version, then roll back to the first through its button (and its confirm()).
    let (status, body) = host.http(
        "PUT",
        "/v1/queues/add/module",
        &guests::guest_bytes("echo_v1"),
    );
    assert!((200..300).contains(&status), "deploy v2: {status} {body}");

    // Open the queue and pause it through the button; the API says it is paused.
    browser.click("#queues-body tr[data-queue=\"add\"] a");
    browser.wait_text("#page h1", LONG, |t| t == "Queue add");
    browser.wait_text("#versions tr[data-version=\"2\"]", LONG, |t| {
        t.contains("current")
    });
    // Config and grants come from the host's config file; the p50/p99 charts from the history,
    // whose buckets carry percentiles once tasks finished in them.
    browser.wait_text("#config-keys dd[data-key=\"concurrency\"]", LONG, |t| {
        t == "8"
    });
    browser.wait_text("#config-grants", LONG, |t| t.contains("Nothing granted"));
    let history = json_of(&host, "/v1/queues/add/history");
    let with_percentiles: Vec<&Value> = history["per_minute"]
        .as_array()
        .expect("per-minute buckets")
        .iter()
        .filter(|b| b["p99_us"].is_u64())
        .collect();
    assert!(
        !with_percentiles.is_empty(),
        "the drain's minute has a p99: {history}"
    );
    for b in with_percentiles {
        assert!(b["p50_us"].as_u64() <= b["p99_us"].as_u64(), "{b}");
    }
    let drawn = browser.exec(
        "return ['#chart-p50', '#chart-p99'].map((s) => { const c = document.querySelector(s); \
         return !!c && c.width > 0; });",
        &[],
    );
    assert_eq!(drawn, json!([true, true]), "both percentile charts drawn");
    browser.click("#versions tr[data-version=\"1\"] button[data-action=\"rollback\"]");
    browser.accept_dialog();
    browser.wait_text("#flash", LONG, |t| t == "now on version 1");
    let versions = json_of(&host, "/v1/queues/add/versions");
    let current: Vec<&Value> = versions
        .as_array()
        .expect("versions")
        .iter()
        .filter(|v| v["current"] == true)
        .collect();
    assert_eq!(current.len(), 1, "{versions}");
    assert_eq!(
        current[0]["number"], 1,
        "rolled back through the button: {versions}"
    );
    browser.click("#pause-toggle[data-action=\"pause\"]");
    poll(
        "the API to report add paused",
        LONG,
        || host.log(),
        || (queue_row(&host, "add")["paused"] == true).then_some(()),
    );
    browser.wait_text("#pause-toggle", LONG, |t| t == "Resume");
    browser.wait_text("#versions tr[data-version=\"1\"]", LONG, |t| {
        t.contains("current")
    });
    browser.screenshot("04-queue-paused");
    browser.click("#pause-toggle[data-action=\"resume\"]");
    poll(
        "the API to report add running",
        LONG,
        || host.log(),
        || (queue_row(&host, "add")["paused"] == false).then_some(()),
    );

    // A dead letter shows on its queue's page and the replay button sends it back.
    let dead = post(
        &host,
        "/v1/queues/dlq/messages",
        br#"{"mode":"dead_letter"}"#,
    );
    let dead_id = dead["task_id"].as_str().expect("a task id").to_owned();
    browser.goto(&format!("{ui}#/queue/dlq"));
    let row = format!("#dlq-list tr[data-task=\"{dead_id}\"]");
    browser.wait_text(&row, LONG, |t| t.contains("flaky dead_letter"));
    let first_finish = json_of(&host, &format!("/v1/tasks/{dead_id}"))["finished_ms"].clone();
    browser.exec(
        "document.querySelector('#dlq').scrollIntoView(); return null;",
        &[],
    );
    browser.screenshot("05-dead-letter");
    browser.click("#dlq button[data-action=\"replay\"]");
    browser.wait_text("#flash", LONG, |t| t.contains("1 dead letter(s) replayed"));
    poll(
        "the replayed task to run again",
        LONG,
        || host.log(),
        || {
            let record = json_of(&host, &format!("/v1/tasks/{dead_id}"));
            (record["finished_ms"].as_u64() > first_finish.as_u64()).then_some(())
        },
    );

    // Search a task id: its record, result and timings.
    browser.goto(&format!("{ui}#/task"));
    let id = &ids[7];
    browser.type_into("#task-id", id);
    browser.click("#task-search");
    browser.wait_text("#task-result [data-field=\"state\"]", LONG, |t| {
        t == "succeeded"
    });
    let result = browser.wait_text("#task-result-json", LONG, |_| true);
    assert_eq!(result.trim(), "8", "7 + 1");
    browser.screenshot("06-task");
    browser.type_into("#task-id", "no-such-task");
    browser.click("#task-search");
    browser.wait_text("#task-error", LONG, |t| t.contains("No task no-such-task"));

    // Hosts: this host runs both queues.
    browser.goto(&format!("{ui}#/hosts"));
    let hosts = browser.wait_text("#hosts-body", LONG, |t| {
        t.contains("add") && t.contains("dlq")
    });
    assert!(!hosts.is_empty());
    browser.wait_text("#hosts-body td[data-col=\"beat\"]", LONG, |t| {
        t.ends_with("ago")
    });
    browser.screenshot("07-hosts");
    let listed = json_of(&host, "/v1/hosts");
    assert!(
        listed[0]["beat_ms"].as_u64().is_some_and(|ms| ms > 0),
        "a heartbeat time: {listed}"
    );

    // Schedules: none configured, and the page says so.
    browser.goto(&format!("{ui}#/schedules"));
    browser.wait_text("#schedules-body", LONG, |t| {
        t.contains("No schedules configured")
    });
    browser.screenshot("07b-schedules");

    // A read-only token sees the data but no button it may not use.
    let read = create_token(&host, "read");
    browser.click("#logout");
    browser.type_into("#token", &read);
    browser.click("#login-button");
    browser.wait_text("#who", LONG, |t| t.ends_with("· read"));
    browser.goto(&format!("{ui}#/queues"));
    browser.wait_text(&cell("add", "succeeded"), LONG, |t| number(t).is_some());
    browser.goto(&format!("{ui}#/queue/add"));
    browser.wait_text("#queue-actions", LONG, |t| {
        t.contains("need a deploy token")
    });
    browser.wait_text("#dlq", LONG, |t| t.contains("need an admin token"));
    assert!(
        !browser.visible("#pause-toggle"),
        "no pause button for read"
    );
    assert!(!browser.visible("button[data-action=\"replay\"]"));
    assert!(!browser.visible("button[data-action=\"rollback\"]"));
    browser.screenshot("08-read-only");

    // Phone width: the page does not scroll sideways (the table scrolls in its own box).
    browser.resize(390, 844);
    browser.goto(&format!("{ui}#/queues"));
    browser.wait_text(&cell("add", "succeeded"), LONG, |t| number(t).is_some());
    let overflow = browser.exec(
        "return document.documentElement.scrollWidth - document.documentElement.clientWidth;",
        &[],
    );
    assert!(
        overflow.as_i64().is_some_and(|px| px <= 0),
        "page wider than the phone by {overflow} px"
    );
    browser.screenshot("09-phone");
    for name in ["01-login", "03-queues-drained", "06-task", "09-phone"] {
        assert!(
            shots.join(format!("{name}.png")).is_file(),
            "{name}.png saved"
        );
    }
}

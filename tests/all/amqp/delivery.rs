//! Delivery policies on RabbitMQ through the host: a poison message gets `max_retries + 1`
//! attempts (retries wait in the TTL delay queues) and lands in the DLQ, visible and replayable
//! with `wasmboost dlq`; a delayed task runs on time although the host restarted while it waited.

use serde_json::json;
use wasmboost_broker::conformance::MAX_EARLY;
use wasmboost_tests::rabbit::shared_node;

use super::support::{LONG, cli_json, deploy, poll, publish, record, record_in, start};

#[test]
fn poison_message_takes_max_retries_plus_one_attempts_then_dlq_and_replays() {
    let queue = "amqp_poison";
    let extra = format!(
        "[queues.{queue}]\nmax_retries = 2\nbackoff = {{ base = \"100ms\", max = \"200ms\" }}\n"
    );
    let mut host = start(&shared_node().amqp_url(), &extra);
    deploy(&host, queue, "flaky");
    let id = publish(&host, queue, "", &json!({"mode": "retry"}));
    let first = record_in(&host, &id, "dead_lettered");
    assert_eq!(first["attempts"], 3, "max_retries + 1 attempts: {first}");

    let listed = poll("the dead letter in `dlq list`", &host, LONG, || {
        let list = cli_json(&host, &["dlq", "list", queue]);
        list.as_array().filter(|l| !l.is_empty()).cloned()
    });
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0]["message"]["id"], id.as_str());
    let reason = listed[0]["reason"].as_str().unwrap_or_default();
    assert!(
        reason.contains("3 attempts"),
        "the reason says why: {reason}"
    );

    let replayed = cli_json(&host, &["dlq", "replay", queue]);
    assert_eq!(replayed["replayed"], 1, "{replayed}");
    let again = poll("the replayed task to end again", &host, LONG, || {
        record(&host, &id).filter(|r| {
            r["state"] == "dead_lettered"
                && r["finished_ms"].as_u64() > first["finished_ms"].as_u64()
        })
    });
    assert_eq!(
        again["attempts"], 3,
        "a replay starts the attempts again: {again}"
    );
    let purged = poll(
        "the replayed dead letter to be purgeable",
        &host,
        LONG,
        || {
            let purged = cli_json(&host, &["dlq", "purge", queue]);
            (purged["purged"].as_u64() == Some(1)).then_some(purged)
        },
    );
    assert_eq!(purged["purged"], 1);
    let status = host.stop();
    assert!(status.success(), "graceful stop exits 0: {status:?}");
}

#[test]
fn delayed_task_runs_on_time_after_a_host_restart() {
    const COUNTDOWN_MS: i64 = 5000;
    let queue = "amqp_delay";
    let mut host = start(&shared_node().amqp_url(), "");
    deploy(&host, queue, "echo_v1");
    let id = publish(&host, queue, "?countdown=5s", &json!({"x": 1}));
    // The host dies while the message waits in a delay queue; the next one picks it up.
    host.kill9();
    host.restart();
    let r = record_in(&host, &id, "succeeded");
    let published = r["published_ms"].as_i64().expect("published_ms");
    let started = r["started_ms"].as_i64().expect("started_ms");
    let late = started - (published + COUNTDOWN_MS);
    // Never early by more than the design slack (a lost delay hop would be 200 ms early here).
    let early = MAX_EARLY.as_millis() as i64;
    assert!(
        (-early..=1000).contains(&late),
        "due at publish + {COUNTDOWN_MS} ms, ran {late} ms after that: {r}"
    );
    let status = host.stop();
    assert!(status.success(), "graceful stop exits 0: {status:?}");
}

//! Foreign producers: messages published to the work queue by a plain AMQP client (lapin here,
//! what the README's `pika` example does), not through wasmboost. A JSON object runs; a body that
//! is not JSON is dead-lettered with the reason.

use std::time::{Duration, Instant};

use lapin::options::{BasicPublishOptions, ConfirmSelectOptions, QueueDeclareOptions};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties};
use wasmboost_tests::rabbit::shared_node;

use super::support::{LONG, cli_json, deploy, poll, record_in, start};

/// A raw confirm-mode channel, once the host has declared `queue` (it does when it starts
/// consuming it); publishing before that would drop the message as unroutable.
async fn channel_once_declared(url: &str, queue: &str) -> (Connection, Channel) {
    let conn = Connection::connect(url, ConnectionProperties::default())
        .await
        .expect("a raw amqp connection to the harness node");
    let deadline = Instant::now() + LONG;
    loop {
        // A failed passive declare closes its channel: a fresh one per try.
        let channel = conn.create_channel().await.expect("a raw channel");
        let passive = QueueDeclareOptions {
            passive: true,
            ..QueueDeclareOptions::default()
        };
        if channel
            .queue_declare(queue.into(), passive, FieldTable::default())
            .await
            .is_ok()
        {
            channel
                .confirm_select(ConfirmSelectOptions::default())
                .await
                .expect("confirm mode");
            return (conn, channel);
        }
        assert!(
            Instant::now() < deadline,
            "the host never declared queue {queue}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Publish `body` to `queue` through the default exchange, persistent, with `message_id`.
async fn raw_publish(channel: &Channel, queue: &str, message_id: &str, body: &[u8]) {
    let props = BasicProperties::default()
        .with_delivery_mode(2)
        .with_message_id(message_id.into());
    let confirm = channel
        .basic_publish(
            "".into(),
            queue.into(),
            BasicPublishOptions::default(),
            body,
            props,
        )
        .await
        .expect("raw publish");
    let confirmation = confirm.await.expect("publisher confirm");
    assert!(confirmation.is_ack(), "rabbitmq took {message_id}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raw_amqp_publish_runs_and_a_non_json_body_is_dead_lettered() {
    let url = shared_node().amqp_url();
    let queue = "amqp_foreign";
    let host = tokio::task::spawn_blocking({
        let url = url.clone();
        move || {
            let host = start(&url, "");
            deploy(&host, queue, "echo_v1");
            host
        }
    })
    .await
    .expect("host starts");
    let (_conn, channel) = channel_once_declared(&url, queue).await;
    raw_publish(&channel, queue, "raw-json-1", br#"{"x": 7}"#).await;
    raw_publish(&channel, queue, "raw-bad-1", b"this is not json").await;

    let mut host = tokio::task::spawn_blocking(move || {
        let ok = record_in(&host, "raw-json-1", "succeeded");
        assert_eq!(
            ok["result"]["payload"]["x"], 7,
            "the guest got the raw body's x: {ok}"
        );
        let bad = record_in(&host, "raw-bad-1", "dead_lettered");
        let error = bad["error"].as_str().unwrap_or_default();
        assert!(error.contains("malformed"), "the record says why: {bad}");
        let listed = poll("the non-JSON message in the DLQ", &host, LONG, || {
            let list = cli_json(&host, &["dlq", "list", queue]);
            list.as_array()
                .and_then(|l| l.iter().find(|d| d["message"]["id"] == "raw-bad-1"))
                .cloned()
        });
        let reason = listed["reason"].as_str().unwrap_or_default();
        assert!(
            reason.contains("malformed"),
            "the dead letter says why: {listed}"
        );
        host
    })
    .await
    .expect("assertions on the host");
    let status = tokio::task::spawn_blocking(move || host.stop())
        .await
        .expect("stop");
    assert!(status.success(), "graceful stop exits 0: {status:?}");
}

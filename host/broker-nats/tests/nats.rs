//! The NATS broker's own guarantees, beyond the shared conformance suite: a producer's retry
//! of the same task id is stored once (`Nats-Msg-Id`); a foreign producer's bare JSON on
//! `wasmboost.p<N>.<queue>` runs as a first attempt of priority N; a nats-server kill and
//! restart under a running broker loses no confirmed message and the broker carries on.

#[path = "support/server.rs"]
#[allow(
    dead_code,
    reason = "shared by several test binaries, each using part of it"
)]
mod server;

use std::collections::HashSet;
use std::time::Duration;

use server::NatsServer;
use wasmboost_broker::{Broker, NewMessage, Settlement};
use wasmboost_broker_nats::{NatsBroker, NatsConfig, topology};

const LEASE: Duration = Duration::from_secs(30);
const WAIT: Duration = Duration::from_secs(5);

async fn broker(server: &NatsServer) -> NatsBroker {
    NatsBroker::connect(NatsConfig::with_url(server.url()))
        .await
        .expect("connect the broker")
}

#[tokio::test(flavor = "multi_thread")]
async fn a_retried_publish_of_the_same_task_id_is_stored_once() {
    let server = NatsServer::start();
    let broker = broker(&server).await;
    let m = NewMessage::new("same-id", r#"{"x":1}"#);
    broker
        .publish("dup", vec![m.clone()])
        .await
        .expect("publish");
    broker.publish("dup", vec![m]).await.expect("publish again");
    let counts = broker.counts("dup").await.expect("counts");
    assert_eq!(counts.ready, 1, "stored once: {counts:?}");
    let other = NewMessage::new("other-id", r#"{"x":1}"#);
    broker.publish("dup", vec![other]).await.expect("publish");
    assert_eq!(broker.counts("dup").await.expect("counts").ready, 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_foreign_producer_publishes_bare_json_to_the_band_subject() {
    let server = NatsServer::start();
    let broker = broker(&server).await;
    // The queue's streams exist once any host used it.
    broker.counts("add").await.expect("set the queue up");
    let client = async_nats::connect(server.url()).await.expect("connect");
    let js = async_nats::jetstream::new(client);
    for (band, body) in [(0, r#"{"x":1,"y":2}"#), (7, r#"{"x":7,"y":0}"#)] {
        let ack = js
            .publish(topology::band_subject("add", band), body.into())
            .await
            .expect("publish");
        ack.await.expect("jetstream stored it");
    }
    let got = broker.fetch("add", 10, LEASE, WAIT).await.expect("fetch");
    let seen: Vec<_> = got
        .iter()
        .map(|d| {
            let m = d.message();
            (m.priority, m.attempt, m.body.clone())
        })
        .collect();
    assert_eq!(
        seen,
        [
            (7, 1, bytes::Bytes::from_static(br#"{"x":7,"y":0}"#)),
            (0, 1, bytes::Bytes::from_static(br#"{"x":1,"y":2}"#)),
        ],
        "priority from the subject, a first attempt, the body as sent"
    );
    let ids: HashSet<_> = got.iter().map(|d| d.message().id.clone()).collect();
    assert_eq!(ids.len(), 2, "each has an id of its own: {ids:?}");
    for d in got {
        d.settle(Settlement::Ack).await.expect("ack");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_server_restart_loses_no_confirmed_message() {
    let mut server = NatsServer::start();
    // A short AckWait: acks the killed server had not written yet come back soon.
    let config = NatsConfig {
        ack_wait_ms: 1_000,
        ..NatsConfig::with_url(server.url())
    };
    let broker = NatsBroker::connect(config).await.expect("connect");
    let batch: Vec<_> = (0..200)
        .map(|i| NewMessage::new(format!("m{i}"), format!("{{\"i\":{i}}}")))
        .collect();
    broker.publish("rs", batch).await.expect("publish");
    let mut seen = HashSet::new();
    for d in broker.fetch("rs", 50, LEASE, WAIT).await.expect("fetch") {
        seen.insert(d.message().id.clone());
        d.settle(Settlement::Ack)
            .await
            .expect("ack before the restart");
    }
    server.restart();
    // The client reconnects by itself; operations fail as unavailable until it has. At least
    // once: a message acked just before the kill may come again, none may be missing.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let counts = broker.counts("rs").await;
        let empty = counts.is_ok_and(|c| c.ready + c.leased == 0);
        if seen.len() == 200 && empty {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "only {} of 200 after the restart",
            seen.len()
        );
        let got = match broker.fetch("rs", 50, LEASE, Duration::from_secs(1)).await {
            Ok(got) => got,
            Err(e) => {
                assert!(e.is_transient(), "only unavailable while reconnecting: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        for d in got {
            let id = d.message().id.clone();
            if d.settle(Settlement::Ack).await.is_ok() {
                seen.insert(id);
            }
        }
    }
}

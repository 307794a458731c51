//! The streams of a queue vanish under a running broker (a nats-server with memory storage
//! restarted, or an operator deleted them): no call hangs; each either fails as a retryable
//! error or recreates what is missing, and the queue works again without a host restart. And a
//! caller kept but not polled in the middle of a queue's setup holds no other caller.

#[path = "support/server.rs"]
#[allow(
    dead_code,
    reason = "shared by several test binaries, each using part of it"
)]
mod server;

use std::time::Duration;

use server::NatsServer;
use tokio::time::{Instant, timeout};
use wasmboost_broker::{Broker, NewMessage, Settlement};
use wasmboost_broker_nats::{NatsBroker, NatsConfig, topology};

const LEASE: Duration = Duration::from_secs(30);
/// Far longer than any bounded call may take.
const HANG: Duration = Duration::from_secs(20);

#[tokio::test(flavor = "multi_thread")]
async fn vanished_streams_hang_no_call_and_come_back() {
    let server = NatsServer::start();
    let broker = NatsBroker::connect(NatsConfig::with_url(server.url()))
        .await
        .expect("connect the broker");
    let q = "gone";
    broker
        .publish(q, vec![NewMessage::new("before", r#"{"n":1}"#)])
        .await
        .expect("publish");
    let got = broker
        .fetch(q, 1, LEASE, Duration::ZERO)
        .await
        .expect("fetch");
    assert_eq!(got.len(), 1);
    for d in got {
        d.settle(Settlement::Ack).await.expect("ack");
    }
    let js = async_nats::jetstream::new(async_nats::connect(server.url()).await.expect("connect"));
    for stream in [topology::work_stream(q), topology::dead_stream(q)] {
        js.delete_stream(&stream).await.expect("delete a stream");
    }
    // Every call returns within the bound (the fetch first: a pull from a vanished consumer is
    // never answered); the queue works again within a few tries.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let fetched = timeout(HANG, broker.fetch(q, 1, LEASE, Duration::from_millis(200)))
            .await
            .expect("a fetch from a vanished stream must not hang");
        let publish = timeout(
            HANG,
            broker.publish(q, vec![NewMessage::new("after", r#"{"n":2}"#)]),
        )
        .await
        .expect("a publish to a vanished stream must not hang");
        let fetched = match fetched {
            Ok(batch) if batch.is_empty() && publish.is_ok() => {
                timeout(HANG, broker.fetch(q, 1, LEASE, Duration::from_millis(200)))
                    .await
                    .expect("a fetch must not hang")
            }
            other => other,
        };
        if let (Ok(()), Ok(batch)) = (&publish, &fetched)
            && batch.iter().any(|d| d.message().id == "after")
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the queue did not come back: {publish:?} {:?}",
            fetched.map(|b| b.len())
        );
    }
}

/// A future kept but not polled (a task's select loop busy in another arm) while it sits in the
/// middle of a queue's first setup must not hold any other caller of that queue: the setup runs
/// on its own task. With the setup run on the first caller's future (a `OnceCell` initializer),
/// the second publish waits for as long as the first is not polled, here for ever.
#[tokio::test(flavor = "multi_thread")]
async fn a_caller_kept_unpolled_mid_setup_holds_no_other_caller() {
    let server = NatsServer::start();
    let broker = NatsBroker::connect(NatsConfig::with_url(server.url()))
        .await
        .expect("connect the broker");
    let q = "unpolled";
    let first = broker.publish(q, vec![NewMessage::new("first", r#"{"n":1}"#)]);
    tokio::pin!(first);
    // One poll: the queue's setup has started (its first JetStream request is out) and this
    // future is then left alone, as a select loop leaves a branch it is not polling.
    assert!(
        futures::poll!(first.as_mut()).is_pending(),
        "a first publish needs the server's answers"
    );
    timeout(
        HANG,
        broker.publish(q, vec![NewMessage::new("second", r#"{"n":2}"#)]),
    )
    .await
    .expect("a second caller must not wait for the unpolled first one")
    .expect("the second publish");
    let got = timeout(HANG, broker.fetch(q, 10, LEASE, Duration::ZERO))
        .await
        .expect("a fetch must not wait for the unpolled first caller")
        .expect("fetch");
    let ids: Vec<&str> = got.iter().map(|d| d.message().id.as_str()).collect();
    assert_eq!(ids, ["second"], "the second publish was stored");
    // Polled again, the first one completes too.
    timeout(HANG, first)
        .await
        .expect("the first publish completes once polled")
        .expect("the first publish");
}

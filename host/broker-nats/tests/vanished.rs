//! The streams of a queue vanish under a running broker (a nats-server with memory storage
//! restarted, or an operator deleted them): no call hangs; each either fails as a retryable
//! error or recreates what is missing, and the queue works again without a host restart.

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

//! Drain numbers on a local `nats-server -js` (ignored by default; `scripts/bench-nats.sh` runs
//! it in release mode):
//!
//! ```sh
//! cargo test --release -p wasmboost-broker-nats --test bench -- --ignored --nocapture
//! ```
//!
//! In one run on one server: the raw ceiling of async-nats (publish with every ack awaited,
//! then pull-fetch batches and ack each message with a confirmed ack, on a plain work-queue
//! stream), then the broker's drain of N no-op messages (publish + fetch + ack through
//! `Broker`), and the ratio.

#[path = "support/raw.rs"]
mod raw;
#[path = "support/server.rs"]
#[allow(
    dead_code,
    reason = "shared by several test binaries, each using part of it"
)]
mod server;

use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::{self, consumer, stream};
use futures::future::join_all;
use raw::{FETCH_MAX, PUBLISH_BATCH, body, drain_acked, messages, publish_acked};
use server::NatsServer;
use tokio::time::Instant;
use wasmboost_broker::{Broker, NewMessage, Settlement};
use wasmboost_broker_nats::{NatsBroker, NatsConfig};

const DRAINERS: usize = 4;
const LEASE: Duration = Duration::from_secs(60);

/// Publish `n` (acks awaited per batch) and drain them with `DRAINERS` pull loops.
async fn ceiling(url: &str, n: usize) -> Duration {
    let client = async_nats::connect(url).await.expect("connect");
    let js = jetstream::new(client);
    let s = js
        .get_or_create_stream(stream::Config {
            name: "CEILING".to_owned(),
            subjects: vec!["ceiling".to_owned()],
            retention: stream::RetentionPolicy::WorkQueue,
            ..Default::default()
        })
        .await
        .expect("stream");
    let c: consumer::PullConsumer = s
        .get_or_create_consumer(
            "c",
            consumer::pull::Config {
                durable_name: Some("c".to_owned()),
                max_ack_pending: -1,
                ..Default::default()
            },
        )
        .await
        .expect("consumer");
    let started = Instant::now();
    publish_acked(&js, n, |_| "ceiling".to_owned()).await;
    let c = Arc::new(c);
    let drainers = (0..DRAINERS).map(|_| {
        let c = Arc::clone(&c);
        tokio::spawn(async move { drain_acked(&c).await })
    });
    let mut drained = 0;
    for r in join_all(drainers).await {
        let (got, unanswered) = r.expect("drainer");
        assert_eq!(unanswered, 0, "ack");
        drained += got;
    }
    assert_eq!(drained, n, "ceiling drained every message");
    started.elapsed()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark: run with --release --ignored --nocapture"]
async fn bench_drain_vs_ceiling() {
    let n = messages();
    let server = NatsServer::start();
    let rate = |d: Duration| n as f64 / d.as_secs_f64();
    let ceiling_rate = rate(ceiling(&server.url(), n).await);
    println!(
        "nats ceiling: async-nats publish (acks awaited) + fetch {FETCH_MAX} + ack each, {DRAINERS} drainers, {n} messages: {ceiling_rate:.0} msg/s"
    );
    let broker = Arc::new(
        NatsBroker::connect(NatsConfig::with_url(server.url()))
            .await
            .expect("connect"),
    );
    let started = Instant::now();
    for chunk in (0..n).collect::<Vec<_>>().chunks(PUBLISH_BATCH) {
        let batch = chunk
            .iter()
            .map(|&i| NewMessage::new(format!("m{i}"), body(i)))
            .collect();
        broker.publish("bench", batch).await.expect("publish");
    }
    let published = started.elapsed();
    let drainers = (0..DRAINERS).map(|_| {
        let broker = Arc::clone(&broker);
        tokio::spawn(async move {
            let mut got = 0;
            loop {
                let batch = broker
                    .fetch("bench", FETCH_MAX, LEASE, Duration::ZERO)
                    .await
                    .expect("fetch");
                if batch.is_empty() {
                    return got;
                }
                got += batch.len();
                let acks = batch.into_iter().map(|d| d.settle(Settlement::Ack));
                for r in join_all(acks).await {
                    r.expect("ack");
                }
            }
        })
    });
    let drained: usize = join_all(drainers)
        .await
        .into_iter()
        .map(|r| r.expect("drainer"))
        .sum();
    let total = started.elapsed();
    assert_eq!(drained, n, "every message drained once");
    let drain_rate = rate(total);
    println!(
        "nats broker: publish {n} in {:.2}s, publish + drain (fetch {FETCH_MAX}, ack each, {DRAINERS} drainers): {drain_rate:.0} msg/s",
        published.as_secs_f64()
    );
    println!(
        "nats ratio: drain / ceiling = {:.2}",
        drain_rate / ceiling_rate
    );
}

//! Drain numbers on a local `beanstalkd` with a binlog (ignored by default;
//! `scripts/bench-beanstalkd.sh` runs it in release mode):
//!
//! ```sh
//! cargo test --release -p wasmboost-broker-beanstalkd --test bench -- --ignored --nocapture
//! ```
//!
//! In one run on one server: the raw ceiling of this crate's client (put/reserve/delete, as a
//! plain loop and pipelined), then the broker's drain of N no-op messages (publish + fetch +
//! ack through `Broker`), and the ratio of the drain to each ceiling.

#[path = "support/server.rs"]
#[allow(
    dead_code,
    reason = "shared by several test binaries, each using part of it"
)]
mod server;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::future::join_all;
use server::BeanstalkdServer;
use tokio::time::Instant;
use wasmboost_broker::{Broker, NewMessage, Settlement};
use wasmboost_broker_beanstalkd::{BeanstalkBroker, BeanstalkConfig, ceiling};

const PUBLISH_BATCH: usize = 1_000;
const DRAINERS: usize = 4;
const FETCH_MAX: usize = 256;
const LEASE: Duration = Duration::from_secs(60);

fn messages() -> usize {
    std::env::var("WASMBOOST_BENCH_N")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(50_000)
}

fn body(i: usize) -> Bytes {
    Bytes::from(format!("{{\"x\":{i},\"y\":2}}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark: run with --release --ignored --nocapture"]
async fn bench_drain_vs_ceiling() {
    let n = messages();
    let server = BeanstalkdServer::start();
    let addr = server.addr();
    let rate = |d: Duration| n as f64 / d.as_secs_f64();
    let loop_time = ceiling::cycle(&addr, "ceiling-loop", n, 1, body(0))
        .await
        .expect("raw loop");
    let loop_rate = rate(loop_time);
    println!("beanstalkd ceiling: put/reserve/delete loop, {n} jobs: {loop_rate:.0} msg/s");
    let piped_time = ceiling::cycle(&addr, "ceiling-piped", n, FETCH_MAX, body(0))
        .await
        .expect("raw pipelined");
    let piped_rate = rate(piped_time);
    println!(
        "beanstalkd ceiling: put/reserve/delete pipelined {FETCH_MAX} deep, {n} jobs: {piped_rate:.0} msg/s"
    );

    let broker = Arc::new(
        BeanstalkBroker::connect(BeanstalkConfig::with_addr(&addr))
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
        "beanstalkd broker: publish {n} in {:.2}s, publish + drain (fetch {FETCH_MAX}, ack each, {DRAINERS} drainers): {drain_rate:.0} msg/s",
        published.as_secs_f64()
    );
    println!(
        "beanstalkd ratio: drain / loop ceiling = {:.2}, drain / pipelined ceiling = {:.2}",
        drain_rate / loop_rate,
        drain_rate / piped_rate
    );
}

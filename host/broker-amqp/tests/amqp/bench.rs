//! Throughput through the broker alone (ignored; run by `scripts/bench-amqp.sh`): publish with
//! confirms in batches, then drain with concurrent fetchers acking each message.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::time::Instant;
use wasmboost_broker::{Broker, NewMessage, Settlement};

use crate::rabbit_node::shared_node;
use crate::support::unique;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "benchmark: scripts/bench-amqp.sh"]
async fn bench_publish_and_drain() {
    let total = env_usize("BENCH_MESSAGES", 50_000);
    let batch = env_usize("BENCH_BATCH", 500);
    let fetchers = env_usize("BENCH_FETCHERS", 2);
    let url = std::env::var("BENCH_AMQP_URL").unwrap_or_else(|_| shared_node().amqp_url());
    let broker: Arc<dyn Broker> = wasmboost_broker_amqp::connect(&url).await.expect("open");
    let q = unique("bench");
    let body = br#"{"args":[1,2],"kwargs":{"x":"yyyyyyyyyyyyyyyy"}}"#;
    let started = Instant::now();
    for chunk in 0..total.div_ceil(batch) {
        let n = batch.min(total - chunk * batch);
        let msgs = (0..n)
            .map(|i| NewMessage::new(format!("m{chunk}-{i}"), &body[..]))
            .collect();
        broker.publish(&q, msgs).await.expect("publish");
    }
    let publish = started.elapsed();
    let started = Instant::now();
    let deadline = started + Duration::from_secs(300);
    let done = Arc::new(AtomicUsize::new(0));
    let tasks: Vec<_> = (0..fetchers)
        .map(|_| {
            let (broker, q, done) = (Arc::clone(&broker), q.clone(), Arc::clone(&done));
            tokio::spawn(async move {
                let mut n = 0usize;
                while done.load(Ordering::Acquire) < total && Instant::now() < deadline {
                    let got = broker
                        .fetch(&q, 256, Duration::from_secs(60), Duration::from_millis(100))
                        .await
                        .expect("fetch");
                    n += got.len();
                    done.fetch_add(got.len(), Ordering::AcqRel);
                    // The worker settles its tasks concurrently, as they finish.
                    let acks = got.into_iter().map(|d| d.settle(Settlement::Ack));
                    for ack in futures::future::join_all(acks).await {
                        ack.expect("ack");
                    }
                }
                n
            })
        })
        .collect();
    let mut drained = 0;
    for t in tasks {
        drained += t.await.expect("fetcher");
    }
    let drain = started.elapsed();
    assert_eq!(drained, total, "every published message drained");
    let rate = |d: Duration| total as f64 / d.as_secs_f64();
    println!(
        "amqp bench: {total} messages, batch {batch}: publish+confirm {:.0}/s ({publish:?}), \
         drain+ack (concurrent acks) with {fetchers} fetchers {:.0}/s ({drain:?})",
        rate(publish),
        rate(drain)
    );
}

//! The raw async-nats loops both benchmarks measure against (`bench.rs`: the ceiling a broker
//! drain is compared with; `layout.rs`: the stream layouts): publish with every JetStream ack
//! awaited per batch, and a drain loop that fetches a batch and confirm-acks each message, as
//! the broker publishes and settles.

use async_nats::jetstream::{self, consumer};
use bytes::Bytes;
use futures::StreamExt;
use futures::future::join_all;

/// Messages sent before their acks are awaited.
pub const PUBLISH_BATCH: usize = 1_000;
/// Messages per fetch, as a host's fetch loop asks for.
pub const FETCH_MAX: usize = 256;

/// Messages per run: `WASMBOOST_BENCH_N`, else 50 000.
pub fn messages() -> usize {
    std::env::var("WASMBOOST_BENCH_N")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(50_000)
}

/// The no-op task body of message `i`.
pub fn body(i: usize) -> Bytes {
    Bytes::from(format!("{{\"x\":{i},\"y\":2}}"))
}

/// Publish messages `0..n`, message `i` to `subject(i)`, awaiting the acks of each batch.
pub async fn publish_acked(js: &jetstream::Context, n: usize, subject: impl Fn(usize) -> String) {
    let mut sent = 0;
    while sent < n {
        let end = (sent + PUBLISH_BATCH).min(n);
        let mut acks = Vec::with_capacity(end - sent);
        for i in sent..end {
            acks.push(js.publish(subject(i), body(i)).await.expect("publish"));
        }
        for ack in acks {
            ack.await.expect("publish ack");
        }
        sent = end;
    }
}

/// Drain a consumer: fetch up to `FETCH_MAX`, confirm-ack each concurrently, until empty.
/// Returns how many were fetched and how many confirmed acks got no answer in time (the
/// client's request timeout; the broker would report such a settle as failed).
pub async fn drain_acked(c: &consumer::PullConsumer) -> (usize, usize) {
    let (mut got, mut unanswered) = (0, 0);
    loop {
        let mut batch = c
            .fetch()
            .max_messages(FETCH_MAX)
            .messages()
            .await
            .expect("fetch");
        let mut msgs = Vec::new();
        while let Some(m) = batch.next().await {
            msgs.push(m.expect("message"));
        }
        if msgs.is_empty() {
            return (got, unanswered);
        }
        got += msgs.len();
        for r in join_all(msgs.iter().map(|m| m.double_ack())).await {
            if r.is_err() {
                unanswered += 1;
            }
        }
    }
}

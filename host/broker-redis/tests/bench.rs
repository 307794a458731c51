//! Raw broker numbers on a local `redis-server` (ignored by default; `scripts/bench-redis.sh`
//! runs it in release mode next to `redis-benchmark`'s ceiling):
//!
//! ```sh
//! cargo test --release -p wasmboost-broker-redis --test bench -- --ignored --nocapture
//! ```
//!
//! With `WASMBOOST_BENCH_REDIS_URL` set it uses that server, else it starts its own.

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
use server::RedisServer;
use tokio::time::Instant;
use wasmboost_broker::{Broker, NewMessage, Settlement, StateStore};
use wasmboost_broker_redis::{RedisBroker, RedisConfig, RedisStore};

const MESSAGES: usize = 100_000;
const PUBLISH_BATCH: usize = 1_000;
const PUBLISHERS: usize = 4;
const DRAINERS: usize = 4;
const FETCH_MAX: usize = 256;
const RPC_ROUNDS: usize = 2_000;
const LEASE: Duration = Duration::from_secs(60);

fn body(i: usize) -> Bytes {
    Bytes::from(format!("{{\"x\":{i},\"y\":2}}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark: run with --release --ignored --nocapture"]
async fn bench_raw_broker() {
    let own = std::env::var("WASMBOOST_BENCH_REDIS_URL")
        .is_err()
        .then(RedisServer::start);
    let url = std::env::var("WASMBOOST_BENCH_REDIS_URL")
        .unwrap_or_else(|_| own.as_ref().map(RedisServer::url).unwrap_or_default());
    let config = RedisConfig::with_url(&url);
    let broker = Arc::new(RedisBroker::connect(config.clone()).await.expect("connect"));
    let store = Arc::new(RedisStore::connect(config).await.expect("connect"));
    let queue = format!("bench-{}", uuid::Uuid::now_v7().simple());
    let cpu = Cpu::start(&url).await;
    let published = publish(&broker, &queue).await;
    println!("redis broker: bulk publish {MESSAGES} messages: {published:.0} msg/s");
    cpu.report("publish", &url).await;
    let cpu = Cpu::start(&url).await;
    let drained = drain(&broker, &queue).await;
    println!("redis broker: drain {MESSAGES} (fetch {FETCH_MAX}, ack each): {drained:.0} msg/s");
    cpu.report("drain", &url).await;
    let (p50, p99) = rpc(&broker, &store, &queue).await;
    println!(
        "redis broker: rpc round trip (publish, fetch, ack, record, wake) p50 {p50:?} p99 {p99:?}"
    );
}

/// CPU time spent by this process and by the server, per message: on a loaded machine the rate
/// says more about the neighbours than about us, the CPU cost does not.
struct Cpu {
    client: f64,
    server: f64,
}

impl Cpu {
    async fn start(url: &str) -> Cpu {
        Cpu {
            client: client_cpu(),
            server: server_cpu(url).await,
        }
    }

    async fn report(self, what: &str, url: &str) {
        let per = |s: f64| s * 1e6 / MESSAGES as f64;
        let (client, server) = (
            client_cpu() - self.client,
            server_cpu(url).await - self.server,
        );
        println!(
            "redis broker: {what} cpu per message: client {:.1} µs, redis-server {:.1} µs",
            per(client),
            per(server)
        );
    }
}

/// user + system seconds of this process, from /proc/self/stat (clock ticks of 1/100 s).
fn client_cpu() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after_name = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (ticks(11) + ticks(12)) / 100.0
}

/// user + system seconds of the server, from INFO cpu.
async fn server_cpu(url: &str) -> f64 {
    let client = redis::Client::open(url).expect("a valid url");
    let mut con = client
        .get_multiplexed_async_connection()
        .await
        .expect("connect");
    let info: String = redis::cmd("INFO")
        .arg("cpu")
        .query_async(&mut con)
        .await
        .expect("info");
    info.lines()
        .filter(|l| l.starts_with("used_cpu_user:") || l.starts_with("used_cpu_sys:"))
        .filter_map(|l| {
            l.split_once(':')
                .and_then(|(_, v)| v.trim().parse::<f64>().ok())
        })
        .sum()
}

async fn publish(broker: &Arc<RedisBroker>, queue: &str) -> f64 {
    let started = Instant::now();
    let tasks = (0..PUBLISHERS).map(|p| {
        let (broker, queue) = (Arc::clone(broker), queue.to_owned());
        tokio::spawn(async move {
            for batch in (p * PUBLISH_BATCH..MESSAGES).step_by(PUBLISH_BATCH * PUBLISHERS) {
                let msgs = (batch..batch + PUBLISH_BATCH)
                    .map(|i| NewMessage::new(format!("m{i}"), body(i)))
                    .collect();
                broker.publish(&queue, msgs).await.expect("publish");
            }
        })
    });
    for t in join_all(tasks).await {
        t.expect("publisher panicked");
    }
    MESSAGES as f64 / started.elapsed().as_secs_f64()
}

async fn drain(broker: &Arc<RedisBroker>, queue: &str) -> f64 {
    let started = Instant::now();
    let tasks = (0..DRAINERS).map(|_| {
        let (broker, queue) = (Arc::clone(broker), queue.to_owned());
        tokio::spawn(async move {
            let mut n = 0;
            loop {
                let got = broker.fetch(&queue, FETCH_MAX, LEASE, Duration::ZERO).await;
                let got = got.expect("fetch");
                if got.is_empty() {
                    return n;
                }
                n += got.len();
                let acks = got.into_iter().map(|d| d.settle(Settlement::Ack));
                for r in join_all(acks).await {
                    r.expect("ack");
                }
            }
        })
    });
    let total: usize = join_all(tasks)
        .await
        .into_iter()
        .map(|n| n.expect("drainer"))
        .sum();
    assert_eq!(total, MESSAGES, "every message drained once");
    MESSAGES as f64 / started.elapsed().as_secs_f64()
}

/// One "task" end to end through Redis: a publisher publishes and waits for the terminal
/// record; a consumer blocked in fetch gets it, acks it and stores the record.
async fn rpc(
    broker: &Arc<RedisBroker>,
    store: &Arc<RedisStore>,
    queue: &str,
) -> (Duration, Duration) {
    let queue = format!("{queue}-rpc");
    let consumer = {
        let (broker, store, queue) = (Arc::clone(broker), Arc::clone(store), queue.clone());
        tokio::spawn(async move {
            for _ in 0..RPC_ROUNDS {
                let mut got = Vec::new();
                while got.is_empty() {
                    got = broker
                        .fetch(&queue, 1, LEASE, Duration::from_secs(5))
                        .await
                        .expect("fetch");
                }
                let d = got.remove(0);
                let id = d.message().id.clone();
                d.settle(Settlement::Ack).await.expect("ack");
                store
                    .put_record(&id, Bytes::from_static(b"{\"ok\":3}"), true, LEASE)
                    .await
                    .expect("record");
            }
        })
    };
    let mut times = Vec::with_capacity(RPC_ROUNDS);
    for i in 0..RPC_ROUNDS {
        let id = format!("rpc{i}");
        let started = Instant::now();
        broker
            .publish(&queue, vec![NewMessage::new(&id, body(i))])
            .await
            .expect("publish");
        let got = store
            .wait_terminal(&id, Duration::from_secs(10))
            .await
            .expect("wait");
        assert!(got.is_some(), "task {id} finished");
        times.push(started.elapsed());
    }
    consumer.await.expect("consumer panicked");
    times.sort();
    (times[times.len() / 2], times[times.len() * 99 / 100])
}

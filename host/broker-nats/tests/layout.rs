//! Which stream layout holds a host's queues better, measured (ignored by default;
//! `scripts/bench-nats.sh` runs it in release mode):
//!
//! ```sh
//! cargo test --release -p wasmboost-broker-nats --test layout -- --ignored --nocapture
//! ```
//!
//! - **A**: one work-queue stream per queue (subject `a.<k>`), one durable pull consumer each;
//! - **B**: one work-queue stream for all queues (subjects `b.>`), one durable pull consumer per
//!   queue filtered to its subject `b.<k>`.
//!
//! For K = 1, 10 and 100 queues, two runs of each layout alternating (A B A B), each on a fresh
//! `nats-server -js -sd DIR`: the time to create the streams and consumers, the publish rate
//! of N messages spread over the K queues (sent pipelined, every JetStream ack awaited, as the
//! broker publishes), the drain rate (one loop per queue, as a host's fetch loops: fetch up to
//! 256 from the queue's durable consumer, then a confirmed ack of each, concurrently, as the
//! broker settles), and the server's resident memory (after setup, and its peak).

#[path = "support/raw.rs"]
#[allow(dead_code, reason = "shared with bench.rs, which uses all of it")]
mod raw;
#[path = "support/server.rs"]
#[allow(
    dead_code,
    reason = "shared by several test binaries, each using part of it"
)]
mod server;

use std::time::Duration;

use async_nats::jetstream::{self, consumer, stream};
use futures::future::join_all;
use raw::{drain_acked, messages, publish_acked};
use server::NatsServer;
use tokio::time::Instant;

const QUEUE_COUNTS: [usize; 3] = [1, 10, 100];
const RUNS: usize = 2;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Layout {
    /// A stream per queue.
    PerQueue,
    /// One stream, a subject and a filtered consumer per queue.
    Shared,
}

impl Layout {
    fn label(self) -> &'static str {
        match self {
            Layout::PerQueue => "A stream/queue",
            Layout::Shared => "B one stream",
        }
    }

    fn subject(self, queue: usize) -> String {
        match self {
            Layout::PerQueue => format!("a.{queue}"),
            Layout::Shared => format!("b.{queue}"),
        }
    }
}

/// One run's numbers.
struct Run {
    setup: Duration,
    publish: Duration,
    drain: Duration,
    rss_setup_kib: u64,
    rss_peak_kib: u64,
    /// Confirmed acks without an answer in time.
    unanswered: usize,
    /// Messages left in the streams after the drain.
    left: u64,
}

/// The pid of the `nats-server` this process started listening on `port` (a child of ours).
fn server_pid(port: u16) -> u32 {
    let me = std::process::id().to_string();
    let port = port.to_string();
    for entry in std::fs::read_dir("/proc").expect("/proc").flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let dir = entry.path();
        let status = std::fs::read_to_string(dir.join("status")).unwrap_or_default();
        let ppid = field(&status, "PPid:");
        let cmdline = std::fs::read(dir.join("cmdline")).unwrap_or_default();
        let args: Vec<&[u8]> = cmdline.split(|b| *b == 0).collect();
        let ours = ppid.as_deref() == Some(me.as_str())
            && args.first().is_some_and(|a| a.ends_with(b"nats-server"))
            && args
                .windows(2)
                .any(|w| w[0] == b"-p" && w[1] == port.as_bytes());
        if ours {
            return pid;
        }
    }
    panic!("no nats-server child of this process on port {port}");
}

fn field(status: &str, name: &str) -> Option<String> {
    status
        .lines()
        .find_map(|l| l.strip_prefix(name))
        .map(|v| v.trim().to_owned())
}

/// `VmRSS` and `VmHWM` (peak) of `pid`, in KiB.
fn rss_kib(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
    let kib = |name| {
        field(&status, name)
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .expect("a size in kB")
    };
    (kib("VmRSS:"), kib("VmHWM:"))
}

fn stream_config(name: String, subjects: Vec<String>) -> stream::Config {
    stream::Config {
        name,
        subjects,
        retention: stream::RetentionPolicy::WorkQueue,
        storage: stream::StorageType::File,
        ..Default::default()
    }
}

fn consumer_config(filter: String) -> consumer::pull::Config {
    consumer::pull::Config {
        durable_name: Some("c".to_owned()),
        filter_subject: filter,
        ack_policy: consumer::AckPolicy::Explicit,
        ack_wait: Duration::from_secs(60),
        max_ack_pending: -1,
        ..Default::default()
    }
}

/// The streams and one durable consumer per queue, in `layout`.
async fn set_up(
    js: &jetstream::Context,
    layout: Layout,
    queues: usize,
) -> Vec<consumer::PullConsumer> {
    let mut consumers = Vec::with_capacity(queues);
    match layout {
        Layout::PerQueue => {
            for k in 0..queues {
                let config = stream_config(format!("A_{k}"), vec![layout.subject(k)]);
                let s = js.create_stream(config).await.expect("stream");
                let c = consumer_config(layout.subject(k));
                consumers.push(s.create_consumer(c).await.expect("consumer"));
            }
        }
        Layout::Shared => {
            let config = stream_config("B".to_owned(), vec!["b.>".to_owned()]);
            let s = js.create_stream(config).await.expect("stream");
            for k in 0..queues {
                let mut c = consumer_config(layout.subject(k));
                c.durable_name = Some(format!("c{k}"));
                consumers.push(s.create_consumer(c).await.expect("consumer"));
            }
        }
    }
    consumers
}

/// Publish `n` messages round-robin over the queues, in pipelined batches with every ack
/// awaited.
async fn left(js: &jetstream::Context, layout: Layout, queues: usize) -> u64 {
    let names: Vec<String> = match layout {
        Layout::PerQueue => (0..queues).map(|k| format!("A_{k}")).collect(),
        Layout::Shared => vec!["B".to_owned()],
    };
    let mut left = 0;
    for name in names {
        let mut s = js.get_stream(&name).await.expect("stream");
        left += s.info().await.expect("stream info").state.messages;
    }
    left
}

async fn run(layout: Layout, queues: usize, n: usize) -> Run {
    let server = NatsServer::start();
    let pid = server_pid(server.port());
    let client = async_nats::connect(server.url()).await.expect("connect");
    let js = jetstream::new(client);

    let started = Instant::now();
    let consumers = set_up(&js, layout, queues).await;
    let setup = started.elapsed();
    let (rss_setup_kib, _) = rss_kib(pid);

    let started = Instant::now();
    let subjects: Vec<String> = (0..queues).map(|k| layout.subject(k)).collect();
    publish_acked(&js, n, |i| subjects[i % queues].clone()).await;
    let publish = started.elapsed();

    let started = Instant::now();
    let loops = consumers
        .into_iter()
        .map(|c| tokio::spawn(async move { drain_acked(&c).await }));
    let (mut drained, mut unanswered) = (0, 0);
    for r in join_all(loops).await {
        let (got, missed) = r.expect("drain loop");
        drained += got;
        unanswered += missed;
    }
    let drain = started.elapsed();
    assert_eq!(
        drained, n,
        "{layout:?} K={queues}: every message fetched once"
    );
    let (_, rss_peak_kib) = rss_kib(pid);
    Run {
        setup,
        publish,
        drain,
        rss_setup_kib,
        rss_peak_kib,
        unanswered,
        left: left(&js, layout, queues).await,
    }
}

/// The load average (the machine is shared: read the numbers against it).
fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark: run with --release --ignored --nocapture"]
async fn bench_stream_layouts() {
    let n = messages();
    let rate = |d: Duration| n as f64 / d.as_secs_f64();
    println!(
        "nats layout | K | run | setup ms | publish msg/s | drain msg/s | RSS after setup MiB | peak RSS MiB | acks unanswered | left  ({n} messages, load {})",
        loadavg()
    );
    for queues in QUEUE_COUNTS {
        for round in 1..=RUNS {
            for layout in [Layout::PerQueue, Layout::Shared] {
                let r = run(layout, queues, n).await;
                println!(
                    "nats layout | {} | {queues} | {round} | {:.0} | {:.0} | {:.0} | {:.1} | {:.1} | {} | {}",
                    layout.label(),
                    r.setup.as_secs_f64() * 1000.0,
                    rate(r.publish),
                    rate(r.drain),
                    r.rss_setup_kib as f64 / 1024.0,
                    r.rss_peak_kib as f64 / 1024.0,
                    r.unanswered,
                    r.left,
                );
            }
        }
    }
}

//! Storage engine and broker throughput, for choosing the embedded broker's engine.
//!
//! `cargo bench -p wasmboost-broker --bench engines` prints, for 100 000 messages of ~100 bytes:
//! - raw engines, each batch of 1 000 in one transaction + one fsync: redb vs a hand-written
//!   append-only log (the log's number is a best case: no compaction, no index, no recovery);
//! - the embedded broker (redb, group commit) and the memory broker: bulk publish in batches of
//!   1 000, then fetch (batches of up to 256) + ack every message, flushed at the end.

use std::fs::OpenOptions;
use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, Instant};

use redb::{Database, TableDefinition};
use wasmboost_broker::{
    Broker, EmbeddedOptions, MemoryBroker, MemoryStore, NewMessage, Settlement, StateStore,
    open_embedded, open_embedded_with,
};

const N: usize = 100_000;
const BATCH: usize = 1_000;
const TABLE: TableDefinition<u64, &[u8]> = TableDefinition::new("bench");

fn body(i: usize) -> Vec<u8> {
    format!("{{\"x\":{i},\"y\":2,\"extra\":{{\"task_id\":\"0190b6f0-0000-7000-8000-{i:012}\"}}}}")
        .into_bytes()
}

fn rate(what: &str, n: usize, took: Duration) {
    println!(
        "{what:<48} {:>10.0} /s  ({n} in {took:.2?})",
        n as f64 / took.as_secs_f64()
    );
}

fn raw_redb(dir: &std::path::Path) -> Result<(), redb::Error> {
    let db = Database::create(dir.join("raw.redb"))?;
    let start = Instant::now();
    for batch in 0..N / BATCH {
        let txn = db.begin_write()?;
        {
            let mut t = txn.open_table(TABLE)?;
            for i in batch * BATCH..(batch + 1) * BATCH {
                t.insert(i as u64, body(i).as_slice())?;
            }
        }
        txn.commit()?;
    }
    rate("raw redb: insert, 1000/txn", N, start.elapsed());
    let start = Instant::now();
    for batch in 0..N / BATCH {
        let txn = db.begin_write()?;
        {
            let mut t = txn.open_table(TABLE)?;
            for i in batch * BATCH..(batch + 1) * BATCH {
                t.remove(i as u64)?;
            }
        }
        txn.commit()?;
    }
    rate("raw redb: delete, 1000/txn", N, start.elapsed());
    Ok(())
}

fn raw_log(dir: &std::path::Path) -> std::io::Result<()> {
    let mut file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("raw.log"))?;
    let mut run = |what: &str, delete: bool| -> std::io::Result<()> {
        let start = Instant::now();
        let mut buf = Vec::with_capacity(BATCH * 128);
        for batch in 0..N / BATCH {
            buf.clear();
            for i in batch * BATCH..(batch + 1) * BATCH {
                let value = if delete { Vec::new() } else { body(i) };
                buf.extend_from_slice(&(value.len() as u32 + 9).to_le_bytes());
                buf.push(u8::from(delete));
                buf.extend_from_slice(&(i as u64).to_le_bytes());
                buf.extend_from_slice(&value);
            }
            file.write_all(&buf)?;
            file.sync_data()?;
        }
        rate(what, N, start.elapsed());
        Ok(())
    };
    run("append-only log: put records, 1000/fsync", false)?;
    run("append-only log: delete records, 1000/fsync", true)
}

/// Publish N messages from `publishers` concurrent tasks, batches of 1000.
async fn publish(broker: &Arc<dyn Broker>, publishers: usize) {
    let tasks: Vec<_> = (0..publishers)
        .map(|p| {
            let broker = Arc::clone(broker);
            tokio::spawn(async move {
                for batch in (p..N / BATCH).step_by(publishers) {
                    let msgs = (batch * BATCH..(batch + 1) * BATCH)
                        .map(|i| NewMessage::new(format!("t{i}"), body(i)))
                        .collect();
                    broker.publish("bench", msgs).await.expect("publish");
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.expect("publisher");
    }
}

/// Fetch + ack N messages with `consumers` concurrent tasks.
async fn drain(broker: &Arc<dyn Broker>, consumers: usize) {
    let done = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let tasks: Vec<_> = (0..consumers)
        .map(|_| {
            let (broker, done) = (Arc::clone(broker), Arc::clone(&done));
            tokio::spawn(async move {
                while done.load(std::sync::atomic::Ordering::Relaxed) < N {
                    let got = broker
                        .fetch(
                            "bench",
                            256,
                            Duration::from_secs(60),
                            Duration::from_millis(50),
                        )
                        .await
                        .expect("fetch");
                    done.fetch_add(got.len(), std::sync::atomic::Ordering::Relaxed);
                    for d in got {
                        d.settle(Settlement::Ack).await.expect("ack");
                    }
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.expect("consumer");
    }
}

/// Latency of single-message publishes, one after another (each waits for its commit).
async fn publish_latency(name: &str, broker: &Arc<dyn Broker>) {
    let mut took: Vec<Duration> = Vec::with_capacity(500);
    for i in 0..500 {
        let start = Instant::now();
        let msg = NewMessage::new(format!("l{i}"), body(i));
        broker.publish("latency", vec![msg]).await.expect("publish");
        took.push(start.elapsed());
    }
    took.sort();
    let (p50, p99) = (took[took.len() / 2], took[took.len() * 99 / 100]);
    println!("{name}: single publish latency p50 {p50:.2?} p99 {p99:.2?}");
}

async fn broker_run(name: &str, broker: Arc<dyn Broker>) {
    publish_latency(name, &broker).await;
    for (publishers, consumers) in [(1, 1), (4, 4)] {
        let start = Instant::now();
        publish(&broker, publishers).await;
        let what = format!("{name}: publish, {publishers} publisher(s) x batches of 1000");
        rate(&what, N, start.elapsed());
        let start = Instant::now();
        drain(&broker, consumers).await;
        // A barrier: every ack before it is committed when it returns.
        broker.publish("flush", Vec::new()).await.expect("flush");
        rate(
            &format!("{name}: fetch + ack, {consumers} consumer(s), flushed"),
            N,
            start.elapsed(),
        );
    }
    let counts = broker.counts("bench").await.expect("counts");
    assert_eq!(counts.ready + counts.leased, 0, "{counts:?}");
}

/// What the worker writes per task: a running and a terminal record (lazy), flushed at the end.
async fn records(name: &str, store: Arc<dyn StateStore>) {
    let start = Instant::now();
    let ttl = Duration::from_secs(7 * 24 * 3600);
    for i in 0..N {
        let id = format!("0190b6f0-0000-7000-8000-{i:012}");
        let record = bytes::Bytes::from(body(i));
        store
            .put_record(&id, record.clone(), false, ttl)
            .await
            .expect("put");
        store.put_record(&id, record, true, ttl).await.expect("put");
    }
    // A durable write: everything before it is committed when it returns.
    store.set_paused("flush", false).await.expect("flush");
    rate(
        &format!("{name}: 2 put_record per task, flushed"),
        N,
        start.elapsed(),
    );
}

fn main() {
    let dir = tempfile::tempdir().expect("temp dir");
    raw_redb(dir.path()).expect("raw redb");
    raw_log(dir.path()).expect("raw log");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    rt.block_on(async {
        let (broker, store) = open_embedded(dir.path().join("embedded")).expect("open embedded");
        broker_run("embedded (redb, group commit)", broker).await;
        records("embedded store", store).await;
        let options = EmbeddedOptions {
            fsync_interval: Some(Duration::from_millis(20)),
        };
        let (lazy, _store) =
            open_embedded_with(dir.path().join("lazy"), options).expect("open embedded");
        publish_latency(
            "embedded, fsync every 20 ms (opt-in)",
            &(lazy as Arc<dyn Broker>),
        )
        .await;
        broker_run("memory", Arc::new(MemoryBroker::new())).await;
        records("memory store", Arc::new(MemoryStore::new())).await;
    });
}

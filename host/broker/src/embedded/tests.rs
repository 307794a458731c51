//! The conformance suites on the embedded broker and store, plus what only a durable broker
//! must do: survive being dropped without settling, and keep a second opener out.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;

use super::{EmbeddedOptions, open, open_with};
use crate::broker::Broker;
use crate::message::{NewMessage, Settlement, ms_after};
use crate::state::StateStore;

fn temp() -> tempfile::TempDir {
    tempfile::tempdir().expect("a temp dir can be created")
}

mod conformance {
    async fn broker() -> (
        std::sync::Arc<super::super::EmbeddedBroker>,
        tempfile::TempDir,
    ) {
        let dir = super::temp();
        let (broker, _store) = super::open(dir.path()).expect("open a fresh data dir");
        (broker, dir)
    }

    async fn store() -> (
        std::sync::Arc<super::super::EmbeddedStore>,
        tempfile::TempDir,
    ) {
        let dir = super::temp();
        let (_broker, store) = super::open(dir.path()).expect("open a fresh data dir");
        (store, dir)
    }

    crate::broker_conformance!(broker());
    crate::state_conformance!(store());
}

fn msgs(prefix: &str, n: usize) -> Vec<NewMessage> {
    (0..n)
        .map(|i| NewMessage::new(format!("{prefix}{i}"), "{}"))
        .collect()
}

#[tokio::test]
async fn unsettled_messages_survive_reopen_and_acked_ones_do_not() {
    let dir = temp();
    {
        let (broker, _store) = open(dir.path()).expect("open");
        broker.publish("q", msgs("m", 10)).await.expect("publish");
        let later = NewMessage {
            not_before_ms: Some(ms_after(Duration::from_secs(3600))),
            ..NewMessage::new("later", "{}")
        };
        broker
            .publish("q", vec![later])
            .await
            .expect("publish delayed");
        let leased = broker
            .fetch("q", 6, Duration::from_secs(600), Duration::ZERO)
            .await
            .expect("fetch");
        assert_eq!(leased.len(), 6);
        let mut leased = leased.into_iter();
        for d in leased.by_ref().take(3) {
            d.settle(Settlement::Ack).await.expect("ack");
        }
        let d = leased.next().expect("six were leased");
        d.settle(Settlement::DeadLetter {
            reason: "bad".into(),
        })
        .await
        .expect("dead-letter");
        // The other two stay leased: the process "dies" with them in flight. Acks are lazy, so
        // nothing flushes them here on purpose except the drop (which commits what is queued).
        drop(leased);
    }
    let (broker, _store) = open(dir.path()).expect("reopen");
    let counts = broker.counts("q").await.expect("counts");
    assert_eq!(
        (counts.ready, counts.delayed, counts.dead, counts.leased),
        (6, 1, 1, 0),
        "{counts:?}"
    );
    let all = broker
        .fetch("q", 100, Duration::from_secs(60), Duration::ZERO)
        .await
        .expect("fetch");
    let ids: Vec<_> = all.iter().map(|d| d.message().id.clone()).collect();
    assert_eq!(ids, ["m4", "m5", "m6", "m7", "m8", "m9"], "FIFO order kept");
}

#[tokio::test]
async fn retries_and_delays_survive_reopen_and_come_due_on_time() {
    let dir = temp();
    let delay = Duration::from_millis(1500);
    let due_at;
    {
        let (broker, _store) = open(dir.path()).expect("open");
        broker.publish("q", msgs("r", 1)).await.expect("publish");
        let mut got = broker
            .fetch("q", 1, Duration::from_secs(60), Duration::ZERO)
            .await
            .expect("fetch");
        let d = got.pop().expect("one was published");
        due_at = tokio::time::Instant::now() + delay;
        d.settle(Settlement::Retry { after: delay })
            .await
            .expect("retry is durable on return");
    }
    let (broker, _store) = open(dir.path()).expect("reopen");
    assert_eq!(
        broker.counts("q").await.expect("counts").delayed,
        1,
        "still delayed after reopen"
    );
    let got = broker
        .fetch("q", 1, Duration::from_secs(60), Duration::from_secs(10))
        .await
        .expect("fetch");
    let now = tokio::time::Instant::now();
    assert!(
        now + crate::conformance::MAX_EARLY >= due_at,
        "delivered {:?} early",
        due_at - now
    );
    assert!(
        now < due_at + Duration::from_secs(3),
        "delivered {:?} late",
        now - due_at
    );
    assert_eq!(
        got.first().map(|d| d.message().attempt),
        Some(2),
        "the retry's attempt is kept"
    );
}

/// Stores `n` terminal records `<prefix><i>` that expire after `ttl`, one write each.
async fn put_expiring(store: &super::EmbeddedStore, prefix: &str, n: usize, ttl: Duration) {
    for i in 0..n {
        store
            .put_record(&format!("{prefix}{i}"), Bytes::from_static(b"r"), true, ttl)
            .await
            .expect("put");
    }
}

/// The rows committed in `table`.
fn rows(store: &super::EmbeddedStore, table: super::tables::Kv) -> u64 {
    use redb::{ReadableDatabase, ReadableTableMetadata};
    let txn = store.shared.db.begin_read().expect("read txn");
    txn.open_table(table.table())
        .expect("table")
        .len()
        .expect("len")
}

/// A sweep stops at its limit and says so, so the writer sweeps again in a second rather than in
/// 30 s: records expiring faster than the limit per interval would otherwise pile up on disk.
#[tokio::test]
async fn a_sweep_at_its_limit_asks_for_another() {
    let dir = temp();
    let (_broker, store) = open(dir.path()).expect("open");
    let n = super::writer::SWEEP_LIMIT + 10;
    put_expiring(&store, "t", n, Duration::from_millis(1)).await;
    store.set_paused("q", false).await.expect("barrier");
    tokio::time::sleep(Duration::from_millis(5)).await;
    // The writer may have swept some already; sweep until it says nothing more is due.
    let mut sweeps = Vec::new();
    loop {
        let more = super::writer::sweep(&store.shared.db).expect("sweep");
        sweeps.push(more);
        if !more {
            break;
        }
    }
    let left = rows(&store, super::tables::Kv::Records);
    assert_eq!(left, 0, "every expired record removed after {sweeps:?}");
    assert!(sweeps.len() <= 3, "{sweeps:?}");
}

/// A busy writer is never idle, so the idle sweep alone never runs: each commit removes expired
/// rows itself, up to twice what it wrote (a 3 M-task soak at 10 000 tasks/s grew the data
/// directory without bound before).
#[tokio::test]
async fn commits_remove_expired_rows_without_an_idle_sweep() {
    let dir = temp();
    let (_broker, store) = open(dir.path()).expect("open");
    put_expiring(&store, "old", 1_000, Duration::from_millis(1)).await;
    store.set_paused("q", false).await.expect("barrier");
    tokio::time::sleep(Duration::from_millis(5)).await;
    // One durable write per commit, each keeping its record for an hour.
    let kept = 100;
    for i in 0..kept {
        put_expiring(&store, &format!("new{i}."), 1, Duration::from_secs(3600)).await;
        store.set_paused("q", false).await.expect("barrier");
    }
    assert_eq!(
        rows(&store, super::tables::Kv::Records),
        kept,
        "the expired records went with the commits that followed"
    );
}

#[tokio::test]
async fn sweep_deletes_expired_rows() {
    let dir = temp();
    let (_broker, store) = open(dir.path()).expect("open");
    for i in 0..50 {
        let ttl = if i < 40 {
            Duration::from_millis(1)
        } else {
            Duration::from_secs(600)
        };
        put_expiring(&store, &format!("t{i}."), 1, ttl).await;
        store
            .dedup_mark("q", &format!("k{i}"), ttl)
            .await
            .expect("mark");
    }
    // A durable write commits everything queued before it.
    store.set_paused("q", false).await.expect("barrier");
    tokio::time::sleep(Duration::from_millis(5)).await;
    super::writer::sweep(&store.shared.db).expect("sweep");
    assert_eq!(
        rows(&store, super::tables::Kv::Records),
        10,
        "expired records deleted, live ones kept"
    );
    assert_eq!(
        rows(&store, super::tables::Kv::Dedup),
        10,
        "expired marks deleted, live ones kept"
    );
}

#[tokio::test]
async fn state_survives_reopen() {
    let dir = temp();
    {
        let (_broker, store) = open(dir.path()).expect("open");
        store.set_paused("q", true).await.expect("pause");
        store
            .put_binding("q", Bytes::from_static(b"b"))
            .await
            .expect("bind");
        store
            .put_module("abc", Bytes::from_static(b"wasm"))
            .await
            .expect("module");
        store
            .add_counters("q", &[("succeeded", 7)])
            .await
            .expect("count");
        store
            .put_record(
                "t1",
                Bytes::from_static(b"r"),
                true,
                Duration::from_secs(60),
            )
            .await
            .expect("record");
        store
            .dedup_mark("q", "k", Duration::from_secs(60))
            .await
            .expect("dedup");
    }
    let (_broker, store) = open(dir.path()).expect("reopen");
    assert_eq!(store.paused_queues().await.expect("paused"), ["q"]);
    assert_eq!(
        store.get_binding("q").await.expect("binding"),
        Some(Bytes::from_static(b"b"))
    );
    assert_eq!(
        store.get_module("abc").await.expect("module"),
        Some(Bytes::from_static(b"wasm"))
    );
    assert_eq!(
        store
            .counters("q")
            .await
            .expect("counters")
            .get("succeeded"),
        Some(&7)
    );
    assert_eq!(
        store.get_record("t1").await.expect("record"),
        Some(Bytes::from_static(b"r"))
    );
    assert!(store.dedup_seen("q", "k").await.expect("dedup"));
}

#[tokio::test]
async fn second_open_of_a_dir_is_refused() {
    let dir = temp();
    let first = open(dir.path()).expect("open");
    let err = open(dir.path()).expect_err("the dir is held");
    assert!(
        err.to_string().contains("in use by another wasmboost host"),
        "{err}"
    );
    drop(first);
    let _reopened: (Arc<_>, Arc<_>) = open(dir.path()).expect("free again after drop");
}

#[tokio::test]
async fn lazy_fsync_option_still_serves_and_flushes_on_stop() {
    let dir = temp();
    let options = EmbeddedOptions {
        fsync_interval: Some(Duration::from_secs(3600)),
    };
    {
        let (broker, store) = open_with(dir.path(), options).expect("open");
        broker.publish("q", msgs("m", 3)).await.expect("publish");
        let got = broker
            .fetch("q", 1, Duration::from_secs(60), Duration::ZERO)
            .await
            .expect("fetch");
        for d in got {
            d.settle(Settlement::Ack).await.expect("ack");
        }
        store.set_paused("q", true).await.expect("pause");
    }
    let (broker, store) = open(dir.path()).expect("reopen");
    assert_eq!(
        broker.counts("q").await.expect("counts").ready,
        2,
        "stopping fsyncs everything"
    );
    assert_eq!(store.paused_queues().await.expect("paused"), ["q"]);
}

/// Where the child of `publishes_survive_kill_9` keeps its data directory.
const KILL_DIR_ENV: &str = "WASMBOOST_BROKER_KILL_CHILD_DIR";
const KILL_BATCH: usize = 50;

/// The child half of `publishes_survive_kill_9`: publish batches forever, printing each batch
/// number once its publish returned. Started by that test, which sets its directory; run any
/// other way (`cargo test -- --ignored`) it fails, so it can never pass without testing anything.
#[tokio::test]
#[ignore = "run as a child process by publishes_survive_kill_9"]
async fn kill_9_child() {
    let dir = std::env::var(KILL_DIR_ENV).unwrap_or_else(|_| {
        panic!(
            "kill_9_child is the child half of publishes_survive_kill_9 and needs {KILL_DIR_ENV}; \
             run that test instead"
        )
    });
    let (broker, _store) = open(&dir).expect("child opens the dir");
    for batch in 0.. {
        broker
            .publish("q", msgs(&format!("b{batch}-"), KILL_BATCH))
            .await
            .expect("publish");
        // Ack a few so lazy acks are in flight too when the kill lands.
        for d in broker
            .fetch("q", 5, Duration::from_secs(600), Duration::ZERO)
            .await
            .expect("fetch")
        {
            d.settle(Settlement::Ack).await.expect("ack");
        }
        println!("published {batch}");
    }
}

#[tokio::test]
async fn publishes_survive_kill_9() {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};

    let dir = temp();
    let exe = std::env::current_exe().expect("the test binary knows its path");
    let mut child = Command::new(exe)
        .args([
            "--exact",
            "embedded::tests::kill_9_child",
            "--ignored",
            "--nocapture",
        ])
        .env(KILL_DIR_ENV, dir.path())
        .stdout(Stdio::piped())
        .spawn()
        .expect("start the child");
    let stdout = child.stdout.take().expect("stdout is piped");
    let mut confirmed = None;
    for line in BufReader::new(stdout).lines() {
        let line = line.expect("read child output");
        if let Some(n) = line.strip_prefix("published ") {
            confirmed = n.parse::<usize>().ok();
            if confirmed >= Some(30) {
                break;
            }
        }
    }
    child.kill().expect("SIGKILL the child");
    child.wait().expect("reap the child");
    let confirmed = confirmed.expect("the child confirmed publishes before the kill");
    let (broker, _store) = open(dir.path()).expect("reopen after kill -9");
    let mut stored = std::collections::HashSet::new();
    for d in broker
        .fetch("q", 1_000_000, Duration::from_secs(60), Duration::ZERO)
        .await
        .expect("fetch")
    {
        stored.insert(d.message().id.clone());
    }
    // Each round acked the five oldest messages, so only ids among the oldest 5 per round
    // (one more round may have run after the last confirmation) may be gone; nothing else.
    let ordered: Vec<_> = (0..=confirmed)
        .flat_map(|b| (0..KILL_BATCH).map(move |i| format!("b{b}-{i}")))
        .collect();
    let may_be_acked = (5 * (confirmed + 2)).min(ordered.len());
    let lost: Vec<_> = ordered[may_be_acked..]
        .iter()
        .filter(|id| !stored.contains(*id))
        .collect();
    assert!(
        lost.is_empty(),
        "{} confirmed, unacked messages lost: {:?}",
        lost.len(),
        &lost[..lost.len().min(10)]
    );
}

/// Consumers settle every message at random (ack, short retry, requeue, dead-letter) until the
/// queue is drained. Nobody may hold a message another consumer holds, and at the end every
/// message is acked or dead, exactly once.
async fn random_settles(broker: Arc<dyn Broker>, total: usize) -> (usize, usize) {
    use std::collections::HashSet;
    use std::sync::Mutex;

    broker
        .publish("mix", msgs("m", total))
        .await
        .expect("publish");
    let held = Arc::new(Mutex::new(HashSet::new()));
    let done = Arc::new(Mutex::new((HashSet::new(), HashSet::new())));
    let consumers: Vec<_> = (0..4u64)
        .map(|seed| {
            let (broker, held, done) = (Arc::clone(&broker), Arc::clone(&held), Arc::clone(&done));
            tokio::spawn(async move {
                let mut rng = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
                loop {
                    let finished = {
                        let d = done.lock().expect("lock");
                        d.0.len() + d.1.len()
                    };
                    if finished == total {
                        return;
                    }
                    let got = broker
                        .fetch(
                            "mix",
                            8,
                            Duration::from_secs(60),
                            Duration::from_millis(100),
                        )
                        .await
                        .expect("fetch");
                    for d in got {
                        let id = d.message().id.clone();
                        assert!(
                            held.lock().expect("lock").insert(id.clone()),
                            "{id} held twice"
                        );
                        rng ^= rng << 13;
                        rng ^= rng >> 7;
                        rng ^= rng << 17;
                        let settlement = match (rng % 10, d.message().attempt, d.message().requeues)
                        {
                            (0, a, _) if a < 3 => Settlement::Retry {
                                after: Duration::from_millis(rng % 30),
                            },
                            (1, _, r) if r < 3 => Settlement::Requeue,
                            (2, _, _) => Settlement::DeadLetter {
                                reason: "random".into(),
                            },
                            _ => Settlement::Ack,
                        };
                        held.lock().expect("lock").remove(&id);
                        let outcome = settlement.clone();
                        d.settle(settlement).await.expect("settle");
                        let mut done = done.lock().expect("lock");
                        match outcome {
                            Settlement::Ack => {
                                assert!(done.0.insert(id.clone()), "{id} acked twice")
                            }
                            Settlement::DeadLetter { .. } => {
                                assert!(done.1.insert(id.clone()), "{id} dead twice")
                            }
                            _ => {}
                        }
                    }
                }
            })
        })
        .collect();
    for c in consumers {
        tokio::time::timeout(Duration::from_secs(60), c)
            .await
            .expect("drained in time")
            .expect("consumer");
    }
    let done = done.lock().expect("lock");
    assert!(done.0.is_disjoint(&done.1), "a message both acked and dead");
    (done.0.len(), done.1.len())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_settles_on_memory() {
    let (acked, dead) = random_settles(Arc::new(crate::memory::MemoryBroker::new()), 2000).await;
    assert_eq!(acked + dead, 2000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_settles_on_embedded_then_reopen() {
    let dir = temp();
    let dead = {
        let (broker, _store) = open(dir.path()).expect("open");
        let (acked, dead) = random_settles(broker, 2000).await;
        assert_eq!(acked + dead, 2000);
        dead
    };
    let (broker, _store) = open(dir.path()).expect("reopen");
    let counts = broker.counts("mix").await.expect("counts");
    assert_eq!(
        (counts.ready, counts.delayed, counts.dead),
        (0, 0, dead as u64),
        "only dead letters remain"
    );
}

/// A replayed dead letter: its record goes back to `queued` over the stored ending, and its next
/// ending counts again, also when the `queued` record and that ending reach the writer in one
/// batch (then the stored ending is not what the new ending follows).
#[tokio::test]
async fn an_ending_after_a_replay_counts_again_even_in_the_same_commit() {
    const TASKS: usize = 300;
    let dir = temp();
    let ttl = Duration::from_secs(60);
    let ending = Bytes::from_static(b"dead");
    let id = |i: usize| format!("t{i}");
    {
        let (_broker, store) = open(dir.path()).expect("open");
        for i in 0..TASKS {
            store
                .put_record_counted(&id(i), ending.clone(), true, ttl, "q", &[("failed", 1)])
                .await
                .expect("first ending");
        }
    }
    let (_broker, store) = open(dir.path()).expect("reopen: every first ending committed");
    // Back to back: the writer, on its own thread, takes most such pairs in one batch.
    for i in 0..TASKS {
        store
            .put_record(&id(i), Bytes::from_static(b"queued"), false, ttl)
            .await
            .expect("the replay's queued record");
        store
            .put_record_counted(&id(i), ending.clone(), true, ttl, "q", &[("failed", 1)])
            .await
            .expect("the replayed task's ending");
    }
    drop((_broker, store));
    let (_broker, store) = open(dir.path()).expect("reopen");
    let counters = store.counters("q").await.expect("counters");
    assert_eq!(
        counters.get("failed"),
        Some(&(2 * TASKS as i64)),
        "{counters:?}"
    );
}

/// A task that runs again after a crash (its ending durable, its ack not): the rerun's
/// `running` mark does not replace the ending, so the rerun's ending is not counted again;
/// after a reopen too (the first ending committed, the rest in later transactions).
#[tokio::test]
async fn a_rerun_after_a_durable_ending_is_counted_once() {
    let dir = temp();
    let ttl = Duration::from_secs(60);
    let ending = Bytes::from_static(b"succeeded");
    {
        let (_broker, store) = open(dir.path()).expect("open");
        store
            .put_record_counted("t1", ending.clone(), true, ttl, "q", &[("succeeded", 1)])
            .await
            .expect("ending");
    }
    let (_broker, store) = open(dir.path()).expect("reopen: the host came back");
    store
        .put_progress("t1", Bytes::from_static(b"running"), ttl)
        .await
        .expect("running mark of the rerun");
    // Through a reopen, so the mark went through its own transaction before the ending.
    drop((_broker, store));
    let (_broker, store) = open(dir.path()).expect("reopen");
    assert_eq!(
        store.get_record("t1").await.expect("record"),
        Some(ending.clone()),
        "the mark did not replace the ending"
    );
    store
        .put_record_counted("t1", ending.clone(), true, ttl, "q", &[("succeeded", 1)])
        .await
        .expect("the rerun's ending");
    drop((_broker, store));
    let (_broker, store) = open(dir.path()).expect("reopen");
    let counters = store.counters("q").await.expect("counters");
    assert_eq!(counters.get("succeeded"), Some(&1), "{counters:?}");
    // A progress mark over a record that is not terminal is an ordinary write.
    store
        .put_progress("t2", Bytes::from_static(b"running"), ttl)
        .await
        .expect("mark");
    assert_eq!(
        store.get_record("t2").await.expect("record"),
        Some(Bytes::from_static(b"running"))
    );
}

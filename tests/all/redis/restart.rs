//! redis-server killed with SIGKILL (no shutdown, no final AOF write) while two hosts run tasks
//! and a client keeps publishing, then started again on the same AOF: the hosts reconnect by
//! themselves, publishing works again, and what the client was told is stored runs.
//!
//! - `appendfsync always`: every acknowledged publish runs.
//! - `appendfsync everysec`: every publish acknowledged more than [`EVERYSEC_LOSS_WINDOW`] before
//!   the kill runs (the loss window `host/broker-redis/README.md` states).
//!
//! A SIGTERM would not do: on a clean shutdown Redis writes its AOF out whatever the setting.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use wasmboost_tests::guests;
use wasmboost_tests::host::HostProcess;
use wasmboost_tests::redis::{Persistence, RedisServer};

use super::support::{
    LONG, config, deploy, field, logs, poll, queue_row, records, start_hosts, terminal_records,
    try_publish_batch, wait_drained, wait_version,
};

/// Messages per publish call of the client.
const BATCH: usize = 20;
/// Acknowledged messages before the kill, and again after the restart.
const PHASE: usize = 300;
/// What `everysec` may lose on a crash: Redis fsyncs once a second and, while a slow fsync runs,
/// postpones writing its AOF buffer for up to 2 s more, so the last 2 s of acknowledged writes
/// may be in no file at all.
const EVERYSEC_LOSS_WINDOW: Duration = Duration::from_secs(2);

/// One acknowledged publish: its task ids and when the client got the answer.
struct Acked {
    ids: Vec<String>,
    at: Instant,
}

/// What the publishing client saw.
#[derive(Default)]
struct Published {
    acked: Vec<Acked>,
    refused: usize,
}

impl Published {
    fn acked_count(&self) -> usize {
        self.acked.iter().map(|a| a.ids.len()).sum()
    }

    /// Ids acknowledged before `t`, and the others.
    fn split_at(&self, t: Instant) -> (Vec<String>, Vec<String>) {
        let (before, after): (Vec<&Acked>, Vec<&Acked>) = self.acked.iter().partition(|a| a.at < t);
        let ids =
            |v: Vec<&Acked>| -> Vec<String> { v.into_iter().flat_map(|a| a.ids.clone()).collect() };
        (ids(before), ids(after))
    }
}

/// What happened around the kill.
struct Outage {
    published: Published,
    killed_at: Instant,
    refused_during: usize,
}

#[test]
fn redis_kill_9_under_appendfsync_always_loses_nothing_acknowledged() {
    let mut redis = RedisServer::start_with(Persistence::AofAlways);
    let hosts = start_hosts(2, &config(&redis, QUEUE_TOML));
    let all: Vec<_> = hosts.iter().collect();
    let outage = kill_mid_run(&mut redis, &hosts);
    let (acked, _) = outage.published.split_at(Instant::now());
    for record in terminal_records(&redis, &all, &acked) {
        assert_eq!(record["state"], "succeeded", "{record}\n{}", logs(&all));
    }
    wait_drained(&all, "sleepy", 0);
    eprintln!(
        "redis kill -9 (always): {} acknowledged, all succeeded; {} publishes refused during \
         the outage",
        acked.len(),
        outage.refused_during
    );
}

#[test]
fn redis_kill_9_under_appendfsync_everysec_loses_at_most_its_window() {
    let mut redis = RedisServer::start_with(Persistence::AofEverySec);
    let hosts = start_hosts(2, &config(&redis, QUEUE_TOML));
    let all: Vec<_> = hosts.iter().collect();
    let outage = kill_mid_run(&mut redis, &hosts);
    let (safe, _) = outage
        .published
        .split_at(outage.killed_at - EVERYSEC_LOSS_WINDOW);
    assert!(
        !safe.is_empty(),
        "publishes were acknowledged before the window"
    );
    let (before_kill, _) = outage.published.split_at(outage.killed_at);
    let window: Vec<String> = before_kill.into_iter().skip(safe.len()).collect();
    for record in terminal_records(&redis, &all, &safe) {
        assert_eq!(record["state"], "succeeded", "{record}\n{}", logs(&all));
    }
    wait_drained(&all, "sleepy", 0);
    // Inside the window a publish may be gone; whatever survived ran.
    let in_window = records(&redis, &window);
    let lost = in_window.iter().filter(|r| r.is_none()).count();
    for record in in_window.iter().flatten() {
        assert_eq!(record["state"], "succeeded", "{record}\n{}", logs(&all));
    }
    eprintln!(
        "redis kill -9 (everysec): {} acknowledged before the last {EVERYSEC_LOSS_WINDOW:?}, all \
         succeeded; {} inside it, {lost} lost; {} publishes refused during the outage",
        safe.len(),
        window.len(),
        outage.refused_during
    );
}

/// The queue: short sleeps, 20 at a time on each host, a short lease so a settle lost with the
/// kill comes back quickly.
const QUEUE_TOML: &str = "[queues.sleepy]\nconcurrency = 20\nlease = \"3s\"\n";

/// Deploy, publish continuously through `hosts[1]`, SIGKILL Redis once [`PHASE`] publishes are
/// acknowledged, the first of them longer ago than [`EVERYSEC_LOSS_WINDOW`] and a second (so
/// some lie outside `everysec`'s window), and tasks have finished, wait until a publish is refused (the outage overlaps
/// publishing), start Redis again on its AOF, and stop once [`PHASE`] more are acknowledged.
fn kill_mid_run(redis: &mut RedisServer, hosts: &[HostProcess]) -> Outage {
    let all: Vec<_> = hosts.iter().collect();
    deploy(&hosts[0], "sleepy", &guests::guest_bytes("sleep"));
    wait_version(&all, "sleepy", 1);
    let published = Arc::new(Mutex::new(Published::default()));
    let stop = Arc::new(AtomicBool::new(false));
    let lock = || published.lock().unwrap_or_else(|e| e.into_inner());
    let (killed_at, refused_during) = std::thread::scope(|s| {
        s.spawn(|| publish_until(&hosts[1], &published, &stop));
        poll(
            "acknowledged publishes and finished tasks",
            LONG,
            || logs(&all),
            || {
                let draining = queue_row(&hosts[0], "sleepy").is_some_and(|r| {
                    field(&r, "succeeded") > 0 && field(&r, "running") + field(&r, "queued") > 0
                });
                let p = lock();
                let old_enough = p.acked.first().is_some_and(|a| {
                    a.at.elapsed() > EVERYSEC_LOSS_WINDOW + Duration::from_secs(1)
                });
                (p.acked_count() >= PHASE && old_enough && draining).then_some(())
            },
        );
        let refused_before = lock().refused;
        let killed_at = Instant::now();
        redis.kill();
        poll(
            "a publish to be refused while Redis is down",
            LONG,
            || logs(&all),
            || (lock().refused > refused_before).then_some(()),
        );
        let refused_during = lock().refused - refused_before;
        redis.start_again();
        let before = lock().acked_count();
        poll(
            "publishing to work again after the restart",
            LONG,
            || logs(&all),
            || (lock().acked_count() >= before + PHASE).then_some(()),
        );
        stop.store(true, Ordering::Release);
        (killed_at, refused_during)
    });
    assert!(refused_during > 0, "the outage overlapped publishing");
    let published = std::mem::take(&mut *lock());
    Outage {
        published,
        killed_at,
        refused_during,
    }
}

/// Publish batches of short tasks through `host` until told to stop; remember what was
/// acknowledged and when (a refused batch, while Redis is down, is the client's to retry).
fn publish_until(host: &HostProcess, published: &Mutex<Published>, stop: &AtomicBool) {
    let bodies = vec![r#"{"ms":20}"#.to_owned(); BATCH];
    while !stop.load(Ordering::Acquire) {
        let result = try_publish_batch(host, "sleepy", &bodies);
        let at = Instant::now();
        let mut p = published.lock().unwrap_or_else(|e| e.into_inner());
        match result {
            Ok(ids) => p.acked.push(Acked { ids, at }),
            Err(_) => p.refused += 1,
        }
        drop(p);
        std::thread::sleep(Duration::from_millis(20));
    }
}

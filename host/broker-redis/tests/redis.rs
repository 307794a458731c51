//! Redis-specific broker and store behaviour against a real `redis-server`: foreign producers,
//! malformed entries, reclaiming a dead consumer's leases, outages and restarts, priority aging,
//! the global rate and cross-store notifications.

#[path = "support/server.rs"]
#[allow(
    dead_code,
    reason = "shared by several test binaries, each using part of it"
)]
mod server;

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use server::{Persistence, RedisServer};
use tokio::time::Instant;
use wasmboost_broker::{Broker, BrokerError, Delivery, NewMessage, Settlement, StateStore};
use wasmboost_broker_redis::{RedisBroker, RedisConfig, RedisStore};

const DEADLINE: Duration = Duration::from_secs(20);
const LONG_LEASE: Duration = Duration::from_secs(60);

async fn broker_on(server: &RedisServer, consumer: &str) -> RedisBroker {
    let config = RedisConfig {
        consumer: Some(consumer.to_owned()),
        ..RedisConfig::with_url(server.url())
    };
    RedisBroker::connect(config)
        .await
        .expect("connect to the test redis-server")
}

async fn store_on(server: &RedisServer) -> RedisStore {
    RedisStore::connect(RedisConfig::with_url(server.url()))
        .await
        .expect("connect to the test redis-server")
}

async fn fetch_n(broker: &RedisBroker, queue: &str, n: usize, lease: Duration) -> Vec<Delivery> {
    let deadline = Instant::now() + DEADLINE;
    let mut got = Vec::new();
    while got.len() < n {
        assert!(
            Instant::now() < deadline,
            "only {} of {n} fetched from {queue}",
            got.len()
        );
        let batch = broker
            .fetch(queue, n - got.len(), lease, Duration::from_secs(1))
            .await;
        got.extend(batch.expect("fetch"));
    }
    got
}

fn msg(id: &str) -> NewMessage {
    NewMessage::new(id, format!("{{\"id\":\"{id}\"}}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_cli_xadd_is_a_valid_message() {
    let server = RedisServer::start();
    let broker = broker_on(&server, "host-a").await;
    server.cli(&[
        "XADD",
        "wasmboost:q:{add}:stream",
        "*",
        "body",
        r#"{"x":1,"y":2}"#,
    ]);
    server.cli(&[
        "XADD",
        "wasmboost:q:{add}:stream:7",
        "*",
        "body",
        r#"{"x":7}"#,
        "id",
        "mine",
    ]);
    let mut got = fetch_n(&broker, "add", 2, LONG_LEASE).await;
    let (urgent, plain) = (got.remove(0), got.remove(0));
    assert_eq!(
        (urgent.message().id.as_str(), urgent.message().priority),
        ("mine", 7)
    );
    let m = plain.message().clone();
    assert_eq!(
        (m.body.as_ref(), m.attempt, m.priority),
        (br#"{"x":1,"y":2}"#.as_ref(), 1, 0)
    );
    let uuid = uuid::Uuid::parse_str(&m.id).expect("a missing id becomes a uuid");
    assert_eq!(uuid.get_version_num(), 7);
    // Retrying stores the derived id with the message: the next delivery has the same id.
    plain
        .settle(Settlement::Retry {
            after: Duration::ZERO,
        })
        .await
        .expect("retry");
    let again = fetch_n(&broker, "add", 1, LONG_LEASE).await.remove(0);
    assert_eq!(
        (again.message().id.as_str(), again.message().attempt),
        (m.id.as_str(), 2)
    );
    for d in [urgent, again] {
        d.settle(Settlement::Ack).await.expect("ack");
    }
    assert_eq!(
        server.cli(&["XLEN", "wasmboost:q:{add}:stream"]).trim(),
        "0",
        "acked = deleted"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_entry_without_body_is_dead_lettered_and_does_not_wedge_the_queue() {
    let server = RedisServer::start();
    let broker = broker_on(&server, "host-a").await;
    server.cli(&[
        "XADD",
        "wasmboost:q:{q}:stream",
        "*",
        "payload",
        "{}",
        "who",
        "me",
    ]);
    broker
        .publish("q", vec![msg("good")])
        .await
        .expect("publish");
    let d = fetch_n(&broker, "q", 1, LONG_LEASE).await.remove(0);
    assert_eq!(
        d.message().id,
        "good",
        "the malformed entry is skipped, not handed out"
    );
    d.settle(Settlement::Ack).await.expect("ack");
    let dead = broker.dead_letters("q", 10).await.expect("dead letters");
    assert_eq!(dead.len(), 1, "{dead:?}");
    let reason = &dead[0].reason;
    assert!(
        reason.contains("no body field") && reason.contains("payload, who"),
        "{reason}"
    );
    let counts = broker.counts("q").await.expect("counts");
    assert_eq!((counts.ready, counts.leased, counts.dead), (0, 0, 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_consumers_leases_are_reclaimed_by_a_live_one() {
    let server = RedisServer::start();
    let (dead_host, live_host) = (
        broker_on(&server, "dies").await,
        broker_on(&server, "lives").await,
    );
    let ids: Vec<_> = (0..5).map(|i| format!("m{i}")).collect();
    broker_publish(&dead_host, "work", &ids).await;
    let lease = Duration::from_millis(800);
    let mut held = fetch_n(&dead_host, "work", 5, lease).await;
    let leased_at = Instant::now();
    let late = held.pop().expect("five were fetched");
    drop(held); // the host dies: nothing renews or settles these
    let taken = fetch_n(&live_host, "work", 5, LONG_LEASE).await;
    assert!(
        leased_at.elapsed() >= lease - Duration::from_millis(50),
        "reclaimed too early"
    );
    let mut seen: Vec<_> = taken.iter().map(|d| d.message().id.clone()).collect();
    seen.sort();
    assert_eq!(seen, ids, "every leased message comes back");
    assert!(
        taken.iter().all(|d| d.message().redeliveries == 1),
        "{taken:?}"
    );
    let pending = server.cli(&[
        "XPENDING",
        "wasmboost:q:{work}:stream",
        "wasmboost",
        "-",
        "+",
        "10",
    ]);
    assert!(
        pending.contains("lives") && !pending.contains("dies"),
        "{pending}"
    );
    // The dead host wakes up and requeues: it no longer holds the entry, so no copy appears,
    // and it is told so (the late-settle rule on `wasmboost_broker::Lease`).
    let settled = late.settle(Settlement::Requeue).await;
    assert!(
        matches!(settled, Err(BrokerError::LeaseLost { .. })),
        "a late settle is LeaseLost: {settled:?}"
    );
    assert_eq!(live_host.counts("work").await.expect("counts").ready, 0);
    for d in taken {
        d.settle(Settlement::Ack).await.expect("ack");
    }
    let counts = live_host.counts("work").await.expect("counts");
    assert_eq!((counts.ready, counts.leased), (0, 0));
}

async fn broker_publish(broker: &RedisBroker, queue: &str, ids: &[String]) {
    let batch = ids.iter().map(|id| msg(id)).collect();
    broker.publish(queue, batch).await.expect("publish");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outage_is_unavailable_and_the_broker_recovers() {
    let mut server = RedisServer::start();
    let broker = broker_on(&server, "host-a").await;
    broker
        .publish("q", vec![msg("before")])
        .await
        .expect("publish");
    server.kill();
    let started = Instant::now();
    let err = broker.publish("q", vec![msg("during")]).await;
    assert!(matches!(err, Err(BrokerError::Unavailable(_))), "{err:?}");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "failed only after {:?}",
        started.elapsed()
    );
    let err = broker.fetch("q", 1, LONG_LEASE, Duration::ZERO).await;
    assert!(
        err.is_err_and(|e| e.is_transient()),
        "fetch during the outage is transient"
    );
    server.start_again();
    let deadline = Instant::now() + DEADLINE;
    while let Err(e) = broker.publish("q", vec![msg("after")]).await {
        assert!(
            e.is_transient(),
            "only transient errors while reconnecting: {e}"
        );
        assert!(Instant::now() < deadline, "never reconnected: {e}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let d = fetch_n(&broker, "q", 1, LONG_LEASE).await.remove(0);
    assert_eq!(
        d.message().id,
        "after",
        "no persistence: the earlier message died with redis"
    );
    d.settle(Settlement::Ack).await.expect("ack");
}

/// Keeps trying through transient errors (the worker's job), failing on anything else.
async fn retrying<T, F, Fut>(what: &str, mut op: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, BrokerError>>,
{
    let deadline = Instant::now() + DEADLINE;
    loop {
        match op().await {
            Ok(v) => return v,
            Err(e) if e.is_transient() && Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Err(e) => panic!("{what}: {e}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_restart_with_aof_mid_run_loses_nothing() {
    const TOTAL: usize = 300;
    let mut server = RedisServer::start_with(Persistence::AofEverySec);
    let broker = Arc::new(broker_on(&server, "host-a").await);
    let consumed = Arc::new(AtomicUsize::new(0));
    let producer = {
        let broker = Arc::clone(&broker);
        tokio::spawn(async move {
            for chunk in 0..TOTAL / 10 {
                let ids: Vec<_> = (0..10).map(|i| format!("m{}", chunk * 10 + i)).collect();
                let batch = || ids.iter().map(|id| msg(id)).collect();
                retrying("publish", || broker.publish("run", batch())).await;
                tokio::task::yield_now().await;
            }
        })
    };
    let consumer = {
        let (broker, consumed) = (Arc::clone(&broker), Arc::clone(&consumed));
        tokio::spawn(async move { consume_all(&broker, TOTAL, &consumed).await })
    };
    let deadline = Instant::now() + DEADLINE;
    while consumed.load(Ordering::Relaxed) < TOTAL / 3 {
        assert!(Instant::now() < deadline, "the run did not get going");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    tokio::task::block_in_place(|| server.restart());
    producer.await.expect("producer panicked");
    let seen = consumer.await.expect("consumer panicked");
    assert_eq!(seen.len(), TOTAL, "every published message ran");
    let counts = retrying("counts", || broker.counts("run")).await;
    assert_eq!(
        (counts.ready, counts.leased, counts.delayed),
        (0, 0, 0),
        "{counts:?}"
    );
}

async fn consume_all(
    broker: &RedisBroker,
    total: usize,
    consumed: &AtomicUsize,
) -> HashSet<String> {
    let lease = Duration::from_secs(2);
    let mut seen = HashSet::new();
    while seen.len() < total {
        let batch = retrying("fetch", || {
            broker.fetch("run", 10, lease, Duration::from_millis(200))
        });
        for d in batch.await {
            seen.insert(d.message().id.clone());
            consumed.store(seen.len(), Ordering::Relaxed);
            // An ack lost to the restart is redelivered after the lease: still at least once.
            let _ = d.settle(Settlement::Ack).await;
        }
    }
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_waiting_low_priority_message_overtakes_fresh_high_ones() {
    let server = RedisServer::start();
    let config = RedisConfig {
        priority_aging_ms: 50,
        ..RedisConfig::with_url(server.url())
    };
    let broker = RedisBroker::connect(config).await.expect("connect");
    broker
        .publish("q", vec![msg("old-low")])
        .await
        .expect("publish");
    // Aging is about time passing: let the low message wait well past 2 aging steps.
    tokio::time::sleep(Duration::from_millis(400)).await;
    let high: Vec<_> = (0..20)
        .map(|i| NewMessage {
            priority: 2,
            ..msg(&format!("high{i}"))
        })
        .collect();
    broker.publish("q", high).await.expect("publish");
    let first = fetch_n(&broker, "q", 1, LONG_LEASE).await.remove(0);
    assert_eq!(
        first.message().id,
        "old-low",
        "aged past the fresh priority-2 messages"
    );
    first.settle(Settlement::Ack).await.expect("ack");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_global_rate_is_shared_by_stores() {
    const RATE: f64 = 50.0;
    let server = RedisServer::start();
    let started = Instant::now();
    // Three "hosts", four task slots each, reserve slots of one shared rate until they hold
    // slots past the window; each slot's time is when its reservation was sent plus its wait.
    let (warmup, window) = (Duration::from_millis(500), Duration::from_secs(3));
    let end = warmup + window + warmup;
    let hosts = (0..3).map(|_| {
        let url = server.url();
        tokio::spawn(async move {
            let config = RedisConfig::with_url(url);
            let store = Arc::new(RedisStore::connect(config).await.expect("connect"));
            let slots = (0..4).map(|_| {
                let store = Arc::clone(&store);
                async move {
                    let mut slots = Vec::new();
                    while slots.last().is_none_or(|slot| *slot < end) {
                        let sent = started.elapsed();
                        slots.push(sent + store.reserve_rate("q", RATE).await.expect("reserve"));
                    }
                    slots
                }
            });
            futures::future::join_all(slots).await.concat()
        })
    });
    let mut in_window = 0;
    for host in futures::future::join_all(hosts).await {
        let slots = host.expect("host panicked");
        in_window += slots
            .iter()
            .filter(|t| **t >= warmup && **t < warmup + window)
            .count();
    }
    let expected = RATE * window.as_secs_f64();
    let error = (in_window as f64 - expected).abs() / expected;
    assert!(
        error <= 0.05,
        "{in_window} slots in {window:?}, expected {expected} (±5%)"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wait_terminal_wakes_on_another_hosts_put_and_survives_a_restart() {
    let mut server = RedisServer::start_with(Persistence::AofEverySec);
    let (waiter_host, runner_host) = (Arc::new(store_on(&server).await), store_on(&server).await);
    let wait = |id: &'static str| {
        let store = Arc::clone(&waiter_host);
        tokio::spawn(async move { store.wait_terminal(id, Duration::from_secs(30)).await })
    };
    let first = wait("t1");
    let put = |id, rec: &'static [u8]| {
        runner_host.put_record(id, Bytes::from_static(rec), true, LONG_LEASE)
    };
    // Poll until the waiter has subscribed (one subscriber on its channel), then finish the task.
    wait_for_subscriber(&server, "wasmboost:d:t1").await;
    put("t1", b"done").await.expect("put");
    let got = first.await.expect("waiter panicked").expect("wait");
    assert_eq!(got, Some(Bytes::from_static(b"done")));
    let second = wait("t2");
    wait_for_subscriber(&server, "wasmboost:d:t2").await;
    tokio::task::block_in_place(|| server.restart());
    let deadline = Instant::now() + DEADLINE;
    while let Err(e) = put("t2", b"after restart").await {
        assert!(e.is_transient() && Instant::now() < deadline, "{e}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let got = second.await.expect("waiter panicked").expect("wait");
    assert_eq!(got, Some(Bytes::from_static(b"after restart")));
}

async fn wait_for_subscriber(server: &RedisServer, channel: &str) {
    let deadline = Instant::now() + DEADLINE;
    while !server.cli(&["PUBSUB", "NUMSUB", channel]).ends_with("1\n") {
        assert!(Instant::now() < deadline, "nobody subscribed to {channel}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leases_of_different_lengths_on_one_queue_each_hold() {
    let server = RedisServer::start();
    let (holder, other) = (
        broker_on(&server, "holder").await,
        broker_on(&server, "other").await,
    );
    broker_publish(&holder, "q", &["long".to_owned()]).await;
    let long = fetch_n(&holder, "q", 1, LONG_LEASE).await.remove(0);
    broker_publish(&holder, "q", &["short".to_owned()]).await;
    let short_lease = Duration::from_millis(500);
    let short = fetch_n(&holder, "q", 1, short_lease).await.remove(0);
    let leased_at = Instant::now();
    drop(short);
    let again = fetch_n(&other, "q", 1, LONG_LEASE).await.remove(0);
    assert!(
        leased_at.elapsed() >= short_lease - Duration::from_millis(50),
        "reclaimed early"
    );
    assert_eq!(again.message().id, "short", "only the short lease ended");
    let more = other
        .fetch("q", 10, LONG_LEASE, Duration::from_millis(700))
        .await;
    let ids: Vec<_> = more
        .expect("fetch")
        .iter()
        .map(|d| d.message().id.clone())
        .collect();
    assert!(ids.is_empty(), "the 60 s lease still holds: {ids:?}");
    long.renew(LONG_LEASE)
        .await
        .expect("the long lease is still held");
    for d in [long, again] {
        d.settle(Settlement::Ack).await.expect("ack");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acks_load_their_script_again_when_the_server_forgot_it() {
    let server = RedisServer::start();
    let broker = broker_on(&server, "host-a").await;
    let ids: Vec<String> = (0..3).map(|i| format!("m{i}")).collect();
    broker_publish(&broker, "q", &ids).await;
    let mut got = fetch_n(&broker, "q", 3, LONG_LEASE).await;
    // Warm: the first ack finds the script missing and loads it.
    got.remove(0).settle(Settlement::Ack).await.expect("ack");
    // What a restart does to the script cache.
    server.cli(&["SCRIPT", "FLUSH"]);
    for d in got {
        d.settle(Settlement::Ack)
            .await
            .expect("ack after SCRIPT FLUSH");
    }
    assert_eq!(broker.counts("q").await.expect("counts").leased, 0);
    assert_eq!(server.cli(&["XLEN", "wasmboost:q:{q}:stream"]).trim(), "0");
}

/// With `wait_replicas = 1` a task record counts as stored only once a replica holds it: with
/// no replica the write fails as unavailable (the worker retries it and leaves the delivery
/// unsettled), and once a replica is in sync the write returns with the replica holding it.
/// This is what keeps a Sentinel failover from losing an ending record whose settle reached the
/// promoted replica (`tests/all/redis_ha/sentinel.rs`).
#[tokio::test]
async fn a_record_no_replica_confirmed_is_refused_as_unavailable() {
    // No 5 s pause before the replica's first (diskless) sync.
    let master =
        RedisServer::start_extra(&["--repl-diskless-sync-delay".to_owned(), "0".to_owned()]);
    let config = RedisConfig {
        wait_replicas: 1,
        wait_timeout_ms: 100,
        ..RedisConfig::with_url(master.url())
    };
    let store = RedisStore::connect(config).await.expect("connect");
    let record = Bytes::from_static(br#"{"state":"succeeded"}"#);
    let ttl = Duration::from_secs(60);
    let alone = store.put_record("t-alone", record.clone(), true, ttl).await;
    assert!(
        matches!(&alone, Err(e) if e.is_transient()),
        "a record no replica holds is refused as unavailable: {alone:?}"
    );
    let counted = store
        .put_record_counted(
            "t-counted",
            record.clone(),
            true,
            ttl,
            "q",
            &[("succeeded", 1)],
        )
        .await;
    assert!(
        matches!(&counted, Err(e) if e.is_transient()),
        "an ending record with counts too: {counted:?}"
    );

    let replicaof = [
        "--replicaof".to_owned(),
        "127.0.0.1".to_owned(),
        master.port().to_string(),
    ];
    let replica = RedisServer::start_extra(&replicaof);
    let deadline = Instant::now() + DEADLINE;
    // In sync on both sides: the replica's link is up and the master lists it online (until
    // then a WAIT may still count no replica).
    while !(replica
        .cli(&["INFO", "replication"])
        .contains("master_link_status:up")
        && master
            .cli(&["INFO", "replication"])
            .contains("state=online"))
    {
        assert!(Instant::now() < deadline, "the replica never synced");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // The worker retries a write refused as unavailable; so does this check, while the new
    // replica's first acknowledgements arrive.
    loop {
        match store.put_record("t-held", record.clone(), true, ttl).await {
            Ok(()) => break,
            Err(e) if e.is_transient() && Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Err(e) => panic!("a record a replica confirmed is stored: {e}"),
        }
    }
    let held = replica.cli(&["EXISTS", "wasmboost:t:t-held"]);
    assert_eq!(
        held.trim(),
        "1",
        "the replica holds the record once the write returns"
    );
}

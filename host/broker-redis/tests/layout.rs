//! Key layout 2 and the migration of layout-1 data: data written by an older wasmboost with raw
//! redis commands (streams with messages in flight, records, bindings, pause flags, modules,
//! counters) is all still there after a new broker and store connect, and a task id can no
//! longer reach a queue's keys.

#[path = "support/server.rs"]
#[allow(
    dead_code,
    reason = "shared by several test binaries, each using part of it"
)]
mod server;

use std::collections::BTreeSet;
use std::time::Duration;

use bytes::Bytes;
use server::RedisServer;
use tokio::time::Instant;
use wasmboost_broker::{Broker, NewMessage, Settlement, StateStore};
use wasmboost_broker_redis::{RedisBroker, RedisConfig, RedisStore};

const DEADLINE: Duration = Duration::from_secs(20);
const SHORT_LEASE: Duration = Duration::from_millis(200);
const SHA: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

fn config(server: &RedisServer) -> RedisConfig {
    RedisConfig::with_url(server.url())
}

/// Fetch (and ack at once) until `n` distinct task ids came from `queue`. The lease is short so
/// that a vanished host's delivery comes back quickly; acking at once keeps ours from doing so.
async fn drain_ids(broker: &RedisBroker, queue: &str, n: usize) -> BTreeSet<String> {
    let deadline = Instant::now() + DEADLINE;
    let mut ids = BTreeSet::new();
    while ids.len() < n {
        assert!(
            Instant::now() < deadline,
            "only {ids:?} of {n} fetched from {queue}"
        );
        let batch = broker
            .fetch(queue, n, SHORT_LEASE, Duration::from_millis(200))
            .await
            .expect("fetch");
        for d in batch {
            ids.insert(d.message().id.clone());
            // A redelivered copy may already be settled; only the ids matter here.
            let _ = d.settle(Settlement::Ack).await;
        }
    }
    ids
}

/// What an older wasmboost (key layout 1) left in Redis.
fn write_layout_1(server: &RedisServer) {
    let cli = |args: &[&str]| server.cli(args);
    // Queue `add`: one message leased by a host that is gone, one waiting, one at priority 5,
    // one delayed (due already), one dead letter.
    cli(&[
        "XADD",
        "wasmboost:add:stream",
        "*",
        "body",
        r#"{"n":1}"#,
        "id",
        "t1",
    ]);
    cli(&["XGROUP", "CREATE", "wasmboost:add:stream", "wasmboost", "0"]);
    cli(&[
        "XREADGROUP",
        "GROUP",
        "wasmboost",
        "old-host",
        "COUNT",
        "1",
        "STREAMS",
        "wasmboost:add:stream",
        ">",
    ]);
    cli(&[
        "XADD",
        "wasmboost:add:stream",
        "*",
        "body",
        r#"{"n":2}"#,
        "id",
        "t2",
    ]);
    cli(&[
        "XADD",
        "wasmboost:add:stream:5",
        "*",
        "body",
        r#"{"n":3}"#,
        "id",
        "t3",
        "priority",
        "5",
    ]);
    let parked = cli(&[
        "XADD",
        "wasmboost:add:parked",
        "*",
        "body",
        r#"{"n":4}"#,
        "id",
        "t4",
    ]);
    cli(&["ZADD", "wasmboost:add:delayed", "1", parked.trim()]);
    cli(&[
        "XADD",
        "wasmboost:add:dead",
        "*",
        "body",
        "{}",
        "id",
        "t5",
        "reason",
        "boom",
        "dead_ms",
        "7",
    ]);
    cli(&["SET", "wasmboost:add:binding", r#"{"queue":"add"}"#]);
    cli(&["HSET", "wasmboost:add:counters", "succeeded", "3"]);
    cli(&["SET", "wasmboost:add:dedup:k1", "1", "PX", "600000"]);
    // Queue `task`, whose names layout 1 shared with task records.
    cli(&[
        "XADD",
        "wasmboost:task:stream",
        "*",
        "body",
        r#"{"n":6}"#,
        "id",
        "t6",
    ]);
    cli(&["SET", "wasmboost:task:binding", r#"{"queue":"task"}"#]);
    // Records, one of them for a task id that looks like a queue key's suffix.
    cli(&[
        "SET",
        "wasmboost:task:t1",
        r#"R{"id":"t1"}"#,
        "PX",
        "600000",
    ]);
    cli(&[
        "SET",
        "wasmboost:task:dedup:x",
        r#"T{"id":"dedup:x"}"#,
        "PX",
        "600000",
    ]);
    // Globals.
    cli(&["SADD", "wasmboost:paused", "add"]);
    cli(&["SADD", "wasmboost:bound", "add", "task"]);
    cli(&["SET", &format!("wasmboost:module:{SHA}"), "asm-bytes"]);
    cli(&["SET", "wasmboost:host:h1", "{}", "PX", "600000"]);
    cli(&["ZADD", "wasmboost:hosts", "99999999999999", "h1"]);
    // Not ours: stays where it is.
    cli(&["SET", "wasmboost:mystery", "x"]);
}

async fn assert_everything_is_there(
    server: &RedisServer,
    store: &RedisStore,
    broker: &RedisBroker,
) {
    let record = |id: &'static str| async move { store.get_record(id).await.expect("record") };
    assert_eq!(
        record("t1").await,
        Some(Bytes::from_static(br#"{"id":"t1"}"#))
    );
    assert_eq!(
        record("dedup:x").await,
        Some(Bytes::from_static(br#"{"id":"dedup:x"}"#))
    );
    assert_eq!(
        store.paused_queues().await.expect("paused"),
        vec!["add".to_owned()]
    );
    assert_eq!(
        store.bound_queues().await.expect("bound"),
        vec!["add".to_owned(), "task".to_owned()]
    );
    assert_eq!(
        store.get_binding("add").await.expect("binding"),
        Some(Bytes::from_static(br#"{"queue":"add"}"#))
    );
    assert_eq!(
        store.get_binding("task").await.expect("binding"),
        Some(Bytes::from_static(br#"{"queue":"task"}"#))
    );
    assert_eq!(
        store.get_module(SHA).await.expect("module"),
        Some(Bytes::from_static(b"asm-bytes"))
    );
    assert_eq!(
        store
            .counters("add")
            .await
            .expect("counters")
            .get("succeeded"),
        Some(&3)
    );
    assert!(store.dedup_seen("add", "k1").await.expect("dedup"));
    assert_eq!(
        store.live_hosts().await.expect("hosts"),
        vec![Bytes::from_static(b"{}")]
    );

    let dead = broker.dead_letters("add", 10).await.expect("dead letters");
    assert_eq!(dead.len(), 1);
    assert_eq!(
        (dead[0].message.id.as_str(), dead[0].reason.as_str()),
        ("t5", "boom")
    );
    // The message leased by the vanished host comes back when its lease ends; the others at once.
    let ids = drain_ids(broker, "add", 4).await;
    assert_eq!(ids, ["t1", "t2", "t3", "t4"].map(str::to_owned).into());
    assert_eq!(drain_ids(broker, "task", 1).await, ["t6".to_owned()].into());
    assert_eq!(server.cli(&["GET", "wasmboost:g:layout"]).trim(), "2");
    assert_eq!(server.cli(&["EXISTS", "wasmboost:add:stream"]).trim(), "0");
    assert_eq!(server.cli(&["GET", "wasmboost:mystery"]).trim(), "x");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn layout_1_data_is_migrated_on_connect_and_nothing_is_lost() {
    let server = RedisServer::start();
    write_layout_1(&server);
    let store = RedisStore::connect(config(&server))
        .await
        .expect("store connects");
    let broker = RedisBroker::connect(config(&server))
        .await
        .expect("broker connects");
    assert_everything_is_there(&server, &store, &broker).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupted_migration_resumes_without_moving_anything_twice() {
    let server = RedisServer::start();
    write_layout_1(&server);
    // As if a host died after pass 1 (queue keys moved, marker "1-2") and had renamed one record.
    for (old, new) in [
        ("wasmboost:add:stream", "wasmboost:q:{add}:stream"),
        ("wasmboost:add:stream:5", "wasmboost:q:{add}:stream:5"),
        ("wasmboost:add:parked", "wasmboost:q:{add}:parked"),
        ("wasmboost:add:delayed", "wasmboost:q:{add}:delayed"),
        ("wasmboost:add:dead", "wasmboost:q:{add}:dead"),
        ("wasmboost:add:binding", "wasmboost:q:{add}:binding"),
        ("wasmboost:add:counters", "wasmboost:q:{add}:counters"),
        ("wasmboost:add:dedup:k1", "wasmboost:q:{add}:dedup:k1"),
        ("wasmboost:task:stream", "wasmboost:q:{task}:stream"),
        ("wasmboost:task:binding", "wasmboost:q:{task}:binding"),
        ("wasmboost:task:t1", "wasmboost:t:t1"),
    ] {
        server.cli(&["RENAME", old, new]);
    }
    server.cli(&["SET", "wasmboost:g:layout", "1-2"]);
    let store = RedisStore::connect(config(&server))
        .await
        .expect("store connects");
    let broker = RedisBroker::connect(config(&server))
        .await
        .expect("broker connects");
    assert_everything_is_there(&server, &store, &broker).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fresh_server_is_marked_and_a_newer_layout_is_refused() {
    let server = RedisServer::start();
    RedisStore::connect(config(&server))
        .await
        .expect("store connects");
    assert_eq!(server.cli(&["GET", "wasmboost:g:layout"]).trim(), "2");
    server.cli(&["SET", "wasmboost:g:layout", "3"]);
    let err = RedisBroker::connect(config(&server))
        .await
        .expect_err("layout 3 is refused");
    assert!(err.to_string().contains("layout \"3\""), "{err}");
}

/// The attack of issue 11 at the broker level: records of tasks named after every word of the
/// key layout, stored while queue `task` holds messages and a binding, touch none of them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn task_ids_named_after_key_words_touch_no_queue_key() {
    let server = RedisServer::start();
    let store = RedisStore::connect(config(&server))
        .await
        .expect("store connects");
    let broker = RedisBroker::connect(config(&server))
        .await
        .expect("broker connects");
    let ids: Vec<String> = (0..5).map(|i| format!("m{i}")).collect();
    let messages = ids
        .iter()
        .map(|id| NewMessage::new(id.clone(), "{}"))
        .collect();
    broker.publish("task", messages).await.expect("publish");
    store
        .put_binding("task", Bytes::from_static(b"{}"))
        .await
        .expect("binding");
    store.set_paused("task", true).await.expect("pause");
    let words = [
        "stream",
        "stream:1",
        "stream:9",
        "delayed",
        "parked",
        "dead",
        "reclaim",
        "binding",
        "counters",
        "rate",
        "dedup:x",
        "paused",
        "bound",
        "hosts",
        "layout",
        "migrating",
        "q:{task}:stream",
        "g:paused",
        "task",
        "module",
        "host",
    ];
    for word in words {
        store
            .put_record(
                word,
                Bytes::from_static(b"{}"),
                true,
                Duration::from_secs(60),
            )
            .await
            .expect("record");
        store
            .dedup_mark("other", word, Duration::from_secs(60))
            .await
            .expect("dedup");
    }
    assert_eq!(
        store.get_binding("task").await.expect("binding"),
        Some(Bytes::from_static(b"{}"))
    );
    assert_eq!(
        store.paused_queues().await.expect("paused"),
        vec!["task".to_owned()]
    );
    assert_eq!(
        store.bound_queues().await.expect("bound"),
        vec!["task".to_owned()]
    );
    assert_eq!(
        drain_ids(&broker, "task", 5).await,
        ids.into_iter().collect()
    );
}

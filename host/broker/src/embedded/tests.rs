//! The conformance suites on the embedded broker and store, plus what only a durable broker
//! must do: survive being dropped without settling, and keep a second opener out.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;

use super::open;
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

//! Conformance tests of task key-value namespaces ([`StateStore::kv`]): what each operation
//! answers, atomic increments and compare-and-swaps under concurrency, expiry, quotas, and
//! namespace isolation against crafted keys. Each test uses queues no other test uses.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;

use super::{eventually, unique};
use crate::kv::{KvError, KvOp, KvQuota, KvRefusal, KvReply};
use crate::state::StateStore;

const ROOMY: KvQuota = KvQuota {
    max_keys: 10_000,
    max_value_bytes: 64 * 1024,
    max_total_bytes: 1024 * 1024,
};

async fn run(store: &dyn StateStore, queue: &str, op: KvOp<'_>) -> KvReply {
    store
        .kv(queue, op, &ROOMY)
        .await
        .unwrap_or_else(|e| panic!("{op:?} on {queue}: {e}"))
}

async fn get(store: &dyn StateStore, queue: &str, key: &str) -> Option<Bytes> {
    match run(store, queue, KvOp::Get { key }).await {
        KvReply::Value(v) => v,
        other => panic!("get answered {other:?}"),
    }
}

fn set<'a>(key: &'a str, value: &'a [u8]) -> KvOp<'a> {
    KvOp::Set {
        key,
        value,
        ttl: None,
    }
}

pub async fn kv_operations(store: Arc<dyn StateStore>) {
    let (s, q) = (&*store, &unique("kv"));
    assert_eq!(get(s, q, "k").await, None, "absent");
    assert_eq!(run(s, q, set("k", b"v1")).await, KvReply::Stored);
    assert_eq!(get(s, q, "k").await.as_deref(), Some(&b"v1"[..]));
    assert_eq!(run(s, q, set("k", b"")).await, KvReply::Stored);
    assert_eq!(
        get(s, q, "k").await.as_deref(),
        Some(&b""[..]),
        "empty is a value"
    );
    let del = KvOp::Delete { key: "k" };
    assert_eq!(run(s, q, del).await, KvReply::Deleted(true));
    assert_eq!(run(s, q, del).await, KvReply::Deleted(false));
    let inc = |delta| KvOp::Increment { key: "n", delta };
    assert_eq!(
        run(s, q, inc(5)).await,
        KvReply::Counted(5),
        "absent counts as 0"
    );
    assert_eq!(run(s, q, inc(-7)).await, KvReply::Counted(-2));
    assert_eq!(
        get(s, q, "n").await.as_deref(),
        Some(&b"-2"[..]),
        "stored as digits"
    );
    run(s, q, set("text", b"abc")).await;
    let refused = s
        .kv(
            q,
            KvOp::Increment {
                key: "text",
                delta: 1,
            },
            &ROOMY,
        )
        .await;
    assert!(
        matches!(refused, Err(KvError::Refused(KvRefusal::NotInteger { .. }))),
        "{refused:?}"
    );
    run(s, q, set("big", i64::MAX.to_string().as_bytes())).await;
    let refused = s
        .kv(
            q,
            KvOp::Increment {
                key: "big",
                delta: 1,
            },
            &ROOMY,
        )
        .await;
    assert!(
        matches!(refused, Err(KvError::Refused(KvRefusal::Overflow { .. }))),
        "{refused:?}"
    );
    let cas = |expected, value| KvOp::CompareAndSwap {
        key: "c",
        expected,
        value,
    };
    assert_eq!(
        run(s, q, cas(Some(&b"x"[..]), b"1")).await,
        KvReply::Swapped(false)
    );
    assert_eq!(
        run(s, q, cas(None, b"1")).await,
        KvReply::Swapped(true),
        "absent"
    );
    assert_eq!(
        run(s, q, cas(None, b"2")).await,
        KvReply::Swapped(false),
        "present now"
    );
    assert_eq!(
        run(s, q, cas(Some(&b"1"[..]), b"")).await,
        KvReply::Swapped(true)
    );
    assert_eq!(
        run(s, q, cas(None, b"3")).await,
        KvReply::Swapped(false),
        "an empty value is not an absent one"
    );
    assert_eq!(
        run(s, q, cas(Some(&b""[..]), b"4")).await,
        KvReply::Swapped(true)
    );
    assert_eq!(get(s, q, "c").await.as_deref(), Some(&b"4"[..]));
}

/// 4 writers × 25 increments reach exactly 100; of 8 racing compare-and-swaps from "absent"
/// exactly one wins; a compare-and-swap counter (read, swap, retry) loses no update either.
pub async fn kv_atomic_under_concurrency(store: Arc<dyn StateStore>) {
    let q = unique("kv-race");
    let mut writers = Vec::new();
    for _ in 0..4 {
        let (store, q) = (Arc::clone(&store), q.clone());
        writers.push(tokio::spawn(async move {
            for _ in 0..25 {
                run(&*store, &q, KvOp::Increment { key: "n", delta: 1 }).await;
            }
            for _ in 0..10 {
                cas_increment(&*store, &q).await;
            }
        }));
    }
    let mut racers = Vec::new();
    for i in 0..8u8 {
        let (store, q) = (Arc::clone(&store), q.clone());
        racers.push(tokio::spawn(async move {
            let op = KvOp::CompareAndSwap {
                key: "first",
                expected: None,
                value: &[i],
            };
            run(&*store, &q, op).await == KvReply::Swapped(true)
        }));
    }
    for w in writers {
        w.await.expect("writer");
    }
    let mut won = 0;
    for r in racers {
        won += usize::from(r.await.expect("racer"));
    }
    assert_eq!(won, 1, "exactly one compare-and-swap from absent wins");
    assert_eq!(get(&*store, &q, "n").await.as_deref(), Some(&b"100"[..]));
    assert_eq!(get(&*store, &q, "cas-n").await.as_deref(), Some(&b"40"[..]));
}

/// Read, then swap the incremented value in; on a lost race read again.
async fn cas_increment(store: &dyn StateStore, q: &str) {
    loop {
        let now = get(store, q, "cas-n").await;
        let n: u64 = now.as_deref().map_or(0, |b| {
            std::str::from_utf8(b)
                .ok()
                .and_then(|t| t.parse().ok())
                .unwrap_or(0)
        });
        let next = (n + 1).to_string();
        let op = KvOp::CompareAndSwap {
            key: "cas-n",
            expected: now.as_deref(),
            value: next.as_bytes(),
        };
        if run(store, q, op).await == KvReply::Swapped(true) {
            return;
        }
    }
}

/// A key set with a TTL reads as absent once it passed, keeps it through an increment, and
/// frees its quota; a key without one stays.
pub async fn kv_ttl_expires(store: Arc<dyn StateStore>) {
    let (s, q) = (&*store, &unique("kv-ttl"));
    let short = KvOp::Set {
        key: "short",
        value: b"1",
        ttl: Some(Duration::from_millis(700)),
    };
    run(s, q, short).await;
    run(s, q, set("long", b"x")).await;
    assert_eq!(
        run(
            s,
            q,
            KvOp::Increment {
                key: "short",
                delta: 1
            }
        )
        .await,
        KvReply::Counted(2)
    );
    assert_eq!(get(s, q, "short").await.as_deref(), Some(&b"2"[..]), "live");
    eventually("the key expires", || async {
        get(s, q, "short").await.is_none()
    })
    .await;
    assert_eq!(
        get(s, q, "long").await.as_deref(),
        Some(&b"x"[..]),
        "no ttl, kept"
    );
    // One key allowed: the expired one no longer counts.
    let one = KvQuota {
        max_keys: 2,
        ..ROOMY
    };
    let again = s.kv(q, set("other", b"y"), &one).await;
    assert!(
        again.is_ok(),
        "the expired key counts against no quota: {again:?}"
    );
}

/// Keys, bytes per value and bytes in total are each refused past the quota, leaving the
/// namespace unchanged; replacing or deleting stays possible, and frees room.
pub async fn kv_quota_refuses(store: Arc<dyn StateStore>) {
    let (s, q) = (&*store, &unique("kv-quota"));
    let quota = KvQuota {
        max_keys: 2,
        max_value_bytes: 10,
        max_total_bytes: 16,
    };
    let kv = |op| s.kv(q, op, &quota);
    kv(set("a", b"12345")).await.expect("a: 6 bytes");
    let err = kv(set("b", b"12345678901"))
        .await
        .expect_err("value too large");
    assert!(
        matches!(
            err,
            KvError::Refused(KvRefusal::ValueTooLarge { size: 11, max: 10 })
        ),
        "{err:?}"
    );
    let err = kv(set("b", b"1234567890")).await.expect_err("total");
    assert!(
        matches!(
            err,
            KvError::Refused(KvRefusal::OverTotal { would: 17, max: 16 })
        ),
        "{err:?}"
    );
    kv(set("b", b"1234")).await.expect("b: 5 bytes, 11 in all");
    let err = kv(KvOp::Increment { key: "c", delta: 1 })
        .await
        .expect_err("keys");
    assert!(
        matches!(err, KvError::Refused(KvRefusal::TooManyKeys { max: 2 })),
        "{err:?}"
    );
    assert_eq!(get(s, q, "c").await, None, "a refused write wrote nothing");
    kv(set("a", b"1")).await.expect("replace, smaller");
    kv(KvOp::Delete { key: "b" }).await.expect("delete");
    kv(set("c", b"123456789"))
        .await
        .expect("room again: 2 + 10 bytes, 2 keys");
}

/// Queue A's keys are invisible to queue B whatever the key holds: separators, NUL bytes, the
/// other queue's name, storage-key syntax of every store.
pub async fn kv_namespaces_are_isolated(store: Arc<dyn StateStore>) {
    let s = &*store;
    let a = unique("kv-a");
    let b = format!("{a}.b");
    let crafted = [
        "k".to_owned(),
        format!("{a}\0k"),
        format!("\0{b}\0k"),
        "b\0k".to_owned(),
        format!("{{{b}}}:kv"),
        format!(":q:{{{b}}}:kv"),
        "../k".to_owned(),
        "' OR 1=1 --".to_owned(),
    ];
    for key in &crafted {
        run(s, &b, set(key, b"secret-of-b")).await;
    }
    run(s, &b, set("k", b"secret-of-b")).await;
    for key in &crafted {
        assert_eq!(
            get(s, &a, key).await,
            None,
            "queue a reads {key:?} of queue b"
        );
        let swapped = run(
            s,
            &a,
            KvOp::CompareAndSwap {
                key,
                expected: Some(b"secret-of-b"),
                value: b"x",
            },
        )
        .await;
        assert_eq!(swapped, KvReply::Swapped(false), "{key:?}");
        assert_eq!(
            run(s, &a, KvOp::Delete { key }).await,
            KvReply::Deleted(false)
        );
    }
    for key in &crafted {
        assert_eq!(
            get(s, &b, key).await.as_deref(),
            Some(&b"secret-of-b"[..]),
            "queue b keeps {key:?}"
        );
    }
    let err = s.kv("bad name/x", KvOp::Get { key: "k" }, &ROOMY).await;
    assert!(err.is_err(), "an invalid queue name is refused: {err:?}");
}

//! State store conformance tests. Each takes a store and uses task ids, queue names and host ids
//! no other test uses. TTLs are short (about a second) and expiry is polled with a deadline.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tokio::time::Instant;

use super::{eventually, unique};
use crate::state::StateStore;

const LONG: Duration = Duration::from_secs(600);
const SHORT: Duration = Duration::from_secs(1);

pub async fn records_replace_and_expire(store: Arc<dyn StateStore>) {
    let id = unique("rec");
    assert_eq!(
        store.get_record(&id).await.expect("get"),
        None,
        "unknown task"
    );
    store
        .put_record(&id, Bytes::from_static(b"one"), false, LONG)
        .await
        .expect("put");
    assert_eq!(
        store.get_record(&id).await.expect("get"),
        Some(Bytes::from_static(b"one"))
    );
    store
        .put_record(&id, Bytes::from_static(b"two"), true, LONG)
        .await
        .expect("put");
    assert_eq!(
        store.get_record(&id).await.expect("get"),
        Some(Bytes::from_static(b"two"))
    );
    let short = unique("rec-ttl");
    store
        .put_record(&short, Bytes::from_static(b"x"), true, SHORT)
        .await
        .expect("put");
    assert!(
        store.get_record(&short).await.expect("get").is_some(),
        "live before its ttl"
    );
    eventually("record expires after its ttl", || async {
        store.get_record(&short).await.is_ok_and(|r| r.is_none())
    })
    .await;
    assert!(
        store.get_record(&id).await.expect("get").is_some(),
        "long ttl still there"
    );
}

pub async fn wait_terminal_wakes(store: Arc<dyn StateStore>) {
    let id = unique("wait");
    let waiter = {
        let (store, id) = (Arc::clone(&store), id.clone());
        tokio::spawn(async move { store.wait_terminal(&id, Duration::from_secs(30)).await })
    };
    store
        .put_record(&id, Bytes::from_static(b"running"), false, LONG)
        .await
        .expect("put");
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(
        !waiter.is_finished(),
        "a non-terminal record does not end the wait"
    );
    let put_at = Instant::now();
    store
        .put_record(&id, Bytes::from_static(b"done"), true, LONG)
        .await
        .expect("put");
    let got = waiter
        .await
        .expect("waiter panicked")
        .expect("wait_terminal");
    assert_eq!(got, Some(Bytes::from_static(b"done")));
    let took = put_at.elapsed();
    assert!(
        took < Duration::from_secs(3),
        "woke {took:?} after the terminal put"
    );
    // Already terminal: returns at once.
    let again = store
        .wait_terminal(&id, Duration::from_secs(30))
        .await
        .expect("wait");
    assert_eq!(again, Some(Bytes::from_static(b"done")));
}

pub async fn wait_terminal_times_out(store: Arc<dyn StateStore>) {
    let id = unique("wait-none");
    store
        .put_record(&id, Bytes::from_static(b"queued"), false, LONG)
        .await
        .expect("put");
    let started = Instant::now();
    let got = store
        .wait_terminal(&id, Duration::from_millis(300))
        .await
        .expect("wait");
    assert_eq!(got, None, "no terminal record within the timeout");
    assert!(
        started.elapsed() >= Duration::from_millis(250),
        "returned before the timeout"
    );
}

pub async fn dedup_marks_expire(store: Arc<dyn StateStore>) {
    let (q, other) = (unique("dedup"), unique("dedup-other"));
    assert!(!store.dedup_seen(&q, "k").await.expect("seen"), "unmarked");
    store.dedup_mark(&q, "k", SHORT).await.expect("mark");
    store.dedup_mark(&q, "long", LONG).await.expect("mark");
    assert!(store.dedup_seen(&q, "k").await.expect("seen"), "marked");
    assert!(
        !store.dedup_seen(&other, "k").await.expect("seen"),
        "marks are per queue"
    );
    eventually("dedup mark expires", || async {
        store.dedup_seen(&q, "k").await.is_ok_and(|seen| !seen)
    })
    .await;
    assert!(
        store.dedup_seen(&q, "long").await.expect("seen"),
        "long mark kept"
    );
}

pub async fn pause_flags(store: Arc<dyn StateStore>) {
    let (a, b) = (unique("pause-a"), unique("pause-b"));
    store.set_paused(&a, true).await.expect("pause a");
    store.set_paused(&b, true).await.expect("pause b");
    store.set_paused(&b, false).await.expect("resume b");
    let paused = store.paused_queues().await.expect("paused");
    assert!(paused.contains(&a), "{a} paused: {paused:?}");
    assert!(!paused.contains(&b), "{b} resumed: {paused:?}");
    store.set_paused(&a, false).await.expect("resume a");
    assert!(!store.paused_queues().await.expect("paused").contains(&a));
}

pub async fn modules(store: Arc<dyn StateStore>) {
    let sha = unique("sha");
    let wasm = Bytes::from(vec![7u8; 300_000]);
    store
        .put_module(&sha, wasm.clone())
        .await
        .expect("put module");
    store
        .put_module(&sha, wasm.clone())
        .await
        .expect("put module twice");
    assert_eq!(store.get_module(&sha).await.expect("get"), Some(wasm));
    assert_eq!(store.get_module(&unique("none")).await.expect("get"), None);
    store.delete_module(&sha).await.expect("delete module");
    assert_eq!(store.get_module(&sha).await.expect("get"), None);
    store
        .delete_module(&sha)
        .await
        .expect("deleting a missing module is not an error");
}

pub async fn bindings(store: Arc<dyn StateStore>) {
    let q = unique("bind");
    assert_eq!(store.get_binding(&q).await.expect("get"), None);
    store
        .put_binding(&q, Bytes::from_static(b"v1"))
        .await
        .expect("put");
    store
        .put_binding(&q, Bytes::from_static(b"v2"))
        .await
        .expect("replace");
    assert_eq!(
        store.get_binding(&q).await.expect("get"),
        Some(Bytes::from_static(b"v2"))
    );
    assert!(store.bound_queues().await.expect("bound").contains(&q));
}

pub async fn counters(store: Arc<dyn StateStore>) {
    let (q, other) = (unique("count"), unique("count-other"));
    store
        .add_counters(&q, &[("succeeded", 2), ("failed", 1)])
        .await
        .expect("add");
    store
        .add_counters(&q, &[("succeeded", 3), ("failed", -1)])
        .await
        .expect("add");
    let got = store.counters(&q).await.expect("counters");
    assert_eq!(got.get("succeeded"), Some(&5), "{got:?}");
    assert_eq!(got.get("failed").copied().unwrap_or(0), 0, "{got:?}");
    assert!(store.counters(&other).await.expect("counters").is_empty());
}

/// For a store that counts an ending in the record's own step (`put_record_counted` answers
/// `true`): a task that runs again after a crash is counted once — its `running` mark does not
/// replace the durable ending, and a second ending adds nothing — while a retry's non-terminal
/// record and a fresh task count as usual. Stores that count later have nothing to check here.
pub async fn counted_endings_count_once(store: Arc<dyn StateStore>) {
    let (q, id, fresh) = (unique("counted"), unique("rerun"), unique("fresh"));
    let end = Bytes::from_static(b"succeeded");
    let running = Bytes::from_static(b"running");
    let count = [("succeeded", 1)];
    let counted = store
        .put_record_counted(&id, end.clone(), true, LONG, &q, &count)
        .await
        .expect("ending");
    if !counted {
        return;
    }
    store
        .put_progress(&id, running.clone(), LONG)
        .await
        .expect("the rerun's mark");
    eventually("the stored record", || async {
        store.get_record(&id).await.expect("record") == Some(end.clone())
    })
    .await;
    assert!(
        store
            .put_record_counted(&id, end.clone(), true, LONG, &q, &count)
            .await
            .expect("the rerun's ending")
    );
    store
        .put_record_counted(
            &fresh,
            Bytes::from_static(b"retrying"),
            false,
            LONG,
            &q,
            &[("failed", 1)],
        )
        .await
        .expect("a retry");
    store
        .put_progress(&fresh, running.clone(), LONG)
        .await
        .expect("a mark over a record that has not ended");
    assert_eq!(
        store.get_record(&fresh).await.expect("record"),
        Some(running)
    );
    store
        .put_record_counted(&fresh, end, true, LONG, &q, &count)
        .await
        .expect("its ending");
    // Counts may land with the writer's next commit: wait for both, then check they stay.
    let want = |got: &std::collections::BTreeMap<String, i64>| {
        got.get("succeeded") == Some(&2) && got.get("failed") == Some(&1)
    };
    eventually("the counts", || async {
        want(&store.counters(&q).await.expect("counters"))
    })
    .await;
    let got = store.counters(&q).await.expect("counters");
    assert!(want(&got), "counted once each: {got:?}");
}

/// A batch of records (`put_records`, a batch publish) reads back record by record, and each
/// task's later ending is counted (for a store that counts in the record's step).
pub async fn batch_records_read_back_and_their_endings_count(store: Arc<dyn StateStore>) {
    let q = unique("batch");
    let ids: Vec<String> = (0..50).map(|i| unique(&format!("b{i}"))).collect();
    let queued: Vec<(String, Bytes)> = ids
        .iter()
        .map(|id| (id.clone(), Bytes::from(format!("queued {id}"))))
        .collect();
    store.put_records(&queued, LONG).await.expect("the batch");
    for (id, record) in &queued {
        assert_eq!(
            store.get_record(id).await.expect("record").as_ref(),
            Some(record),
            "{id}"
        );
    }
    let mut counted = true;
    for id in &ids {
        counted &= store
            .put_record_counted(
                id,
                Bytes::from_static(b"done"),
                true,
                LONG,
                &q,
                &[("succeeded", 1)],
            )
            .await
            .expect("an ending");
    }
    if !counted {
        return;
    }
    let want = ids.len() as i64;
    eventually("the counts", || async {
        store.counters(&q).await.expect("counters").get("succeeded") == Some(&want)
    })
    .await;
}

pub async fn heartbeats_expire(store: Arc<dyn StateStore>) {
    let (short, long) = (unique("host"), unique("host-long"));
    let (short_info, long_info) = (Bytes::from(short.clone()), Bytes::from(long.clone()));
    store
        .heartbeat(&short, short_info.clone(), SHORT)
        .await
        .expect("heartbeat");
    store
        .heartbeat(&long, long_info.clone(), LONG)
        .await
        .expect("heartbeat");
    let live = store.live_hosts().await.expect("live");
    assert!(
        live.contains(&short_info) && live.contains(&long_info),
        "{live:?}"
    );
    eventually("heartbeat expires", || async {
        store
            .live_hosts()
            .await
            .is_ok_and(|l| !l.contains(&short_info))
    })
    .await;
    assert!(store.live_hosts().await.expect("live").contains(&long_info));
}

pub async fn tokens_put_list_delete(store: Arc<dyn StateStore>) {
    let (a, b) = (unique("tok-a"), unique("tok-b"));
    store
        .put_token(&a, Bytes::from_static(b"doc-a"))
        .await
        .expect("put a");
    store
        .put_token(&b, Bytes::from_static(b"doc-b1"))
        .await
        .expect("put b");
    store
        .put_token(&b, Bytes::from_static(b"doc-b2"))
        .await
        .expect("replace b");
    let tokens = store.tokens().await.expect("tokens");
    assert_eq!(tokens.get(&a), Some(&Bytes::from_static(b"doc-a")));
    assert_eq!(
        tokens.get(&b),
        Some(&Bytes::from_static(b"doc-b2")),
        "replaced"
    );
    assert!(store.delete_token(&a).await.expect("delete a"), "a existed");
    assert!(
        !store.delete_token(&a).await.expect("delete a again"),
        "a is gone"
    );
    let tokens = store.tokens().await.expect("tokens");
    assert!(!tokens.contains_key(&a), "deleted: {tokens:?}");
    assert!(tokens.contains_key(&b), "kept: {tokens:?}");
}

pub async fn audit_keeps_the_newest(store: Arc<dyn StateStore>) {
    // Entries are unique to this test; other tests never write audit entries.
    let tag = unique("audit");
    for i in 0..5 {
        let entry = Bytes::from(format!("{tag}-{i}"));
        store.append_audit(entry, 3).await.expect("append");
    }
    let newest = store.audit(10).await.expect("audit");
    let expected: Vec<Bytes> = (2..5)
        .rev()
        .map(|i| Bytes::from(format!("{tag}-{i}")))
        .collect();
    assert_eq!(newest, expected, "the newest 3, newest first");
    let two = store.audit(2).await.expect("audit");
    assert_eq!(two, expected[..2].to_vec(), "limit");
}

/// A cancel request is seen by `cancel_requested`, wakes a `wait_cancel` already waiting, is
/// seen at once by a later one, and is no record of the task itself.
pub async fn cancel_marks_wake_and_stay(store: Arc<dyn StateStore>) {
    let id = unique("cancel");
    assert!(
        !store.cancel_requested(&id).await.expect("check"),
        "not yet"
    );
    let waiter = {
        let store = Arc::clone(&store);
        let id = id.clone();
        tokio::spawn(async move { store.wait_cancel(&id, LONG).await })
    };
    // Give the waiter time to subscribe; it must be woken either way.
    tokio::time::sleep(Duration::from_millis(50)).await;
    let asked = Instant::now();
    store.request_cancel(&id, LONG).await.expect("request");
    let woken = tokio::time::timeout(Duration::from_secs(10), waiter)
        .await
        .expect("woken, not timed out")
        .expect("waiter task")
        .expect("wait");
    assert!(woken, "the waiter saw the cancel");
    assert!(asked.elapsed() < Duration::from_secs(5), "woken promptly");
    assert!(store.cancel_requested(&id).await.expect("check"), "marked");
    assert!(
        store.wait_cancel(&id, SHORT).await.expect("wait"),
        "seen at once"
    );
    assert_eq!(
        store.get_record(&id).await.expect("get"),
        None,
        "the mark is not the task's record"
    );
    let other = unique("cancel-none");
    assert_eq!(
        store
            .cancels_among(&[other.as_str(), id.as_str(), other.as_str()])
            .await
            .expect("batch check"),
        vec![false, true, false],
        "a batch look answers each id in order"
    );
    assert!(
        !store
            .wait_cancel(&other, Duration::from_millis(100))
            .await
            .expect("wait")
    );
}

/// The leader lease keeps its token while renewed and, on a shared store, excludes a second
/// holder until it expires; a tick is claimed once, only with the current token, only forward.
pub async fn leader_lease_and_tick_claims(store: Arc<dyn StateStore>) {
    let lease = unique("lease");
    let first = store.lead(&lease, "a", LONG).await.expect("lead");
    let token = first.expect("the first holder leads");
    assert_eq!(
        store.lead(&lease, "a", LONG).await.expect("renew"),
        Some(token)
    );
    let schedule = unique("sched");
    assert_eq!(store.last_tick(&schedule).await.expect("last"), None);
    assert!(
        store
            .claim_tick(&lease, token, &schedule, 2000)
            .await
            .expect("claim")
    );
    assert!(
        !store
            .claim_tick(&lease, token, &schedule, 2000)
            .await
            .expect("claim"),
        "once"
    );
    assert!(
        !store
            .claim_tick(&lease, token, &schedule, 1000)
            .await
            .expect("claim"),
        "forward"
    );
    assert!(
        store
            .claim_tick(&lease, token, &schedule, 3000)
            .await
            .expect("claim")
    );
    assert_eq!(store.last_tick(&schedule).await.expect("last"), Some(3000));
    if !store.is_shared() {
        return;
    }
    assert_eq!(
        store.lead(&lease, "b", LONG).await.expect("lead"),
        None,
        "one holder"
    );
    let stale = token + 1_000_000;
    assert!(
        !store
            .claim_tick(&lease, stale, &schedule, 4000)
            .await
            .expect("claim"),
        "fenced"
    );
    let short = unique("lease-short");
    let old = store
        .lead(&short, "a", Duration::from_millis(300))
        .await
        .expect("lead");
    let old = old.expect("leads");
    let new = eventually_lead(&store, &short, "b").await;
    assert!(new > old, "a new tenure has a greater token: {new} > {old}");
    assert!(
        !store
            .claim_tick(&short, old, &schedule, 5000)
            .await
            .expect("claim"),
        "the old holder is fenced out"
    );
    assert!(
        store
            .claim_tick(&short, new, &schedule, 5000)
            .await
            .expect("claim")
    );
}

async fn eventually_lead(store: &Arc<dyn StateStore>, lease: &str, holder: &str) -> u64 {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(token) = store.lead(lease, holder, LONG).await.expect("lead") {
            return token;
        }
        assert!(
            Instant::now() < deadline,
            "the lease expires and {holder} takes it"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A join's slot is filled once (the first value stays), the count is of distinct slots, and
/// of many writers filling the slots at once each first write moves the count by one.
pub async fn joins_fill_each_slot_once(store: Arc<dyn StateStore>) {
    let join = unique("join");
    assert!(store.join_values(&join).await.expect("values").is_empty());
    let put = |slot, value: &'static [u8]| {
        let (store, join) = (Arc::clone(&store), join.clone());
        async move {
            store
                .join_put(&join, slot, Bytes::from_static(value), LONG)
                .await
                .expect("join put")
        }
    };
    assert_eq!(put(1, b"one").await, 1);
    assert_eq!(
        put(1, b"again").await,
        1,
        "a second write of a slot counts once"
    );
    assert_eq!(put(0, b"zero").await, 2);
    let values = store.join_values(&join).await.expect("values");
    let got: Vec<(u32, &[u8])> = values.iter().map(|(k, v)| (*k, v.as_ref())).collect();
    assert_eq!(
        got,
        vec![(0, &b"zero"[..]), (1, &b"one"[..])],
        "first value stays"
    );
    // 64 writers, each slot written twice: exactly one writer sees 64.
    let race = unique("join-race");
    let writers = (0..128u32).map(|i| {
        let (store, race) = (Arc::clone(&store), race.clone());
        tokio::spawn(async move {
            let value = Bytes::from(format!("{}", i % 64));
            store
                .join_put(&race, i % 64, value, LONG)
                .await
                .expect("put")
        })
    });
    let mut seen = std::collections::BTreeSet::new();
    for writer in writers {
        seen.insert(writer.await.expect("writer"));
    }
    // Each first write of a slot moved the count by one, so every count from 1 to 64 was seen
    // (a lost update would skip one); a second write sees the count of its moment.
    let expected: std::collections::BTreeSet<u32> = (1..=64).collect();
    assert_eq!(seen, expected, "every count seen once at least");
    assert_eq!(store.join_values(&race).await.expect("values").len(), 64);
    let short = unique("join-ttl");
    store
        .join_put(&short, 0, Bytes::from_static(b"x"), SHORT)
        .await
        .expect("put");
    eventually("a join expires after its ttl", || async {
        store.join_values(&short).await.is_ok_and(|v| v.is_empty())
    })
    .await;
}

use std::time::Duration;

use bytes::Bytes;

use super::*;

fn entry(id: &str, priority: u8, order: u64, due_ms: u64) -> Entry {
    Entry {
        message: Message {
            id: id.to_owned(),
            queue: "q".to_owned(),
            body: Bytes::from_static(b"{}"),
            priority,
            attempt: 1,
            requeues: 0,
            redeliveries: 0,
            published_ms: 0,
        },
        order,
        due_ms,
        state: State::Ready,
    }
}

fn ids(leased: &[(u64, u64, Message)]) -> Vec<&str> {
    leased.iter().map(|(_, _, m)| m.id.as_str()).collect()
}

#[test]
fn priority_then_fifo() {
    let mut index = QueueIndex::default();
    index.insert(1, entry("a", 0, 1, 0), 10);
    index.insert(2, entry("b", 5, 2, 0), 10);
    index.insert(3, entry("c", 5, 3, 0), 10);
    index.insert(4, entry("d", 12, 4, 0), 10);
    let mut token = 100;
    let leased = index.lease(10, 1000, || {
        token += 1;
        token
    });
    assert_eq!(ids(&leased), ["d", "b", "c", "a"]);
    assert_eq!(leased[0].2.priority, MAX_PRIORITY, "priority is clamped");
    assert_eq!(index.counts().leased, 4);
}

#[test]
fn delayed_becomes_ready_and_leases_expire() {
    let mut index = QueueIndex::default();
    index.insert(1, entry("a", 0, 1, 50), 10);
    assert_eq!(index.counts().delayed, 1);
    assert_eq!(index.next_wake(), Some(50));
    index.promote(49);
    assert!(index.lease(1, 100, || 7).is_empty());
    index.promote(50);
    let leased = index.lease(1, 100, || 7);
    assert_eq!(ids(&leased), ["a"]);
    index.renew(1, 7, 200).expect("token 7 holds the lease");
    index.promote(150);
    assert_eq!(
        index.counts().leased,
        1,
        "renewed lease outlives the first end"
    );
    index.promote(200);
    assert_eq!(index.counts().ready, 1);
    assert_eq!(index.renew(1, 7, 300), Err(LeaseLost));
    let again = index.lease(1, 300, || 8);
    assert_eq!(again[0].2.redeliveries, 1);
    let settled = index.settle(1, 7, Settlement::Ack, 250, 9);
    assert_eq!(settled, Err(LeaseLost), "the old token cannot settle");
}

#[test]
fn settle_variants() {
    let mut index = QueueIndex::default();
    index.insert(1, entry("a", 0, 1, 0), 0);
    index.lease(1, 100, || 1);
    let retry = Settlement::Retry {
        after: Duration::from_millis(40),
    };
    let Ok(Change::Updated(e)) = index.settle(1, 1, retry, 10, 2) else {
        panic!("retry updates the entry");
    };
    assert_eq!(
        (e.message.attempt, e.due_ms, e.state),
        (2, 50, State::Delayed)
    );
    index.promote(50);
    index.lease(1, 100, || 3);
    let Ok(Change::Updated(e)) = index.settle(1, 3, Settlement::Requeue, 60, 4) else {
        panic!("requeue updates the entry");
    };
    assert_eq!((e.message.attempt, e.message.requeues, e.order), (2, 1, 4));
    index.lease(1, 100, || 5);
    let dead = Settlement::DeadLetter {
        reason: "boom".to_owned(),
    };
    index
        .settle(1, 5, dead, 70, 6)
        .expect("token 5 holds the lease");
    assert_eq!(index.dead_letters(10)[0].reason, "boom");
    assert_eq!(index.dead_keys(Some(&["x".to_owned()])), Vec::<u64>::new());
    let revived = index.revive(1, 80, 9).expect("key 1 is dead");
    assert_eq!((revived.message.attempt, revived.state), (1, State::Ready));
    assert_eq!(
        index.counts(),
        QueueCounts {
            ready: 1,
            ..QueueCounts::default()
        }
    );
}

//! The conformance suites every broker and state store runs, one macro call each:
//!
//! ```ignore
//! mod conformance {
//!     wasmboost_broker::broker_conformance!(async { std::sync::Arc::new(MyBroker::new()) });
//!     wasmboost_broker::state_conformance!(async { std::sync::Arc::new(MyStore::new()) });
//! }
//! ```
//!
//! The factory is an async expression evaluated once per test. It yields a fixture: an
//! `Arc<impl Broker>` (or `Arc<dyn Broker>`), or a tuple `(fixture, guard)` whose guard (a temp
//! dir, a server handle) lives as long as the test. Tests make their own unique queue names and
//! task ids, so fixtures may share one server. The calling crate needs `tokio` (with `macros` and
//! `rt-multi-thread`) as a (dev-)dependency.
//!
//! - [`broker`]: the broker tests; [`state`]: the state store tests; [`kv`]: the state store's
//!   task key-value namespaces.

pub mod broker;
pub mod kv;
pub mod state;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use crate::broker::Broker;
use crate::state::StateStore;

/// Something a broker test can run against.
pub trait BrokerFixture: Send {
    fn broker(&self) -> Arc<dyn Broker>;
}

impl<B: Broker> BrokerFixture for Arc<B> {
    fn broker(&self) -> Arc<dyn Broker> {
        Arc::clone(self) as Arc<dyn Broker>
    }
}

impl BrokerFixture for Arc<dyn Broker> {
    fn broker(&self) -> Arc<dyn Broker> {
        Arc::clone(self)
    }
}

impl<F: BrokerFixture, G: Send> BrokerFixture for (F, G) {
    fn broker(&self) -> Arc<dyn Broker> {
        self.0.broker()
    }
}

/// Something a state store test can run against.
pub trait StateFixture: Send {
    fn store(&self) -> Arc<dyn StateStore>;
}

impl<S: StateStore> StateFixture for Arc<S> {
    fn store(&self) -> Arc<dyn StateStore> {
        Arc::clone(self) as Arc<dyn StateStore>
    }
}

impl StateFixture for Arc<dyn StateStore> {
    fn store(&self) -> Arc<dyn StateStore> {
        Arc::clone(self)
    }
}

impl<F: StateFixture, G: Send> StateFixture for (F, G) {
    fn store(&self) -> Arc<dyn StateStore> {
        self.0.store()
    }
}

/// How early a test accepts a delayed message: the design bound [`DUE_SLACK_MS`] plus 5 ms of
/// clock slack. Due times are whole milliseconds of the wall clock (truncation: up to 1 ms), and a
/// test measures with a second stamp or clock of its own (another 1 ms of truncation, and
/// `Instant` against `SystemTime`), so 2 ms would do on a quiet machine; 5 ms keeps NTP slew out.
/// A lost delay hop or a missing due check is early by 100 ms or more.
///
/// [`DUE_SLACK_MS`]: crate::DUE_SLACK_MS
pub const MAX_EARLY: Duration = Duration::from_millis(crate::DUE_SLACK_MS + 5);

/// A queue name (or key) no other test uses: `cf-<what>-<uuid>`.
pub fn unique(what: &str) -> String {
    format!("cf-{what}-{}", uuid::Uuid::now_v7().simple())
}

/// Generous: the machine running the suite may be loaded.
pub const DEADLINE: Duration = Duration::from_secs(10);

/// Poll `check` until it returns true, failing the test after [`DEADLINE`].
pub async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = Instant::now() + DEADLINE;
    while !check().await {
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Expands to one `#[tokio::test]` per broker conformance test, each running against a fresh
/// fixture from `$factory` (see the module docs).
#[macro_export]
macro_rules! broker_conformance {
    ($factory:expr) => {
        $crate::__conformance_tests!(broker, BrokerFixture, broker, $factory;
            publish_fetch_ack,
            invalid_queue_is_rejected,
            retry_with_delay,
            requeue_keeps_attempt,
            dead_letter_list_replay_purge,
            lease_expiry_redelivers,
            renew_keeps_leased,
            priority_order,
            delayed_visibility,
            batch_publish_1000,
            concurrent_consumers_disjoint,
            fetch_wait_wakes_on_publish,
            late_settle_is_lease_lost,
        );
    };
}

/// Expands to one `#[tokio::test]` per state store conformance test, each running against a
/// fresh fixture from `$factory` (see the module docs).
#[macro_export]
macro_rules! state_conformance {
    ($factory:expr) => {
        $crate::__conformance_tests!(state, StateFixture, store, $factory;
            records_replace_and_expire,
            wait_terminal_wakes,
            wait_terminal_times_out,
            dedup_marks_expire,
            pause_flags,
            modules,
            bindings,
            counters,
            counted_endings_count_once,
            batch_records_read_back_and_their_endings_count,
            heartbeats_expire,
            tokens_put_list_delete,
            audit_keeps_the_newest,
            cancel_marks_wake_and_stay,
            leader_lease_and_tick_claims,
            joins_fill_each_slot_once,
        );
        $crate::__conformance_tests!(kv, StateFixture, store, $factory;
            kv_operations,
            kv_atomic_under_concurrency,
            kv_ttl_expires,
            kv_quota_refuses,
            kv_namespaces_are_isolated,
        );
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __conformance_tests {
    ($suite:ident, $fixture:ident, $get:ident, $factory:expr; $($name:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                let fixture = $factory.await;
                let target = $crate::conformance::$fixture::$get(&fixture);
                $crate::conformance::$suite::$name(target).await;
            }
        )*
    };
}

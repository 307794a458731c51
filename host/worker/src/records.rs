//! [`Records`]: every task-record write goes through here — `queued`/`delayed` at publish (single
//! and batch alike), `running` once a task takes a while, `delayed`/`queued` when a message is put
//! back, and the record that ends an attempt, stored with its counter deltas in one durable step
//! where the store can (the embedded store), so counters agree with records after a crash.

use std::sync::Arc;
use std::time::Duration;

use wasmboost_broker::{StateError, StateStore};

use crate::record::TaskRecord;

/// How long an ending record keeps trying to reach the store through an outage.
const RETRY_FOR: Duration = Duration::from_secs(60);
/// First and longest pause between those tries.
const RETRY_MIN: Duration = Duration::from_millis(50);
const RETRY_MAX: Duration = Duration::from_secs(1);

/// The task-record writer of a host.
#[derive(Debug, Clone)]
pub(crate) struct Records {
    store: Arc<dyn StateStore>,
}

/// Whether an ending record's counts are already committed with it (`Stored`) or still to be
/// added by the caller (`CountLater`, for stores that cannot do both in one step).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Counted {
    Stored,
    CountLater,
}

impl Records {
    pub(crate) fn new(store: Arc<dyn StateStore>) -> Records {
        Records { store }
    }

    /// A record that counts nothing (queued, delayed, running).
    pub(crate) async fn put(&self, record: &TaskRecord, ttl: Duration) -> Result<(), StateError> {
        let terminal = record.state.is_terminal();
        self.store
            .put_record(&record.task_id, record.to_bytes(), terminal, ttl)
            .await
    }

    /// The `running` mark of a task that takes a while: never stored over a terminal record (a
    /// rerun after a crash must not undo the first run's durable ending; see
    /// `StateStore::put_progress`).
    pub(crate) async fn put_progress(
        &self,
        record: &TaskRecord,
        ttl: Duration,
    ) -> Result<(), StateError> {
        self.store
            .put_progress(&record.task_id, record.to_bytes(), ttl)
            .await
    }

    /// Many records that count nothing at once (a batch publish: `queued`/`delayed`), in one
    /// step where the store can.
    pub(crate) async fn put_all(
        &self,
        records: &[TaskRecord],
        ttl: Duration,
    ) -> Result<(), StateError> {
        let (ended, open): (Vec<&TaskRecord>, Vec<&TaskRecord>) =
            records.iter().partition(|r| r.state.is_terminal());
        for record in ended {
            self.put(record, ttl).await?;
        }
        let open: Vec<(String, bytes::Bytes)> = open
            .into_iter()
            .map(|r| (r.task_id.clone(), r.to_bytes()))
            .collect();
        self.store.put_records(&open, ttl).await
    }

    /// The record that ends an attempt, with its counter deltas. The delivery may be settled
    /// already, so nothing else would write this record: retry while the store is only
    /// unavailable, for a bounded time.
    pub(crate) async fn put_ending(
        &self,
        record: &TaskRecord,
        ttl: Duration,
        counts: &[(&str, i64)],
    ) -> Counted {
        let bytes = record.to_bytes();
        let terminal = record.state.is_terminal();
        let (id, queue) = (&record.task_id, &record.queue);
        let deadline = tokio::time::Instant::now() + RETRY_FOR;
        let mut pause = RETRY_MIN;
        loop {
            let put = self
                .store
                .put_record_counted(id, bytes.clone(), terminal, ttl, queue, counts)
                .await;
            match put {
                Ok(true) => return Counted::Stored,
                Ok(false) => return Counted::CountLater,
                Err(err)
                    if err.is_transient() && tokio::time::Instant::now() + pause < deadline =>
                {
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(RETRY_MAX);
                }
                Err(err) => {
                    tracing::warn!(task_id = %id, error = %err, "could not store the task record");
                    return Counted::CountLater;
                }
            }
        }
    }
}

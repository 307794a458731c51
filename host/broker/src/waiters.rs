//! In-process wake-ups for `StateStore::wait_terminal`: one `watch` channel per task id that
//! somebody waits on, fed by `put_record(.., terminal = true)`. No polling.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::watch;

use crate::error::StateError;

#[derive(Debug, Default)]
pub(crate) struct Waiters {
    map: Mutex<HashMap<String, watch::Sender<Option<Bytes>>>>,
}

impl Waiters {
    fn lock(&self) -> MutexGuard<'_, HashMap<String, watch::Sender<Option<Bytes>>>> {
        // The map holds only channels; a panic elsewhere cannot leave it inconsistent.
        self.map.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn subscribe(&self, task_id: &str) -> watch::Receiver<Option<Bytes>> {
        self.lock()
            .entry(task_id.to_owned())
            .or_insert_with(|| watch::channel(None).0)
            .subscribe()
    }

    /// Drop the channel of `task_id` once nobody waits on it any more.
    fn release(&self, task_id: &str) {
        let mut map = self.lock();
        if map.get(task_id).is_some_and(|tx| tx.receiver_count() == 0) {
            map.remove(task_id);
        }
    }

    /// Hand the terminal `record` of `task_id` to everybody waiting on it.
    pub fn wake(&self, task_id: &str, record: &Bytes) {
        if let Some(tx) = self.lock().remove(task_id) {
            tx.send_replace(Some(record.clone()));
        }
    }

    /// The terminal record of `task_id`: from `lookup` (the stored record and whether it is
    /// terminal) if it already is, else the first one handed to `wake`, or `None` after `timeout`.
    pub async fn wait<F>(
        &self,
        task_id: &str,
        timeout: Duration,
        lookup: impl FnOnce() -> F,
    ) -> Result<Option<Bytes>, StateError>
    where
        F: Future<Output = Result<Option<(Bytes, bool)>, StateError>>,
    {
        // Subscribe before looking, so a terminal put in between is not missed.
        let mut rx = self.subscribe(task_id);
        let found = match lookup().await {
            Ok(Some((record, true))) => Ok(Some(record)),
            Ok(_) => {
                let waited = tokio::time::timeout(timeout, rx.wait_for(Option::is_some)).await;
                Ok(match waited {
                    Ok(Ok(record)) => record.clone(),
                    _ => None,
                })
            }
            Err(e) => Err(e),
        };
        drop(rx);
        self.release(task_id);
        found
    }
}

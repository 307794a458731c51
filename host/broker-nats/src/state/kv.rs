//! The few key-value primitives every part of the state store is written with: get with its
//! revision, put, compare-and-set by revision (create when absent), delete, list keys, and a
//! CAS loop ([`Kv::update`]). A new state method is a key scheme plus these.
//!
//! Keys are base64url (no padding) of the caller's names, joined with `.`: that alphabet is
//! inside the one JetStream allows in keys, so no task id, queue name or dedup key can form a
//! key of another object.

use async_nats::jetstream::kv::{self, Operation, UpdateErrorKind};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bytes::Bytes;
use futures::TryStreamExt;
use wasmboost_broker::StateError;

use crate::error::state;

/// How often a CAS loop retries a lost race before it gives up (a key this hot is a bug).
const CAS_ROUNDS: usize = 1_000;

/// `parts` as one key.
pub(crate) fn key(parts: &[&str]) -> String {
    parts
        .iter()
        .map(|p| URL_SAFE_NO_PAD.encode(p.as_bytes()))
        .collect::<Vec<_>>()
        .join(".")
}

/// The names a key was made of.
pub(crate) fn parts(key: &str) -> Option<Vec<String>> {
    key.split('.')
        .map(|p| {
            let raw = URL_SAFE_NO_PAD.decode(p).ok()?;
            String::from_utf8(raw).ok()
        })
        .collect()
}

/// One bucket.
#[derive(Debug, Clone)]
pub(crate) struct Kv {
    store: kv::Store,
    client: async_nats::Client,
    name: &'static str,
}

impl Kv {
    pub(crate) fn new(store: kv::Store, client: async_nats::Client, name: &'static str) -> Self {
        Kv {
            store,
            client,
            name,
        }
    }

    fn err<E: std::fmt::Debug + std::fmt::Display>(&self, what: &str, e: E) -> StateError {
        state(&self.client, &format!("{what} in bucket {}", self.name), e)
    }

    /// The value of `key` and its revision (`None`: absent or deleted).
    pub(crate) async fn get(&self, key: &str) -> Result<Option<(Bytes, u64)>, StateError> {
        let entry = self
            .store
            .entry(key)
            .await
            .map_err(|e| self.err("get", e))?;
        Ok(entry
            .filter(|e| e.operation == Operation::Put)
            .map(|e| (e.value, e.revision)))
    }

    pub(crate) async fn put(&self, key: &str, value: Bytes) -> Result<u64, StateError> {
        self.store
            .put(key, value)
            .await
            .map_err(|e| self.err("put", e))
    }

    /// Write `value` only if `key` is still at `revision` (`None`: absent). `false`: it was not
    /// (another writer won; read again).
    pub(crate) async fn cas(
        &self,
        key: &str,
        value: Bytes,
        revision: Option<u64>,
    ) -> Result<bool, StateError> {
        match revision {
            None => match self.store.create(key, value).await {
                Ok(_) => Ok(true),
                Err(e) if e.kind() == kv::CreateErrorKind::AlreadyExists => Ok(false),
                Err(e) => Err(self.err("create", e)),
            },
            Some(rev) => match self.store.update(key, value, rev).await {
                Ok(_) => Ok(true),
                Err(e) if e.kind() == UpdateErrorKind::WrongLastRevision => Ok(false),
                Err(e) => Err(self.err("update", e)),
            },
        }
    }

    /// Read-modify-write `key` until it sticks: `change` gets the current value and returns
    /// the new one and what to answer (`None`: leave it as it is).
    pub(crate) async fn update<T>(
        &self,
        key: &str,
        mut change: impl FnMut(Option<&Bytes>) -> (Option<Bytes>, T),
    ) -> Result<T, StateError> {
        for _ in 0..CAS_ROUNDS {
            let current = self.get(key).await?;
            let (value, answer) = change(current.as_ref().map(|(v, _)| v));
            let Some(value) = value else {
                return Ok(answer);
            };
            if self.cas(key, value, current.map(|(_, rev)| rev)).await? {
                return Ok(answer);
            }
        }
        Err(StateError::Backend(format!(
            "key {key} of bucket {} changed under {CAS_ROUNDS} writes in a row",
            self.name
        )))
    }

    pub(crate) async fn delete(&self, key: &str) -> Result<(), StateError> {
        self.store
            .delete(key)
            .await
            .map_err(|e| self.err("delete", e))
    }

    /// Every live key of the bucket.
    pub(crate) async fn keys(&self) -> Result<Vec<String>, StateError> {
        let keys = self.store.keys().await.map_err(|e| self.err("keys", e))?;
        keys.try_collect().await.map_err(|e| self.err("keys", e))
    }

    /// Updates of `key` from its current value on.
    pub(crate) async fn watch(&self, key: &str) -> Result<kv::Watch, StateError> {
        self.store
            .watch_with_history(key)
            .await
            .map_err(|e| self.err("watch", e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip_and_stay_in_the_alphabet() {
        let k = key(&["q.with.dots", "a key/with spaces*>"]);
        assert!(
            k.chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)),
            "{k}"
        );
        assert_eq!(
            parts(&k),
            Some(vec![
                "q.with.dots".to_owned(),
                "a key/with spaces*>".to_owned()
            ])
        );
    }
}

//! [`Namespace`]: one queue's key-value namespace held in process memory, for the stores that
//! live in the host's process (memory, embedded). Expired entries are dropped when touched, and
//! all of them at once before a write would be refused, so a quota counts live entries only.

use std::collections::HashMap;

use bytes::Bytes;

use super::{Expiry, KvChange, KvOp, KvQuota, KvRefusal, KvReply, Usage, decide, entry_bytes};

/// One stored value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub value: Bytes,
    /// Milliseconds since the Unix epoch; `None`: never.
    pub expires_ms: Option<u64>,
}

impl Entry {
    fn live(&self, now_ms: u64) -> bool {
        self.expires_ms.is_none_or(|at| at > now_ms)
    }
}

/// What an applied operation changed, for a store that persists it: the key and its new entry
/// (`None`: removed).
pub type Written = (String, Option<Entry>);

/// See the module docs.
#[derive(Debug, Default)]
pub struct Namespace {
    entries: HashMap<String, Entry>,
    usage: Usage,
}

impl Namespace {
    /// A namespace holding `entries` (as loaded from disk); expired ones are left out.
    pub fn from_entries(entries: impl IntoIterator<Item = (String, Entry)>, now_ms: u64) -> Self {
        let mut ns = Namespace::default();
        for (key, entry) in entries {
            if entry.live(now_ms) {
                ns.insert(key, entry);
            }
        }
        ns
    }

    /// Apply `op` at `now_ms`. Returns the reply and every key whose stored entry changed
    /// (including expired entries dropped on the way), in order.
    pub fn apply(
        &mut self,
        op: &KvOp<'_>,
        quota: &KvQuota,
        now_ms: u64,
    ) -> Result<(KvReply, Vec<Written>), KvRefusal> {
        let key = op.key();
        let mut written = Vec::new();
        if self.entries.get(key).is_some_and(|e| !e.live(now_ms)) {
            self.remove(key);
            written.push((key.to_owned(), None));
        }
        let decided = match self.decide(op, quota) {
            Err(_) if self.purge(now_ms, &mut written) > 0 => self.decide(op, quota),
            other => other,
        };
        // On a refusal the expired entries dropped on the way are not reported: a store that
        // persists them skips expired rows when it loads them.
        let (reply, change) = decided?;
        match change {
            KvChange::None => {}
            KvChange::Delete => {
                self.remove(key);
                written.push((key.to_owned(), None));
            }
            KvChange::Put { value, expiry } => {
                let expires_ms = match expiry {
                    Expiry::Keep => self.entries.get(key).and_then(|e| e.expires_ms),
                    Expiry::Never => None,
                    Expiry::After(ttl) => Some(
                        now_ms.saturating_add(u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX)),
                    ),
                };
                let entry = Entry { value, expires_ms };
                self.remove(key);
                self.insert(key.to_owned(), entry.clone());
                written.push((key.to_owned(), Some(entry)));
            }
        }
        Ok((reply, written))
    }

    /// Every entry held (a store that keeps the whole namespace as one value writes these).
    pub fn entries(&self) -> impl Iterator<Item = (&String, &Entry)> {
        self.entries.iter()
    }

    fn decide(&self, op: &KvOp<'_>, quota: &KvQuota) -> Result<(KvReply, KvChange), KvRefusal> {
        let current = self.entries.get(op.key()).map(|e| &e.value[..]);
        decide(op, current, self.usage, quota)
    }

    /// Drop every expired entry; how many.
    fn purge(&mut self, now_ms: u64, written: &mut Vec<Written>) -> usize {
        let expired: Vec<String> = self
            .entries
            .iter()
            .filter(|(_, e)| !e.live(now_ms))
            .map(|(k, _)| k.clone())
            .collect();
        for key in &expired {
            self.remove(key);
            written.push((key.clone(), None));
        }
        expired.len()
    }

    fn insert(&mut self, key: String, entry: Entry) {
        self.usage.keys += 1;
        self.usage.bytes += entry_bytes(&key, &entry.value);
        self.entries.insert(key, entry);
    }

    fn remove(&mut self, key: &str) {
        if let Some(old) = self.entries.remove(key) {
            self.usage.keys -= 1;
            self.usage.bytes -= entry_bytes(key, &old.value);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    const QUOTA: KvQuota = KvQuota {
        max_keys: 1,
        max_value_bytes: 100,
        max_total_bytes: 100,
    };

    #[test]
    fn expired_entries_free_their_quota() {
        let mut ns = Namespace::default();
        let ttl = Some(Duration::from_millis(10));
        let set = |key| KvOp::Set {
            key,
            value: b"v",
            ttl,
        };
        ns.apply(&set("a"), &QUOTA, 1000).expect("first key");
        let err = ns.apply(&set("b"), &QUOTA, 1005).expect_err("one key");
        assert_eq!(err, KvRefusal::TooManyKeys { max: 1 });
        let (_, written) = ns.apply(&set("b"), &QUOTA, 1010).expect("a expired");
        assert_eq!(written[0], ("a".to_owned(), None), "{written:?}");
        let get = KvOp::Get { key: "a" };
        assert_eq!(
            ns.apply(&get, &QUOTA, 1010).expect("get").0,
            KvReply::Value(None)
        );
    }

    #[test]
    fn increment_keeps_the_expiry() {
        let mut ns = Namespace::default();
        let op = KvOp::Set {
            key: "n",
            value: b"1",
            ttl: Some(Duration::from_millis(50)),
        };
        ns.apply(&op, &QUOTA, 0).expect("set");
        let inc = KvOp::Increment { key: "n", delta: 2 };
        let (reply, written) = ns.apply(&inc, &QUOTA, 10).expect("inc");
        assert_eq!(reply, KvReply::Counted(3));
        assert_eq!(written[0].1.as_ref().and_then(|e| e.expires_ms), Some(50));
    }
}

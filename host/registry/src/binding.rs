//! The binding document of a queue: every version deployed to it and which one is current.
//! Stored whole under the queue's name in the state store (`put_binding` is atomic), as JSON so
//! an operator can read it.

use serde::{Deserialize, Serialize};

use crate::error::RegistryError;

/// Version of the document layout, so a later layout can be told apart.
const FORMAT: u32 = 1;

/// One deployed version of a queue's module.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Version {
    /// 1, 2, 3, ... per queue, in deploy order.
    pub number: u32,
    /// Hex sha256 of the component bytes: the blob's name in the module store.
    pub sha256: String,
    /// Component size in bytes.
    pub size: u64,
    /// When it was deployed, ms since the Unix epoch.
    pub deployed_ms: u64,
    /// Whether the queue is bound to this version now.
    pub current: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Entry {
    number: u32,
    sha256: String,
    size: u64,
    deployed_ms: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Binding {
    format: u32,
    current: u32,
    /// Ascending by number, never empty.
    versions: Vec<Entry>,
}

impl Binding {
    /// Read a stored document, checking that it is consistent.
    pub(crate) fn decode(queue: &str, bytes: &[u8]) -> Result<Binding, RegistryError> {
        let corrupt = |detail: String| RegistryError::Corrupt {
            what: format!("the binding of queue {queue:?}"),
            detail,
        };
        let binding: Binding = serde_json::from_slice(bytes).map_err(|e| corrupt(e.to_string()))?;
        if binding.format != FORMAT {
            return Err(corrupt(format!("unknown format {}", binding.format)));
        }
        if binding.entry(binding.current).is_none() {
            return Err(corrupt(format!(
                "current version {} is not listed",
                binding.current
            )));
        }
        Ok(binding)
    }

    pub(crate) fn encode(&self) -> Vec<u8> {
        // Plain structs of strings and integers always serialize.
        serde_json::to_vec(self).unwrap_or_default()
    }

    pub(crate) fn versions(&self) -> Vec<Version> {
        self.versions.iter().map(|e| self.version(e)).collect()
    }

    pub(crate) fn current(&self) -> Version {
        // `decode` and the constructors guarantee the current entry exists; the fallback keeps
        // this total anyway.
        let entry = self.entry(self.current).unwrap_or(&self.versions[0]);
        self.version(entry)
    }

    /// The document after deploying `sha256`. Deploying the bytes that are already current
    /// changes nothing (a repeated deploy is idempotent); any other deploy, even of an older
    /// version's bytes, gets the next number.
    pub(crate) fn deploy(
        previous: Option<Binding>,
        sha256: &str,
        size: u64,
        now_ms: u64,
    ) -> (Binding, bool) {
        let Some(mut binding) = previous else {
            let entry = Entry {
                number: 1,
                sha256: sha256.to_owned(),
                size,
                deployed_ms: now_ms,
            };
            let binding = Binding {
                format: FORMAT,
                current: 1,
                versions: vec![entry],
            };
            return (binding, true);
        };
        if binding.current().sha256 == sha256 {
            return (binding, false);
        }
        let number = binding.versions.iter().map(|e| e.number).max().unwrap_or(0) + 1;
        binding.versions.push(Entry {
            number,
            sha256: sha256.to_owned(),
            size,
            deployed_ms: now_ms,
        });
        binding.current = number;
        (binding, true)
    }

    /// Forget all but the `keep` newest versions (the current one always stays, even when it is
    /// older). Returns the sha256 of every version forgotten; a sha may still be named by a
    /// version that stays (the same bytes deployed twice).
    pub(crate) fn trim(&mut self, keep: usize) -> Vec<String> {
        let keep = keep.max(1);
        if self.versions.len() <= keep {
            return Vec::new();
        }
        let mut newest: Vec<u32> = self.versions.iter().map(|e| e.number).collect();
        newest.sort_unstable_by(|a, b| b.cmp(a));
        newest.truncate(keep);
        let current = self.current;
        let (kept, dropped): (Vec<Entry>, Vec<Entry>) = std::mem::take(&mut self.versions)
            .into_iter()
            .partition(|e| e.number == current || newest.contains(&e.number));
        self.versions = kept;
        dropped.into_iter().map(|e| e.sha256).collect()
    }

    /// Every sha256 this document names.
    pub(crate) fn shas(&self) -> impl Iterator<Item = &str> {
        self.versions.iter().map(|e| e.sha256.as_str())
    }

    /// Rebind to `to`, or to the highest version below the current one.
    pub(crate) fn rollback(&mut self, queue: &str, to: Option<u32>) -> Result<(), RegistryError> {
        let target = match to {
            Some(number) if self.entry(number).is_some() => number,
            Some(number) => {
                return Err(RegistryError::NoSuchVersion {
                    queue: queue.to_owned(),
                    version: number,
                    available: self.versions.iter().map(|e| e.number).collect(),
                });
            }
            None => self
                .versions
                .iter()
                .map(|e| e.number)
                .filter(|n| *n < self.current)
                .max()
                .ok_or_else(|| RegistryError::NoPreviousVersion {
                    queue: queue.to_owned(),
                    current: self.current,
                })?,
        };
        self.current = target;
        Ok(())
    }

    fn entry(&self, number: u32) -> Option<&Entry> {
        self.versions.iter().find(|e| e.number == number)
    }

    fn version(&self, entry: &Entry) -> Version {
        Version {
            number: entry.number,
            sha256: entry.sha256.clone(),
            size: entry.size,
            deployed_ms: entry.deployed_ms,
            current: entry.number == self.current,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deployed(shas: &[&str]) -> Binding {
        let mut binding = None;
        for (i, sha) in shas.iter().enumerate() {
            binding = Some(Binding::deploy(binding, sha, 10, i as u64).0);
        }
        binding.expect("at least one deploy")
    }

    fn numbers(b: &Binding) -> Vec<(u32, bool)> {
        b.versions().iter().map(|v| (v.number, v.current)).collect()
    }

    #[test]
    fn deploys_number_versions_and_move_current() {
        let b = deployed(&["a", "b", "c"]);
        assert_eq!(numbers(&b), [(1, false), (2, false), (3, true)]);
        assert_eq!(b.current().sha256, "c");
    }

    #[test]
    fn redeploying_the_current_bytes_is_idempotent() {
        let b = deployed(&["a", "b"]);
        let (again, changed) = Binding::deploy(Some(b.clone()), "b", 10, 99);
        assert!(!changed);
        assert_eq!(again, b);
        let (older, changed) = Binding::deploy(Some(b), "a", 10, 99);
        assert!(changed, "an older version's bytes get a new number");
        assert_eq!(older.current().number, 3);
        assert_eq!(older.current().sha256, "a");
    }

    #[test]
    fn rollback_to_previous_and_to_a_number() {
        let mut b = deployed(&["a", "b", "c"]);
        b.rollback("q", None).expect("has a previous version");
        assert_eq!(b.current().number, 2);
        b.rollback("q", None).expect("has a previous version");
        assert_eq!(b.current().number, 1);
        let err = b.rollback("q", None).expect_err("nothing before 1");
        assert_eq!(
            err.to_string(),
            "queue \"q\" has no version before 1 to roll back to"
        );
        b.rollback("q", Some(3)).expect("version 3 exists");
        assert_eq!(b.current().sha256, "c");
        let err = b.rollback("q", Some(7)).expect_err("no version 7");
        assert_eq!(
            err.to_string(),
            "queue \"q\" has no version 7 (versions: 1, 2, 3)"
        );
        assert_eq!(b.current().number, 3, "a failed rollback changes nothing");
    }

    #[test]
    fn deploy_after_rollback_takes_the_next_free_number() {
        let mut b = deployed(&["a", "b"]);
        b.rollback("q", Some(1)).expect("version 1 exists");
        let (b, _) = Binding::deploy(Some(b), "c", 10, 5);
        assert_eq!(numbers(&b), [(1, false), (2, false), (3, true)]);
    }

    #[test]
    fn trim_keeps_the_newest_versions_and_the_current_one() {
        let mut b = deployed(&["a", "b", "c", "d"]);
        assert_eq!(b.trim(2), ["a", "b"]);
        assert_eq!(numbers(&b), [(3, false), (4, true)]);
        assert!(b.trim(2).is_empty(), "nothing more to drop");
        let mut b = deployed(&["a", "b", "c", "d"]);
        b.rollback("q", Some(1)).expect("version 1 exists");
        assert_eq!(b.trim(2), ["b"]);
        assert_eq!(numbers(&b), [(1, true), (3, false), (4, false)]);
        assert_eq!(b.current().sha256, "a");
    }

    #[test]
    fn documents_round_trip_and_bad_ones_are_corrupt() {
        let b = deployed(&["a", "b"]);
        assert_eq!(Binding::decode("q", &b.encode()).expect("round trip"), b);
        let err = Binding::decode("q", b"{nope").expect_err("not json");
        assert!(
            err.to_string()
                .starts_with("corrupt registry data for the binding of queue \"q\"")
        );
        let dangling = br#"{"format":1,"current":4,"versions":[{"number":1,"sha256":"a","size":1,"deployed_ms":1}]}"#;
        let err = Binding::decode("q", dangling).expect_err("current not listed");
        assert!(
            err.to_string().contains("current version 4 is not listed"),
            "{err}"
        );
    }
}

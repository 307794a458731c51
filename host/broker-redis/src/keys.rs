//! Every key and channel this crate uses, in one place (the README's key table mirrors it).
//!
//! Key layout 2: after `<prefix>:` comes a one-letter type, so no queue name and no task id can
//! ever address another object's key:
//!
//! - `<prefix>:q:{<queue>}:<what>` — a queue's keys. A queue name has no `:`, `{` or `}`
//!   (`wasmboost_policy::names`), so `q:{<queue>}:` is one queue's namespace and nobody
//!   else's. The braces are a Redis Cluster hash tag: all of a queue's keys hash to one slot,
//!   which the multi-key Lua scripts need on a cluster.
//! - `<prefix>:t:<task_id>` (records), `<prefix>:d:<task_id>` (done channel),
//!   `<prefix>:m:<sha256>` (modules), `<prefix>:h:<host_id>` (heartbeats): whatever follows the
//!   type letter is the id, so ids (any bytes) only ever meet ids of their own type.
//! - `<prefix>:g:<name>` — the few global keys, with fixed names.
//!
//! On a Redis Cluster every script, `MULTI` and pipeline must touch one slot. Queue scripts
//! and writers already do (the queue's hash tag; single-key steps otherwise). Two things differ
//! there, and only there (a single server keeps its names and steps, so its data and speed are
//! as before): the leader leases, their token counters and the schedules' last ticks, which
//! `lead` and `claim` use together, share the tag `{lease}`; and a counted task ending leaves a
//! mark `<prefix>:q:{<queue>}:ended:<task_id>` in its queue's slot, since the record itself
//! lives in another (see `records`).
//!
//! The Lua scripts get a queue's namespace (`<prefix>:q:{<queue>}:`) as ARGV[1] and append the
//! fixed suffixes. `layout` migrates data written with layout 1 (`<prefix>:<queue>:stream`,
//! `<prefix>:task:<id>`, ...), whose names collided.

/// Number of priority levels, 0..=9.
pub(crate) const LEVELS: u8 = 10;
/// The key layout this crate writes, stored in `<prefix>:g:layout`.
pub(crate) const LAYOUT: &str = "2";

/// Names of one deployment's keys (one `prefix`).
#[derive(Debug, Clone)]
pub(crate) struct Keys {
    prefix: String,
    /// On a Redis Cluster (slot-safe names for the keys scripts use together).
    cluster: bool,
}

impl Keys {
    #[cfg(test)]
    pub(crate) fn new(prefix: &str) -> Self {
        Keys {
            prefix: prefix.to_owned(),
            cluster: false,
        }
    }

    /// The names on a Redis Cluster (`cluster`) or on one server.
    pub(crate) fn on(prefix: &str, cluster: bool) -> Self {
        Keys {
            prefix: prefix.to_owned(),
            cluster,
        }
    }

    pub(crate) fn is_cluster(&self) -> bool {
        self.cluster
    }

    pub(crate) fn prefix(&self) -> &str {
        &self.prefix
    }

    /// `<prefix>:q:{<queue>}:` — what the scripts receive as ARGV[1].
    pub(crate) fn queue(&self, queue: &str) -> String {
        format!("{}:q:{{{queue}}}:", self.prefix)
    }

    /// The stream of one priority level. Level 0 has no suffix, so a foreign producer's plain
    /// `XADD <prefix>:q:{<queue>}:stream * body ...` lands on the default priority.
    pub(crate) fn stream(&self, queue: &str, level: u8) -> String {
        if level == 0 {
            format!("{}stream", self.queue(queue))
        } else {
            format!("{}stream:{level}", self.queue(queue))
        }
    }

    pub(crate) fn dead(&self, queue: &str) -> String {
        format!("{}dead", self.queue(queue))
    }

    pub(crate) fn dedup(&self, queue: &str, key: &str) -> String {
        format!("{}dedup:{key}", self.queue(queue))
    }

    pub(crate) fn binding(&self, queue: &str) -> String {
        format!("{}binding", self.queue(queue))
    }

    pub(crate) fn counters(&self, queue: &str) -> String {
        format!("{}counters", self.queue(queue))
    }

    /// A queue's task key-value namespace: values (a hash: task keys are fields, so no key can
    /// name another queue's), their expiries (a sorted set) and the bytes held.
    pub(crate) fn kv(&self, queue: &str) -> [String; 3] {
        let ns = self.queue(queue);
        [
            format!("{ns}kv"),
            format!("{ns}kv-expiry"),
            format!("{ns}kv-bytes"),
        ]
    }

    pub(crate) fn rate(&self, queue: &str) -> String {
        format!("{}rate", self.queue(queue))
    }

    pub(crate) fn task(&self, task_id: &str) -> String {
        format!("{}:t:{task_id}", self.prefix)
    }

    /// Channel on which a task's terminal record is published.
    pub(crate) fn done_channel(&self, task_id: &str) -> String {
        format!("{}:d:{task_id}", self.prefix)
    }

    pub(crate) fn module(&self, sha256: &str) -> String {
        format!("{}:m:{sha256}", self.prefix)
    }

    pub(crate) fn host(&self, host_id: &str) -> String {
        format!("{}:h:{host_id}", self.prefix)
    }

    /// A global key: `paused`, `bound`, `hosts`, `layout`, `migrating`.
    pub(crate) fn global(&self, name: &str) -> String {
        format!("{}:g:{name}", self.prefix)
    }

    /// A leader lease (`holder`, `token`) and the counter its tokens come from.
    pub(crate) fn lease(&self, lease: &str) -> (String, String) {
        if self.cluster {
            return (
                self.global(&format!("{{lease}}:holder:{lease}")),
                self.global(&format!("{{lease}}:token:{lease}")),
            );
        }
        (
            self.global(&format!("lease:{lease}")),
            self.global(&format!("lease-token:{lease}")),
        )
    }

    /// On a cluster: the mark that `task_id`'s ending was counted in `queue`'s counters.
    pub(crate) fn ended(&self, queue: &str, task_id: &str) -> String {
        format!("{}ended:{task_id}", self.queue(queue))
    }

    /// A workflow join: a hash of slot -> value. The join id is the host's own (a workflow id
    /// and a stage), never a caller's text.
    pub(crate) fn join(&self, join: &str) -> String {
        self.global(&format!("join:{join}"))
    }

    /// Every schedule's last tick, by schedule name.
    pub(crate) fn schedule_lasts(&self) -> String {
        if self.cluster {
            return self.global("{lease}:schedule-last");
        }
        self.global("schedule-last")
    }

    pub(crate) fn paused(&self) -> String {
        self.global("paused")
    }

    pub(crate) fn bound(&self) -> String {
        self.global("bound")
    }

    pub(crate) fn hosts(&self) -> String {
        self.global("hosts")
    }

    /// Which key layout the data under this prefix uses ([`LAYOUT`]).
    pub(crate) fn layout(&self) -> String {
        self.global("layout")
    }

    /// Held by the host migrating the data to this layout.
    pub(crate) fn migration_lock(&self) -> String {
        self.global("migrating")
    }

    /// Hash of API token documents by token id (global: the `g:` part of the v2 layout).
    pub(crate) fn tokens(&self) -> String {
        format!("{}:g:tokens", self.prefix)
    }

    /// List of audit entries, newest first, capped with `LTRIM`.
    pub(crate) fn audit(&self) -> String {
        format!("{}:g:audit", self.prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queue_keys_share_the_script_prefix() {
        let k = Keys::new("wasmboost");
        assert_eq!(k.stream("add", 0), "wasmboost:q:{add}:stream");
        assert_eq!(k.stream("add", 7), "wasmboost:q:{add}:stream:7");
        for key in [k.stream("add", 3), k.dead("add"), k.rate("add")] {
            assert!(key.starts_with(&k.queue("add")), "{key}");
        }
    }

    /// The keys `lead` and `claim` use together share one cluster slot; on one server they
    /// keep their names.
    #[test]
    fn lease_keys_share_a_slot_on_a_cluster() {
        let tag = |key: &str| {
            key.split_once('{')
                .and_then(|(_, r)| r.split_once('}'))
                .map(|(t, _)| t.to_owned())
        };
        let k = Keys::on("wb", true);
        let (holder, token) = k.lease("schedules");
        for key in [holder, token, k.schedule_lasts()] {
            assert_eq!(tag(&key).as_deref(), Some("lease"), "{key}");
        }
        let single = Keys::new("wb");
        assert_eq!(single.lease("s").0, "wb:g:lease:s");
        assert_eq!(single.schedule_lasts(), "wb:g:schedule-last");
    }

    /// The attack of issue 11: with layout 1, task id `stream` was queue `task`'s stream.
    #[test]
    fn no_task_id_names_a_queue_key() {
        let k = Keys::new("wasmboost");
        let words = [
            "stream", "stream:1", "dead", "binding", "counters", "rate", "delayed", "parked",
            "reclaim", "paused", "bound", "hosts", "layout", "task", "t", "q", "g", "m", "h",
        ];
        let queue_keys: Vec<String> = ["task", "t", "q", "g", "m", "h", "other"]
            .iter()
            .flat_map(|q| {
                let mut keys = vec![k.dead(q), k.binding(q), k.counters(q), k.rate(q)];
                keys.extend((0..LEVELS).map(|l| k.stream(q, l)));
                keys.extend(["delayed", "parked", "reclaim"].map(|s| format!("{}{s}", k.queue(q))));
                keys
            })
            .collect();
        let globals = [
            k.paused(),
            k.bound(),
            k.hosts(),
            k.layout(),
            k.migration_lock(),
        ];
        for word in words {
            for id_key in [k.task(word), k.module(word), k.host(word)] {
                assert!(!queue_keys.contains(&id_key), "{id_key}");
                assert!(!globals.contains(&id_key), "{id_key}");
            }
        }
    }
}

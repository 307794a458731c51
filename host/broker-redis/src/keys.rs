//! Every key and channel this crate uses, in one place (the README's key table mirrors it).
//! Queue keys share the prefix `<prefix>:<queue>:` so one queue's data can be found with
//! `SCAN MATCH <prefix>:<queue>:*`; the Lua scripts derive the per-queue keys from it.

/// Number of priority levels, 0..=9.
pub(crate) const LEVELS: u8 = 10;

/// Names of one deployment's keys (one `prefix`).
#[derive(Debug, Clone)]
pub(crate) struct Keys {
    prefix: String,
}

impl Keys {
    pub(crate) fn new(prefix: &str) -> Self {
        Keys {
            prefix: prefix.to_owned(),
        }
    }

    /// `<prefix>:<queue>:` — what the scripts receive as ARGV[1].
    pub(crate) fn queue(&self, queue: &str) -> String {
        format!("{}:{queue}:", self.prefix)
    }

    /// The stream of one priority level. Level 0 has no suffix, so a foreign producer's plain
    /// `XADD <prefix>:<queue>:stream * body ...` lands on the default priority.
    pub(crate) fn stream(&self, queue: &str, level: u8) -> String {
        if level == 0 {
            format!("{}:{queue}:stream", self.prefix)
        } else {
            format!("{}:{queue}:stream:{level}", self.prefix)
        }
    }

    pub(crate) fn dead(&self, queue: &str) -> String {
        format!("{}:{queue}:dead", self.prefix)
    }

    pub(crate) fn dedup(&self, queue: &str, key: &str) -> String {
        format!("{}:{queue}:dedup:{key}", self.prefix)
    }

    pub(crate) fn binding(&self, queue: &str) -> String {
        format!("{}:{queue}:binding", self.prefix)
    }

    pub(crate) fn counters(&self, queue: &str) -> String {
        format!("{}:{queue}:counters", self.prefix)
    }

    pub(crate) fn rate(&self, queue: &str) -> String {
        format!("{}:{queue}:rate", self.prefix)
    }

    pub(crate) fn task(&self, task_id: &str) -> String {
        format!("{}:task:{task_id}", self.prefix)
    }

    /// Channel on which a task's terminal record is published.
    pub(crate) fn done_channel(&self, task_id: &str) -> String {
        format!("{}:done:{task_id}", self.prefix)
    }

    pub(crate) fn module(&self, sha256: &str) -> String {
        format!("{}:module:{sha256}", self.prefix)
    }

    pub(crate) fn paused(&self) -> String {
        format!("{}:paused", self.prefix)
    }

    pub(crate) fn bound(&self) -> String {
        format!("{}:bound", self.prefix)
    }

    pub(crate) fn host(&self, host_id: &str) -> String {
        format!("{}:host:{host_id}", self.prefix)
    }

    pub(crate) fn hosts(&self) -> String {
        format!("{}:hosts", self.prefix)
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
        assert_eq!(k.stream("add", 0), "wasmboost:add:stream");
        assert_eq!(k.stream("add", 7), "wasmboost:add:stream:7");
        for key in [k.stream("add", 3), k.dead("add"), k.rate("add")] {
            assert!(key.starts_with(&k.queue("add")), "{key}");
        }
    }
}

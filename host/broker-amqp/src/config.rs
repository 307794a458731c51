//! `[broker] type = "amqp"`: where RabbitMQ is, and where the state it cannot hold is kept.
//! Strict: unknown keys are errors.

use serde::Deserialize;

/// Settings of the RabbitMQ broker.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AmqpConfig {
    /// e.g. `amqp://guest:guest@127.0.0.1:5672/%2f`.
    pub url: String,
    /// Other nodes of the same RabbitMQ cluster (`amqp://` or `amqps://` each): when the
    /// connection is lost, the host reconnects to the next node of `url` + these that answers.
    /// With quorum queues it carries on through any live node.
    #[serde(default)]
    pub failover_urls: Vec<String>,
    /// Redis URL for the shared state store (results, dedup, pause flags, modules, counters);
    /// required with more than one host. Unset: the state is kept in this host's embedded store.
    #[serde(default)]
    pub state_redis_url: Option<String>,
    /// The kind of RabbitMQ queue wasmboost declares: `classic` (the default; priorities 0–9) or
    /// `quorum` (replicated over a RabbitMQ cluster's nodes, survives the loss of a minority;
    /// priorities are not kept: see the crate README).
    #[serde(default)]
    pub queue_type: QueueType,
}

/// `queue_type`: how RabbitMQ keeps wasmboost's queues.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum QueueType {
    /// One node's queue, with `x-max-priority`.
    #[default]
    Classic,
    /// A Raft-replicated queue (`x-queue-type: quorum`) on every node of the cluster.
    Quorum,
}

impl QueueType {
    /// The name RabbitMQ and the config use.
    pub fn name(self) -> &'static str {
        match self {
            QueueType::Classic => "classic",
            QueueType::Quorum => "quorum",
        }
    }
}

impl AmqpConfig {
    /// Checked before connecting.
    pub fn validate(&self) -> Result<(), String> {
        for url in self.urls() {
            if !(url.starts_with("amqp://") || url.starts_with("amqps://")) {
                return Err(format!(
                    "url {:?} must start with amqp:// or amqps://",
                    redact(&url)
                ));
            }
        }
        if self.state_redis_url.as_deref() == Some("") {
            return Err("state_redis_url must not be empty (leave it out instead)".to_owned());
        }
        Ok(())
    }

    /// `url`, then `failover_urls`: the nodes in the order they are tried.
    pub fn urls(&self) -> Vec<String> {
        std::iter::once(&self.url)
            .chain(&self.failover_urls)
            .cloned()
            .collect()
    }
}

/// `url` without its password, for error messages.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            format!("{}***{}", &url[..scheme + 3], &url[at..])
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_url_without_the_amqp_scheme_is_refused_without_its_password() {
        let config = AmqpConfig {
            url: "redis://user:hunter2@host/".to_owned(),
            failover_urls: Vec::new(),
            state_redis_url: None,
            queue_type: QueueType::Classic,
        };
        let err = config.validate().expect_err("not an amqp url");
        assert!(err.contains("amqp://"), "{err}");
        assert!(!err.contains("hunter2"), "{err}");
    }

    #[test]
    fn queue_type_is_classic_unless_quorum_is_named() {
        let default: AmqpConfig = toml::from_str("url = \"amqp://h/\"\n").expect("valid");
        assert_eq!(default.queue_type, QueueType::Classic);
        let quorum: AmqpConfig =
            toml::from_str("url = \"amqp://h/\"\nqueue_type = \"quorum\"\n").expect("valid");
        assert_eq!(quorum.queue_type, QueueType::Quorum);
        let err = toml::from_str::<AmqpConfig>("url = \"amqp://h/\"\nqueue_type = \"stream\"\n")
            .expect_err("streams are not work queues");
        assert!(err.to_string().contains("stream"), "{err}");
    }

    #[test]
    fn failover_urls_follow_url_and_each_is_checked() {
        let config: AmqpConfig = toml::from_str(
            "url = \"amqp://a/\"\nfailover_urls = [\"amqp://b/\", \"amqps://c/\"]\n",
        )
        .expect("valid");
        assert_eq!(config.urls(), ["amqp://a/", "amqp://b/", "amqps://c/"]);
        assert_eq!(config.validate(), Ok(()));
        let bad: AmqpConfig =
            toml::from_str("url = \"amqp://a/\"\nfailover_urls = [\"http://u:hunter2@b/\"]\n")
                .expect("parses");
        let err = bad.validate().expect_err("not an amqp url");
        assert!(
            err.contains("http://***@b/") && !err.contains("hunter2"),
            "{err}"
        );
    }

    #[test]
    fn unknown_keys_are_refused() {
        let err = toml::from_str::<AmqpConfig>("url = \"amqp://h/\"\nprefetch = 5\n")
            .expect_err("prefetch is no key");
        assert!(err.to_string().contains("prefetch"), "{err}");
    }
}

//! What a host runs on: a broker for the queues and a state store for everything queues cannot
//! hold. The composition root (`wasmboost-backends`) opens one from the `[broker]` table; the
//! worker takes it as is and compiles no broker client.

use std::sync::Arc;

use crate::{Broker, StateStore};

/// The result of a broker crate's `open`: its broker, and its state store when it keeps state
/// itself (`None`: the host keeps state in its embedded store).
pub type Opened = (Arc<dyn Broker>, Option<Arc<dyn StateStore>>);

/// A broker and the state store that goes with it.
#[derive(Clone)]
#[allow(missing_debug_implementations)] // trait objects; nothing to show
pub struct Backend {
    pub broker: Arc<dyn Broker>,
    pub store: Arc<dyn StateStore>,
    /// The broker's settles and the store's writes go through one commit (the embedded broker
    /// on its own store; the memory broker, which keeps nothing): a task's ending record and its
    /// settle may then be sent together. Otherwise the record is made durable first, so a host
    /// killed between the two runs the task again rather than losing its record and counts.
    pub one_commit: bool,
}

/// The broker a host uses when `[broker]` names none.
pub const DEFAULT_TYPE: &str = "embedded";

/// The `[broker]` table of the host's config: `type` names the broker (default
/// [`DEFAULT_TYPE`]); the other keys are that broker's own settings, parsed strictly by the
/// composition root (`wasmboost-backends`), which is the one place that knows the brokers.
#[derive(Debug, Clone, PartialEq)]
pub struct BrokerSection {
    kind: String,
    settings: toml::Table,
}

impl Default for BrokerSection {
    fn default() -> Self {
        BrokerSection::new(DEFAULT_TYPE)
    }
}

impl BrokerSection {
    /// A `[broker]` of type `kind` with no settings (each at its default).
    pub fn new(kind: impl Into<String>) -> Self {
        BrokerSection {
            kind: kind.into(),
            settings: toml::Table::new(),
        }
    }

    /// The `type` string.
    pub fn kind(&self) -> &str {
        &self.kind
    }

    /// Every key but `type`.
    pub fn settings(&self) -> &toml::Table {
        &self.settings
    }

    /// One setting (tests and tools that inspect a config).
    pub fn setting(&self, key: &str) -> Option<&toml::Value> {
        self.settings.get(key)
    }
}

impl serde::Serialize for BrokerSection {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut table = self.settings.clone();
        table.insert("type".to_owned(), toml::Value::String(self.kind.clone()));
        table.serialize(serializer)
    }
}

impl<'de> serde::Deserialize<'de> for BrokerSection {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let mut settings = toml::Table::deserialize(deserializer)?;
        let kind = match settings.remove("type") {
            None => DEFAULT_TYPE.to_owned(),
            Some(toml::Value::String(kind)) => kind,
            Some(other) => {
                return Err(serde::de::Error::custom(format!(
                    "broker.type must be a string, not {}",
                    other.type_str()
                )));
            }
        };
        Ok(BrokerSection { kind, settings })
    }
}

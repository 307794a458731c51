//! The composition root for brokers: the one place that maps a `[broker] type` to the crate
//! that opens it. The worker takes the [`Backend`] it returns and compiles no broker client.
//!
//! - [`check`]: parse and validate a `[broker]` table without connecting (config checks).
//! - [`open`]: connect, and pick the state store (the broker's own, else the embedded store in
//!   the host's data directory).
//!
//! The in-process brokers (`embedded`, `memory`) live in `wasmboost-broker`; every other broker
//! is a crate listed once in [`plugged!`] (see the checklist in `wasmboost_broker`).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Deserialize;
use serde::de::DeserializeOwned;
pub use wasmboost_broker::{Backend, BrokerSection};
use wasmboost_broker::{MemoryBroker, MemoryStore, Opened};

/// Why a `[broker]` table cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    #[error("broker.type {kind:?} is not a broker this host knows; use one of: {known}")]
    UnknownType { kind: String, known: String },
    #[error("[broker] of type {kind:?}: {message}")]
    Settings { kind: String, message: String },
    #[error("cannot open the {kind} broker: {source}")]
    Open {
        kind: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

/// The networked brokers: each a crate exporting `TYPE`, `Config` (with `validate`) and
/// `open(Config)`. Adding a broker is adding its crate here, one line.
macro_rules! plugged {
    ($($krate:ident),* $(,)?) => {
        /// Every `type` this host knows, the in-process ones first.
        pub const TYPES: &[&str] = &[EMBEDDED, MEMORY, $($krate::TYPE),*];

        /// Parse and validate a networked broker's settings; `None` if `kind` is not one.
        fn check_plugged(section: &BrokerSection) -> Option<Result<(), BackendError>> {
            $(if section.kind() == $krate::TYPE {
                return Some(settings::<$krate::Config, _>(section, |c| c.validate()).map(|_| ()));
            })*
            None
        }

        /// Connect a networked broker; `None` if `kind` is not one.
        async fn open_plugged(section: &BrokerSection) -> Option<Result<Opened, BackendError>> {
            $(if section.kind() == $krate::TYPE {
                let config = match settings::<$krate::Config, _>(section, |c| c.validate()) {
                    Ok(config) => config,
                    Err(e) => return Some(Err(e)),
                };
                return Some($krate::open(config).await.map_err(|e| opening(section, e)));
            })*
            None
        }
    };
}

plugged!(
    wasmboost_broker_redis,
    wasmboost_broker_amqp,
    wasmboost_broker_beanstalkd,
    wasmboost_broker_postgres,
    wasmboost_broker_nats,
);

const EMBEDDED: &str = wasmboost_broker::backend::DEFAULT_TYPE;
const MEMORY: &str = "memory";

/// `[broker] type = "embedded"`: the durable on-disk broker in this process (one host per
/// directory).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct EmbeddedConfig {
    /// Database directory. Default: `<data_dir>/broker`.
    path: Option<PathBuf>,
}

/// `[broker] type = "memory"`: nothing survives the process; no settings.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct MemoryConfig {}

/// Parse and validate `section` without connecting: what `serve` checks before it starts.
pub fn check(section: &BrokerSection) -> Result<(), BackendError> {
    match section.kind() {
        EMBEDDED => settings::<EmbeddedConfig, _>(section, no_check).map(|_| ()),
        MEMORY => settings::<MemoryConfig, _>(section, no_check).map(|_| ()),
        _ => check_plugged(section).unwrap_or_else(|| Err(unknown(section))),
    }
}

/// Open the broker of `section` and its state store. A broker that keeps no state (and was
/// given no `state_redis_url`) gets the embedded store in `data_dir/broker`.
pub async fn open(section: &BrokerSection, data_dir: &Path) -> Result<Backend, BackendError> {
    let embedded_dir = data_dir.join("broker");
    let (broker, store) = match section.kind() {
        EMBEDDED => {
            let config = settings::<EmbeddedConfig, _>(section, no_check)?;
            let path = config.path.unwrap_or(embedded_dir);
            let (broker, store) =
                wasmboost_broker::open_embedded(&path).map_err(|e| opening(section, e))?;
            return Ok(Backend {
                broker,
                store,
                one_commit: true,
            });
        }
        MEMORY => {
            settings::<MemoryConfig, _>(section, no_check)?;
            return Ok(Backend {
                broker: Arc::new(MemoryBroker::new()),
                store: Arc::new(MemoryStore::new()),
                one_commit: true,
            });
        }
        _ => open_plugged(section)
            .await
            .unwrap_or_else(|| Err(unknown(section)))?,
    };
    let store = match store {
        Some(store) => store,
        None => {
            wasmboost_broker::open_embedded(&embedded_dir)
                .map_err(|e| opening(section, e))?
                .1
        }
    };
    Ok(Backend {
        broker,
        store,
        one_commit: false,
    })
}

/// `section`'s settings as `C`, strictly, then validated.
fn settings<C: DeserializeOwned, E: std::fmt::Display>(
    section: &BrokerSection,
    validate: impl FnOnce(&C) -> Result<(), E>,
) -> Result<C, BackendError> {
    let bad = |message: String| BackendError::Settings {
        kind: section.kind().to_owned(),
        message,
    };
    let config = C::deserialize(toml::Value::Table(section.settings().clone()))
        .map_err(|e| bad(e.to_string().trim_end().to_owned()))?;
    validate(&config).map_err(|e| bad(e.to_string()))?;
    Ok(config)
}

fn no_check<C>(_: &C) -> Result<(), std::convert::Infallible> {
    Ok(())
}

fn unknown(section: &BrokerSection) -> BackendError {
    BackendError::UnknownType {
        kind: section.kind().to_owned(),
        known: TYPES.join(", "),
    }
}

fn opening(
    section: &BrokerSection,
    e: impl std::error::Error + Send + Sync + 'static,
) -> BackendError {
    BackendError::Open {
        kind: section.kind().to_owned(),
        source: Box::new(e),
    }
}

#[cfg(test)]
mod tests;

//! The host's configuration: one strict TOML file (`wasmboost.toml`). Unknown keys are errors
//! that name the key; every value is validated by [`Config::validate`] before anything connects.
//! `deploy/wasmboost.example.toml` shows every key with its default.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};
// Defaults are defined by the crate whose concept they are: the message format's size cap by
// the policy crate, the runtime's limits by the runtime, the compile timeout by the registry.
use wasmboost_policy::DEFAULT_MAX_MESSAGE_BYTES;
use wasmboost_registry::DEFAULT_COMPILE_TIMEOUT;
use wasmboost_runtime::config::{
    DEFAULT_MAX_COMPONENT_BYTES, DEFAULT_MAX_INSTANCES, DEFAULT_MAX_MEMORY_BYTES,
    DEFAULT_MEMORY_RESERVATION, DEFAULT_OUTPUT_CAP_BYTES,
};

use crate::units::{ByteSize, HumanDuration};
use settings::Policies;

pub(crate) mod error;
pub mod grants;
pub(crate) mod queue;
pub mod schedule;
pub(crate) mod settings;

pub use error::ConfigError;

/// The `[broker]` table: its `type` and that broker's own keys, checked by the composition root
/// (`wasmboost-backends`), not here: the worker knows no broker.
pub use wasmboost_broker::BrokerSection;

pub use queue::{
    BackoffConfig, CeilingConfig, DEFAULT_CONCURRENCY, DEFAULT_DEDUP_TTL, DEFAULT_LEASE,
    DEFAULT_RESULT_TTL, DEFAULT_RESULTS, QueueConfig, ResultsPolicy,
};

/// Where the embedded broker, the module cache and the results live by default.
pub const DEFAULT_DATA_DIR: &str = "./wasmboost-data";
/// The control API listens on loopback only by default.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:7878";
/// How long a shutdown waits for running tasks before returning them to the broker.
pub const DEFAULT_SHUTDOWN_GRACE: Duration = Duration::from_secs(30);
/// The smallest `runtime.compile_memory` accepted: below it even the compiler's runtime does
/// not start.
const MIN_COMPILE_MEMORY: u64 = 64 << 20;
/// A connection to the control API whose request head is not complete after this long is
/// closed (a client trickling header bytes holds nothing for long).
pub const DEFAULT_HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// A request body not complete after this long is answered 408 (a 50 MiB module needs about
/// 0.9 MB/s to make it).
pub const DEFAULT_BODY_TIMEOUT: Duration = Duration::from_secs(60);

/// Everything needed to run a host. Loaded from `wasmboost.toml`; the CLI overrides some fields.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// This process: where it keeps data, where it listens, how it shuts down.
    pub host: HostConfig,
    /// Where the queues and the shared state live.
    pub broker: BrokerSection,
    /// The WebAssembly runtime: module size, instance pool, compile cache.
    pub runtime: RuntimeConfigToml,
    /// Queue policy that applies to every queue, field by field, unless the queue overrides it.
    pub defaults: QueueConfig,
    /// How many deployed versions of each queue are kept.
    pub versions: VersionsConfig,
    /// Declared queues and their overrides of `defaults`. Deploying to an undeclared queue
    /// creates it with `defaults`.
    pub queues: BTreeMap<String, QueueConfig>,
    /// Periodic messages (`[[schedules]]`), fired by one host at a time.
    pub schedules: Vec<schedule::ScheduleConfig>,
    /// OpenTelemetry traces over OTLP/HTTP; off unless `endpoint` is set.
    pub trace: wasmboost_trace::TraceConfig,
}

/// The `[host]` table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HostConfig {
    /// Directory for the embedded broker, the compiled-module cache and other host state.
    pub data_dir: PathBuf,
    /// Address of the HTTP control API. Keep it on loopback unless it is behind a proxy.
    pub listen: SocketAddr,
    /// Name of this host in stats and heartbeats. Default: `<hostname>-<pid>`.
    pub host_id: Option<String>,
    /// How long a shutdown waits for running tasks before returning them to the broker.
    pub shutdown_grace: HumanDuration,
    /// Largest message accepted at publish (bytes or e.g. `"1MiB"`). Checked while the body
    /// streams in: a larger one is refused before it is buffered.
    pub max_message_bytes: ByteSize,
    /// A control API connection whose request head is not complete after this long is closed.
    pub header_timeout: HumanDuration,
    /// A control API request body not complete after this long is answered 408.
    pub body_timeout: HumanDuration,
    /// PEM certificate chain: with `tls_key`, the control API serves HTTPS only.
    pub tls_cert: Option<PathBuf>,
    /// PEM private key of `tls_cert`.
    pub tls_key: Option<PathBuf>,
}

impl Default for HostConfig {
    fn default() -> Self {
        HostConfig {
            data_dir: PathBuf::from(DEFAULT_DATA_DIR),
            listen: DEFAULT_LISTEN
                .parse()
                .expect("DEFAULT_LISTEN is a valid socket address"),
            host_id: None,
            shutdown_grace: HumanDuration(DEFAULT_SHUTDOWN_GRACE),
            max_message_bytes: ByteSize(DEFAULT_MAX_MESSAGE_BYTES as u64),
            header_timeout: HumanDuration(DEFAULT_HEADER_TIMEOUT),
            body_timeout: HumanDuration(DEFAULT_BODY_TIMEOUT),
            tls_cert: None,
            tls_key: None,
        }
    }
}

/// The `[runtime]` table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RuntimeConfigToml {
    /// Directory of compiled modules (`.cwasm`), written only by the host. Default:
    /// `<data_dir>/cache`.
    pub cache_dir: Option<PathBuf>,
    /// Largest component accepted by deploy.
    pub max_component_bytes: ByteSize,
    /// Instances that may be alive at once, over all queues (the pool's capacity). Raise it for
    /// many concurrently sleeping tasks.
    pub max_instances: u32,
    /// Largest memory budget a queue or message may ask for.
    pub max_memory: ByteSize,
    /// Address space reserved per pooled memory, at least `max_memory`, at most 4 GiB. The pool
    /// reserves `max_instances` x (this + 32 MiB) at start (4.1 TiB at the defaults; address
    /// space, not memory). Below 4 GiB compiled code checks each memory access (slower) but the
    /// host starts where terabytes cannot be reserved: `ulimit -v`, small VMs, valgrind.
    pub memory_reservation: ByteSize,
    /// Bound on captured stdout / stderr / log output per invocation.
    pub output_cap: ByteSize,
    /// A deploy whose compilation takes longer than this is rejected.
    pub compile_timeout: HumanDuration,
    /// Compile uploads in a child process (`wasmboost __compile`) so a pathological module
    /// cannot stall or crash the host. Turn off only when the host is not the `wasmboost` binary.
    pub compile_in_child: bool,
    /// Compiles that may run at once; a deploy finding them all busy waits `compile_wait`,
    /// then is refused (422). Default: one per core.
    pub max_compiles: Option<u32>,
    /// How long a deploy waits for a free compile slot.
    pub compile_wait: HumanDuration,
    /// Memory one compile child may use (its heap, `RLIMIT_DATA`); a compile needing more is
    /// stopped and the deploy refused (422). Only with `compile_in_child`.
    pub compile_memory: ByteSize,
}

/// The `[versions]` table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct VersionsConfig {
    /// Versions kept per queue (newest first; the current one always). A version that leaves
    /// the history takes its module blob and compiled `.cwasm` with it, unless another kept
    /// version (of any queue) is the same module.
    pub keep: u32,
}

impl Default for VersionsConfig {
    fn default() -> Self {
        VersionsConfig {
            keep: u32::try_from(wasmboost_registry::DEFAULT_KEEP_VERSIONS).unwrap_or(u32::MAX),
        }
    }
}

impl Default for RuntimeConfigToml {
    fn default() -> Self {
        RuntimeConfigToml {
            cache_dir: None,
            max_component_bytes: ByteSize(DEFAULT_MAX_COMPONENT_BYTES),
            max_instances: DEFAULT_MAX_INSTANCES,
            max_memory: ByteSize(DEFAULT_MAX_MEMORY_BYTES),
            memory_reservation: ByteSize(DEFAULT_MEMORY_RESERVATION),
            output_cap: ByteSize(DEFAULT_OUTPUT_CAP_BYTES as u64),
            compile_timeout: HumanDuration(DEFAULT_COMPILE_TIMEOUT),
            compile_in_child: true,
            max_compiles: None,
            compile_wait: HumanDuration(wasmboost_registry::DEFAULT_COMPILE_WAIT),
            compile_memory: ByteSize(wasmboost_registry::DEFAULT_COMPILE_MEMORY),
        }
    }
}

impl Config {
    /// Read, parse strictly and validate a config file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Io {
            path: path.to_owned(),
            source,
        })?;
        let config = Config::parse(&text).map_err(|e| match e {
            ConfigError::Parse { message, .. } => ConfigError::Parse {
                path: path.to_owned(),
                message,
            },
            other => other,
        })?;
        Ok(config)
    }

    /// Parse strictly and validate config text.
    pub fn parse(text: &str) -> Result<Config, ConfigError> {
        let config: Config = toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: PathBuf::from("<text>"),
            message: e.to_string().trim_end().to_owned(),
        })?;
        config.validate()?;
        Ok(config)
    }

    /// Check every value; the error names the offending key.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.defaults.grants.is_some() {
            return Err(ConfigError::invalid(
                "defaults.grants",
                "grants are per queue: put them in [queues.<name>.grants]",
            ));
        }
        self.validate_host()?;
        self.validate_runtime()?;
        self.validate_trace()?;
        schedule::resolve_all(&self.schedules)?;
        self.policies().map(|_| ())
    }

    /// Every queue's resolved settings (validating them: see [`Config::validate`]).
    pub(crate) fn policies(&self) -> Result<Policies, ConfigError> {
        Policies::resolve(&self.defaults, &self.queues, self.runtime.max_memory.0)
    }

    /// An OTLP endpoint is an `http://` or `https://` URL; anything else is named now rather
    /// than failing on the first export.
    fn validate_trace(&self) -> Result<(), ConfigError> {
        match &self.trace.endpoint {
            Some(url) if !(url.starts_with("http://") || url.starts_with("https://")) => Err(
                ConfigError::invalid("trace.endpoint", format!("{url:?} is not an http(s) URL")),
            ),
            _ => Ok(()),
        }
    }

    fn validate_host(&self) -> Result<(), ConfigError> {
        if self.host.data_dir.as_os_str().is_empty() {
            return Err(ConfigError::invalid("host.data_dir", "must not be empty"));
        }
        if let Some(id) = &self.host.host_id
            && (id.is_empty() || id.len() > 128)
        {
            return Err(ConfigError::invalid(
                "host.host_id",
                format!("{id:?} must be 1..=128 characters"),
            ));
        }
        if self.host.max_message_bytes.0 == 0 {
            return Err(ConfigError::invalid(
                "host.max_message_bytes",
                "must be positive",
            ));
        }
        for (key, value) in [
            ("host.header_timeout", self.host.header_timeout),
            ("host.body_timeout", self.host.body_timeout),
        ] {
            if value.0.is_zero() {
                return Err(ConfigError::invalid(key, "must be positive"));
            }
        }
        if self.host.tls_cert.is_some() != self.host.tls_key.is_some() {
            return Err(ConfigError::invalid(
                "host.tls_cert",
                "tls_cert and tls_key go together: give both or neither",
            ));
        }
        Ok(())
    }

    fn validate_runtime(&self) -> Result<(), ConfigError> {
        let rt = &self.runtime;
        if rt.max_component_bytes.0 == 0 {
            return Err(ConfigError::invalid(
                "runtime.max_component_bytes",
                "must be positive",
            ));
        }
        if rt.max_instances == 0 {
            return Err(ConfigError::invalid(
                "runtime.max_instances",
                "must be at least 1",
            ));
        }
        if rt.max_memory.0 < 1 << 16 {
            return Err(ConfigError::invalid(
                "runtime.max_memory",
                format!("{} is below one wasm page (64KiB)", rt.max_memory.0),
            ));
        }
        if rt.memory_reservation.0 < rt.max_memory.0 {
            return Err(ConfigError::invalid(
                "runtime.memory_reservation",
                format!(
                    "{} is below runtime.max_memory {}: a pool slot must hold the largest memory",
                    rt.memory_reservation.0, rt.max_memory.0
                ),
            ));
        }
        if rt.memory_reservation.0 > DEFAULT_MEMORY_RESERVATION {
            return Err(ConfigError::invalid(
                "runtime.memory_reservation",
                format!(
                    "{} is above 4GiB, more than a 32-bit memory can address",
                    rt.memory_reservation.0
                ),
            ));
        }
        if rt.compile_timeout.0.is_zero() {
            return Err(ConfigError::invalid(
                "runtime.compile_timeout",
                "must be positive",
            ));
        }
        if rt.max_compiles == Some(0) {
            return Err(ConfigError::invalid(
                "runtime.max_compiles",
                "must be at least 1",
            ));
        }
        if rt.compile_memory.0 < MIN_COMPILE_MEMORY {
            return Err(ConfigError::invalid(
                "runtime.compile_memory",
                format!(
                    "{} is below {MIN_COMPILE_MEMORY} bytes (64MiB), too little to compile anything",
                    rt.compile_memory.0
                ),
            ));
        }
        if self.versions.keep == 0 {
            return Err(ConfigError::invalid("versions.keep", "must be at least 1"));
        }
        Ok(())
    }

    /// Where compiled modules are cached.
    pub fn cache_dir(&self) -> PathBuf {
        self.runtime
            .cache_dir
            .clone()
            .unwrap_or_else(|| self.host.data_dir.join("cache"))
    }

    /// The compile cache's HMAC key: with the data directory's secrets (`0700`), never beside
    /// the artifacts it vouches for, even when `runtime.cache_dir` points elsewhere.
    pub fn cache_key_file(&self) -> PathBuf {
        self.host.data_dir.join("secrets").join("cache.key")
    }

    /// This host's id: configured, or `<hostname>-<pid>`.
    pub fn host_id(&self) -> String {
        self.host.host_id.clone().unwrap_or_else(|| {
            let name = std::fs::read_to_string("/etc/hostname")
                .ok()
                .map(|s| s.trim().to_owned())
                .filter(|s| !s.is_empty())
                .unwrap_or_else(|| "host".to_owned());
            format!("{name}-{}", std::process::id())
        })
    }

    /// The effective policy of `queue`: its overrides merged over `defaults`.
    pub fn queue(&self, queue: &str) -> QueueConfig {
        match self.queues.get(queue) {
            Some(q) => q.merged_over(&self.defaults),
            None => self.defaults.clone(),
        }
    }
}

#[cfg(test)]
mod tests;

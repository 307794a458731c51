//! The `[trace]` table: where spans go. Off unless `endpoint` is set.

use serde::{Deserialize, Serialize};

/// The service name spans carry when the config gives none.
pub const DEFAULT_SERVICE_NAME: &str = "wasmboost";

/// The `[trace]` table of `wasmboost.toml`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TraceConfig {
    /// OTLP/HTTP collector to send spans to, e.g. `http://127.0.0.1:4318` (`/v1/traces` is
    /// appended unless the URL already ends with it). Unset (the default): no spans are made.
    pub endpoint: Option<String>,
    /// `service.name` of this host's spans.
    pub service_name: String,
}

impl Default for TraceConfig {
    fn default() -> Self {
        TraceConfig {
            endpoint: None,
            service_name: DEFAULT_SERVICE_NAME.to_owned(),
        }
    }
}

impl TraceConfig {
    /// The full URL spans are posted to, `None` when tracing is off.
    pub fn traces_url(&self) -> Option<String> {
        let endpoint = self.endpoint.as_deref()?.trim_end_matches('/');
        if endpoint.ends_with("/v1/traces") {
            Some(endpoint.to_owned())
        } else {
            Some(format!("{endpoint}/v1/traces"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_traces_path_is_appended_once() {
        let at = |e: &str| TraceConfig {
            endpoint: Some(e.to_owned()),
            ..TraceConfig::default()
        };
        assert_eq!(TraceConfig::default().traces_url(), None);
        let want = Some("http://c:4318/v1/traces".to_owned());
        assert_eq!(at("http://c:4318").traces_url(), want);
        assert_eq!(at("http://c:4318/").traces_url(), want);
        assert_eq!(at("http://c:4318/v1/traces").traces_url(), want);
    }
}

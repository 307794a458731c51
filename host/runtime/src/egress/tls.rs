//! TLS for outbound requests: rustls with the ring provider and the webpki root certificates
//! (the host's own trust store is not consulted, so a task sees the same roots on every host).

use std::net::IpAddr;
use std::sync::{Arc, OnceLock};

use rustls::pki_types::ServerName;
use tokio_rustls::TlsConnector;
use wasmtime_wasi_http::Error;

/// One client configuration per process: parsing the roots is done once. `TLS-protocol-error`
/// if rustls refuses the configuration (it supports these defaults with ring: not expected).
pub(super) fn connector() -> Result<TlsConnector, Error> {
    static CONFIG: OnceLock<Option<Arc<rustls::ClientConfig>>> = OnceLock::new();
    let config = CONFIG.get_or_init(|| {
        let mut roots = rustls::RootCertStore::empty();
        roots.add_parsable_certificates(webpki_root_certs::TLS_SERVER_ROOT_CERTS.iter().cloned());
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .ok()?;
        Some(Arc::new(
            builder.with_root_certificates(roots).with_no_client_auth(),
        ))
    });
    config
        .clone()
        .map(TlsConnector::from)
        .ok_or(Error::TlsProtocolError)
}

/// The name the server's certificate must carry: the URL's host (a name or a literal address).
pub(super) fn server_name(host: &str) -> Result<ServerName<'static>, Error> {
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(ServerName::from(ip));
    }
    ServerName::try_from(host.to_owned()).map_err(|_| Error::HttpRequestUriInvalid)
}

//! TLS for the control API: a rustls server config (ring provider, TLS 1.2 and 1.3, HTTP/1.1)
//! from PEM files named in `[host] tls_cert` / `tls_key`.

use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use crate::error::ServerError;

fn tls_error(path: &Path, reason: impl std::fmt::Display) -> ServerError {
    ServerError::Tls {
        path: path.display().to_string(),
        reason: reason.to_string(),
    }
}

/// Load a certificate chain (`cert`, PEM, leaf first) and its private key (`key`, PEM).
pub fn load(cert: &Path, key: &Path) -> Result<Arc<rustls::ServerConfig>, ServerError> {
    let chain = CertificateDer::pem_file_iter(cert)
        .map_err(|e| tls_error(cert, e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| tls_error(cert, e))?;
    if chain.is_empty() {
        return Err(tls_error(cert, "no CERTIFICATE block in the file"));
    }
    let key_der = PrivateKeyDer::from_pem_file(key).map_err(|e| tls_error(key, e))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| tls_error(cert, e))?
        .with_no_client_auth()
        .with_single_cert(chain, key_der)
        .map_err(|e| tls_error(key, format!("the key does not fit the certificate: {e}")))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

//! The TCP door's TLS: rustls (ring) from the PEM files `[http] tls_cert` and `tls_key`.
//! Must not bind anything (http/tcp.rs does) nor fall back to plain HTTP when a file is bad.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("[http] tls_cert {path}: {detail}; give a PEM file with the certificate chain")]
    Cert { path: PathBuf, detail: String },
    #[error("[http] tls_key {path}: {detail}; give a PEM file with the private key (PKCS#8, PKCS#1 or SEC1)")]
    Key { path: PathBuf, detail: String },
    #[error("[http] tls_cert and tls_key do not make a TLS setup: {0}; check that the key belongs to the certificate")]
    Setup(rustls::Error),
}

/// The server side of TLS for the TCP door.
pub fn server_config(cert: &Path, key: &Path) -> Result<rustls::ServerConfig, TlsError> {
    let cert_err = |detail: String| TlsError::Cert {
        path: cert.to_path_buf(),
        detail,
    };
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .map_err(|e| cert_err(e.to_string()))?
        .collect::<Result<_, _>>()
        .map_err(|e| cert_err(e.to_string()))?;
    if chain.is_empty() {
        return Err(cert_err("no certificate in it".into()));
    }
    let key = PrivateKeyDer::from_pem_file(key).map_err(|e| TlsError::Key {
        path: key.to_path_buf(),
        detail: e.to_string(),
    })?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(TlsError::Setup)?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(TlsError::Setup)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_or_wrong_files_name_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let cert = dir.path().join("cert.pem");
        let key = dir.path().join("key.pem");
        let err = server_config(&cert, &key).unwrap_err();
        assert!(err.to_string().contains("tls_cert"), "{err}");
        std::fs::write(&cert, "not pem").unwrap();
        let err = server_config(&cert, &key).unwrap_err();
        assert!(err.to_string().contains("no certificate"), "{err}");
    }
}

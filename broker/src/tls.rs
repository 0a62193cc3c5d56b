//! HTTPS for the broker's own listener (`broker.tls`): the certificate chain and private key
//! are read from PEM files at start-up; TLS 1.2 and 1.3 only.

use crate::config::TlsFiles;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::sync::Arc;

/// The rustls server configuration for the broker's listener. Errors name the file and say
/// what is wrong with it.
pub fn server_config(files: &TlsFiles) -> Result<rustls::ServerConfig, String> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&files.cert_file)
        .and_then(|iter| iter.collect::<Result<_, _>>())
        .map_err(|e| format!("broker.tls.cert_file '{}': {e}", files.cert_file.display()))?;
    if certs.is_empty() {
        return Err(format!(
            "broker.tls.cert_file '{}' holds no PEM certificate",
            files.cert_file.display()
        ));
    }
    let key = PrivateKeyDer::from_pem_file(&files.key_file).map_err(|e| {
        format!(
            "broker.tls.key_file '{}': no PEM private key ({e})",
            files.key_file.display()
        )
    })?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| format!("broker.tls: the certificate and key do not go together: {e}"))
}

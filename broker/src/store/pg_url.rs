//! `database.url`: a PostgreSQL connection URL (`postgres://user:password@host:port/db`),
//! with TLS chosen by `sslmode` as libpq users expect:
//!
//! | `sslmode` | encrypted | certificate checked |
//! | --- | --- | --- |
//! | `disable` | no | – |
//! | `allow`, `prefer` (default) | if the server offers it | no |
//! | `require` | yes | no; against `sslrootcert` when given (as `verify-ca`) |
//! | `verify-ca` | yes | chain against `sslrootcert` |
//! | `verify-full` | yes | chain against `sslrootcert`, and the host name |
//!
//! `sslrootcert` is a PEM file of the certificate authorities to trust. Every other query
//! parameter goes to tokio-postgres as it is. The URL is shown in messages without its
//! password ([`PgSettings::shown`]).

use super::StoreError;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, SignatureScheme};
use std::sync::Arc;
use tokio_postgres::config::SslMode;
use tokio_postgres_rustls::MakeRustlsConnect;

/// A parsed `database.url`.
pub struct PgSettings {
    /// The connection settings for tokio-postgres.
    pub config: tokio_postgres::Config,
    /// The TLS connector `sslmode` asks for.
    pub tls: MakeRustlsConnect,
    /// The URL without its password, for messages.
    pub shown: String,
}

/// How the server's certificate is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Check {
    None,
    Chain,
    ChainAndName,
}

/// True when `url` names a PostgreSQL database rather than a file.
pub fn is_postgres_url(url: &str) -> bool {
    url.starts_with("postgres://") || url.starts_with("postgresql://")
}

impl PgSettings {
    /// Parses `url`; the error says what to fix and never holds the password.
    pub fn parse(url: &str) -> Result<Self, StoreError> {
        let invalid = |message: String| StoreError::Postgres {
            database: "database.url".to_string(),
            message,
            code: None,
        };
        if !is_postgres_url(url) {
            return Err(invalid("must start with postgres:// or postgresql://".to_string()));
        }
        let (base, query) = url.split_once('?').unwrap_or((url, ""));
        let mut mode = "prefer".to_string();
        let mut root_cert = None;
        let mut rest = Vec::new();
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            let decoded = percent_encoding::percent_decode_str(value)
                .decode_utf8()
                .map_err(|_| invalid(format!("the value of {key} is not UTF-8")))?
                .into_owned();
            match key {
                "sslmode" => mode = decoded,
                "sslrootcert" => root_cert = Some(decoded),
                _ => rest.push(pair),
            }
        }
        let (ssl_mode, check) = match mode.as_str() {
            "disable" => (SslMode::Disable, Check::None),
            "allow" | "prefer" => (SslMode::Prefer, Check::None),
            "require" if root_cert.is_some() => (SslMode::Require, Check::Chain),
            "require" => (SslMode::Require, Check::None),
            "verify-ca" => (SslMode::Require, Check::Chain),
            "verify-full" => (SslMode::Require, Check::ChainAndName),
            other => {
                return Err(invalid(format!(
                    "sslmode '{}' is not one of disable, allow, prefer, require, verify-ca, verify-full",
                    other.escape_debug()
                )))
            }
        };
        let rebuilt =
            if rest.is_empty() { base.to_string() } else { format!("{base}?{}", rest.join("&")) };
        let mut config: tokio_postgres::Config = rebuilt.parse().map_err(|e| {
            invalid(format!(
                "is not a PostgreSQL connection URL: {e} (postgres://user:password@host:port/database)"
            ))
        })?;
        config.ssl_mode(ssl_mode);
        if config.get_hosts().is_empty() {
            return Err(invalid("names no host".to_string()));
        }
        let shown = shown(&config);
        let tls = connector(check, root_cert.as_deref()).map_err(|m| StoreError::Postgres {
            database: shown.clone(),
            message: m,
            code: None,
        })?;
        Ok(Self { config, tls, shown })
    }
}

/// `postgres://user@host:port/database`: the URL without its password or options.
fn shown(config: &tokio_postgres::Config) -> String {
    let host = match config.get_hosts().first() {
        Some(tokio_postgres::config::Host::Tcp(h)) => h.clone(),
        Some(tokio_postgres::config::Host::Unix(p)) => p.display().to_string(),
        None => String::new(),
    };
    let port = config.get_ports().first().copied().unwrap_or(5432);
    let user = config.get_user().map(|u| format!("{u}@")).unwrap_or_default();
    let db = config.get_dbname().unwrap_or("");
    format!("postgres://{user}{host}:{port}/{db}").escape_debug().to_string()
}

fn connector(check: Check, root_cert: Option<&str>) -> Result<MakeRustlsConnect, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?;
    let config = match (check, root_cert) {
        (Check::None, _) => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(Lenient {
                provider,
                chain: None,
            }))
            .with_no_client_auth(),
        (_, None) => {
            return Err(
                "sslmode verify-ca and verify-full need sslrootcert, the PEM file of the certificate authorities to trust"
                    .to_string(),
            )
        }
        (check, Some(path)) => {
            let pem = std::fs::read_to_string(path)
                .map_err(|e| format!("cannot read sslrootcert {}: {e}", path.escape_debug()))?;
            let mut roots = rustls::RootCertStore::empty();
            for cert in crate::tls::ca_certificates(&pem)
                .map_err(|e| format!("sslrootcert {}: {e}", path.escape_debug()))?
            {
                roots
                    .add(cert)
                    .map_err(|e| format!("sslrootcert {}: {e}", path.escape_debug()))?;
            }
            let verifier = rustls::client::WebPkiServerVerifier::builder_with_provider(
                Arc::new(roots),
                provider.clone(),
            )
            .build()
            .map_err(|e| e.to_string())?;
            if check == Check::ChainAndName {
                builder
                    .with_webpki_verifier(verifier)
                    .with_no_client_auth()
            } else {
                builder
                    .dangerous()
                    .with_custom_certificate_verifier(Arc::new(Lenient {
                        provider,
                        chain: Some(verifier),
                    }))
                    .with_no_client_auth()
            }
        }
    };
    Ok(MakeRustlsConnect::new(config))
}

/// The certificate checks libpq makes short of `verify-full`: with no `chain`
/// (`sslmode=prefer`, and `require` without a root certificate) the connection is encrypted
/// and the server's certificate is not checked; with one (`verify-ca`) the chain must lead to
/// a trusted authority, and the host name is not compared. The handshake's signatures are
/// verified either way.
#[derive(Debug)]
struct Lenient {
    provider: Arc<rustls::crypto::CryptoProvider>,
    chain: Option<Arc<rustls::client::WebPkiServerVerifier>>,
}

impl ServerCertVerifier for Lenient {
    fn verify_server_cert(
        &self, end_entity: &CertificateDer<'_>, intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>, ocsp: &[u8], now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let Some(chain) = &self.chain else {
            return Ok(ServerCertVerified::assertion());
        };
        match chain.verify_server_cert(end_entity, intermediates, server_name, ocsp, now) {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self, message: &[u8], cert: &CertificateDer<'_>, dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        let algorithms = &self.provider.signature_verification_algorithms;
        rustls::crypto::verify_tls12_signature(message, cert, dss, algorithms)
    }

    fn verify_tls13_signature(
        &self, message: &[u8], cert: &CertificateDer<'_>, dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        let algorithms = &self.provider.signature_verification_algorithms;
        rustls::crypto::verify_tls13_signature(message, cert, dss, algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(url: &str) -> String {
        match PgSettings::parse(url) {
            Err(e) => e.to_string(),
            Ok(_) => panic!("{url} parsed"),
        }
    }

    #[test]
    fn a_url_is_shown_without_its_password() {
        let s =
            PgSettings::parse("postgres://odb:s3cret-pw@db.example:6432/broker?sslmode=disable")
                .unwrap();
        assert_eq!(s.shown, "postgres://odb@db.example:6432/broker");
        assert_eq!(s.config.get_ssl_mode(), SslMode::Disable);
        assert!(!s.shown.contains("s3cret"));
    }

    #[test]
    fn sslmode_follows_libpq() {
        for (mode, expected) in [
            ("", SslMode::Prefer),
            ("?sslmode=allow", SslMode::Prefer),
            ("?sslmode=prefer", SslMode::Prefer),
            ("?sslmode=require", SslMode::Require),
        ] {
            let s = PgSettings::parse(&format!("postgres://u@h/db{mode}")).unwrap();
            assert_eq!(s.config.get_ssl_mode(), expected, "{mode}");
        }
        assert!(err("postgres://u@h/db?sslmode=verify-full").contains("sslrootcert"));
        assert!(err("postgres://u@h/db?sslmode=bogus").contains("is not one of"));
    }

    #[test]
    fn bad_urls_say_what_to_fix_and_never_hold_the_password() {
        assert!(err("mysql://u:pw@h/db").contains("postgres://"));
        let e = err("postgres://u:hunter2@h/db?nonsense=1");
        assert!(!e.contains("hunter2"), "{e}");
        let e = err("postgres://u:hunter2@h/db?sslmode=verify-ca&sslrootcert=/nonexistent/ca.pem");
        assert!(e.contains("cannot read sslrootcert"), "{e}");
        assert!(!e.contains("hunter2"), "{e}");
    }
}

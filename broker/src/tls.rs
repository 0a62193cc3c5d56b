//! TLS material the broker reads as PEM: the certificate chain and private key of its own
//! HTTPS listener (`broker.tls`, TLS 1.2 and 1.3 only), and the CA certificates it trusts
//! for the director (`bosh.root_ca_cert`).
//!
//! PEM is read with `rustls-pki-types`; the server certificate's validity dates with
//! `x509-parser`; rustls checks that the private key belongs to the certificate, and its
//! root store checks each CA certificate, as the director's HTTP client does when it trusts
//! them. Every `broker.tls` error names the setting and the file, and says what is wrong
//! and what to do.

use crate::config::TlsFiles;
use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::path::{Path, PathBuf};
use std::sync::Arc;

const CERT_FILE: &str = "broker.tls.cert_file";
const KEY_FILE: &str = "broker.tls.key_file";

/// A PEM syntax problem, in words (the PEM reader's own messages print marker lines as
/// lists of bytes).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PemError {
    /// A `-----BEGIN X-----` line without its `-----END X-----` line.
    #[error("a -----BEGIN {0}----- line has no matching -----END {0}----- line")]
    MissingEnd(String),
    /// A `-----BEGIN` line that does not end in five dashes.
    #[error("malformed line '{0}': a BEGIN line reads -----BEGIN <label>-----")]
    BadBegin(String),
    /// The body of a section is not base64.
    #[error("the body of a PEM block is not valid base64 ({0})")]
    Base64(String),
    /// Anything else the PEM reader reports (a block over 256 MB, ...).
    #[error("{0}")]
    Other(String),
}

impl From<pem::Error> for PemError {
    fn from(e: pem::Error) -> Self {
        let text = |bytes: &[u8]| String::from_utf8_lossy(bytes).trim().to_string();
        match e {
            pem::Error::MissingSectionEnd { end_marker } => Self::MissingEnd(text(&end_marker)),
            pem::Error::IllegalSectionStart { line } => Self::BadBegin(text(&line)),
            pem::Error::Base64Decode(why) => Self::Base64(why),
            other => Self::Other(other.to_string()),
        }
    }
}

/// Why the broker cannot serve HTTPS with `broker.tls`.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A file cannot be read.
    #[error("{key} '{}' cannot be read: {source}", .path.display())]
    Read {
        /// `broker.tls.cert_file` or `broker.tls.key_file`.
        key: &'static str,
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A file is not well-formed PEM.
    #[error("{key} '{}' is not valid PEM: {source}", .path.display())]
    Pem {
        /// `broker.tls.cert_file` or `broker.tls.key_file`.
        key: &'static str,
        /// The file.
        path: PathBuf,
        /// What is wrong.
        source: PemError,
    },
    /// The certificate file holds no certificate.
    #[error("broker.tls.cert_file '{}' holds no PEM certificate{hint}: it must hold the server certificate, then any intermediate certificates, each from -----BEGIN CERTIFICATE----- to -----END CERTIFICATE-----", .path.display())]
    NoCertificate {
        /// The file.
        path: PathBuf,
        /// What the file holds instead, if that explains the mistake.
        hint: &'static str,
    },
    /// The first certificate of the file does not parse.
    #[error("broker.tls.cert_file '{}': the server certificate (the first in the file) is not a valid X.509 certificate ({reason}); replace it with the PEM certificate issued for the broker", .path.display())]
    BadCertificate {
        /// The file.
        path: PathBuf,
        /// What the parser says.
        reason: String,
    },
    /// The server certificate's `notAfter` has passed.
    #[error("broker.tls.cert_file '{}': server certificate expired on {}; renew it", .path.display(), crate::store::format_rfc3339(.not_after.saturating_mul(1000)))]
    Expired {
        /// The file.
        path: PathBuf,
        /// `notAfter`, seconds since the Unix epoch.
        not_after: i64,
    },
    /// The key file holds no private key the broker can use.
    #[error("broker.tls.key_file '{}' holds no PEM private key{hint}: it must hold the unencrypted private key of the server certificate, as -----BEGIN PRIVATE KEY----- (PKCS#8), -----BEGIN RSA PRIVATE KEY----- (PKCS#1) or -----BEGIN EC PRIVATE KEY----- (SEC1)", .path.display())]
    NoKey {
        /// The file.
        path: PathBuf,
        /// What the file holds instead, if that explains the mistake.
        hint: &'static str,
    },
    /// The private key is not the certificate's.
    #[error("broker.tls: the private key in '{}' does not belong to the server certificate in '{}': set key_file to the key the certificate was issued for", .key.display(), .cert.display())]
    KeyMismatch {
        /// The certificate file.
        cert: PathBuf,
        /// The key file.
        key: PathBuf,
    },
    /// rustls refuses the certificate or the key for another reason (an unsupported key
    /// type, say).
    #[error("broker.tls: cannot use the certificate in '{}' with the key in '{}': {source}", .cert.display(), .key.display())]
    Rejected {
        /// The certificate file.
        cert: PathBuf,
        /// The key file.
        key: PathBuf,
        /// What rustls says.
        source: rustls::Error,
    },
}

/// The rustls server configuration for the broker's listener, or the start-up error as text.
pub fn server_config(files: &TlsFiles) -> Result<rustls::ServerConfig, String> {
    load(files).map_err(|e| e.to_string())
}

/// Reads and checks `broker.tls` and builds the listener's rustls configuration. A server
/// certificate that is not valid yet is logged as a warning, not refused, as with the Go
/// broker, which checks expiry only.
pub fn load(files: &TlsFiles) -> Result<rustls::ServerConfig, TlsError> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default();
    let (certs, validity) = read_chain(&files.cert_file, now)?;
    if let Validity::NotYetValid { not_before } = validity {
        tracing::warn!(
            "broker.tls.cert_file '{}': the server certificate is not valid before {}; clients will refuse it until then (is the clock right?)",
            files.cert_file.display(),
            crate::store::format_rfc3339(not_before.saturating_mul(1000))
        );
    }
    let key = read_key(&files.key_file)?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let rejected = |source| TlsError::Rejected {
        cert: files.cert_file.clone(),
        key: files.key_file.clone(),
        source,
    };
    rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(rejected)?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| match e {
            rustls::Error::InconsistentKeys(rustls::InconsistentKeys::KeyMismatch) => {
                TlsError::KeyMismatch { cert: files.cert_file.clone(), key: files.key_file.clone() }
            }
            other => rejected(other),
        })
}

/// Where the server certificate's validity period stands at a given time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Validity {
    /// Valid now.
    Current,
    /// `notBefore` (seconds since the Unix epoch) is still to come.
    NotYetValid { not_before: i64 },
}

fn read_file(key: &'static str, path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError::Read { key, path: path.to_path_buf(), source })
}

/// The certificate chain in `path`, the server certificate first, refused if that
/// certificate does not parse or has expired at `now` (seconds since the Unix epoch).
fn read_chain(path: &Path, now: i64) -> Result<(Vec<CertificateDer<'static>>, Validity), TlsError> {
    let pem = read_file(CERT_FILE, path)?;
    let certs: Vec<CertificateDer<'static>> =
        CertificateDer::pem_slice_iter(&pem).collect::<Result<_, _>>().map_err(|e| {
            TlsError::Pem { key: CERT_FILE, path: path.to_path_buf(), source: e.into() }
        })?;
    let Some(server) = certs.first() else {
        let hint = if PrivateKeyDer::from_pem_slice(&pem).is_ok() {
            " (it holds a private key: are cert_file and key_file swapped?)"
        } else {
            ""
        };
        return Err(TlsError::NoCertificate { path: path.to_path_buf(), hint });
    };
    let (_, parsed) =
        x509_parser::parse_x509_certificate(server).map_err(|e| TlsError::BadCertificate {
            path: path.to_path_buf(),
            reason: match e {
                x509_parser::nom::Err::Error(e) | x509_parser::nom::Err::Failure(e) => {
                    e.to_string()
                }
                x509_parser::nom::Err::Incomplete(_) => "it is truncated".to_string(),
            },
        })?;
    let validity = parsed.validity();
    let (not_before, not_after) = (validity.not_before.timestamp(), validity.not_after.timestamp());
    if not_after < now {
        return Err(TlsError::Expired { path: path.to_path_buf(), not_after });
    }
    let validity =
        if now < not_before { Validity::NotYetValid { not_before } } else { Validity::Current };
    Ok((certs, validity))
}

/// The first private key in `path`: PKCS#8, PKCS#1 (RSA) or SEC1 (EC).
fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    let pem = read_file(KEY_FILE, path)?;
    PrivateKeyDer::from_pem_slice(&pem).map_err(|e| match e {
        pem::Error::NoItemsFound => TlsError::NoKey {
            path: path.to_path_buf(),
            hint: if contains(&pem, b"-----BEGIN ENCRYPTED PRIVATE KEY-----") {
                " (it holds an encrypted key: decrypt it first, e.g. with openssl pkey)"
            } else if CertificateDer::pem_slice_iter(&pem).any(|c| c.is_ok()) {
                " (it holds a certificate: are cert_file and key_file swapped?)"
            } else {
                ""
            },
        },
        other => TlsError::Pem { key: KEY_FILE, path: path.to_path_buf(), source: other.into() },
    })
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// Why the CA certificates of `bosh.root_ca_cert` cannot be trusted.
#[derive(Debug, thiserror::Error)]
pub enum CaError {
    /// No `CERTIFICATE` block at all.
    #[error("no -----BEGIN CERTIFICATE----- block found")]
    NoCertificate,
    /// Not well-formed PEM.
    #[error(transparent)]
    Pem(#[from] PemError),
    /// A block that is not an X.509 certificate.
    #[error("certificate {index} is not a valid X.509 certificate ({reason})")]
    Invalid {
        /// Its position in the bundle, from 1.
        index: usize,
        /// What the root store says.
        reason: String,
    },
}

/// Where building the HTTP client for a service the broker calls failed, with what the
/// underlying error said; the caller names the setting at fault.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientError {
    /// A CA document is not PEM.
    NotPem(String),
    /// A CA certificate cannot be used by the TLS stack.
    Unusable(String),
    /// The client could not be built.
    Build(String),
}

impl ClientError {
    /// The error in words, for the HTTP client of `service` (`the director`, `bosh_credhub`)
    /// whose CA certificates are set at `setting` (`bosh.root_ca_cert`, `bosh_credhub`).
    pub fn words(&self, service: &str, setting: &str) -> String {
        match self {
            Self::NotPem(e) => format!("{setting}: a CA certificate is not PEM: {e}"),
            Self::Unusable(e) => format!("{setting}: a CA certificate cannot be used: {e}"),
            Self::Build(e) => format!(
                "cannot build the HTTP client for {service} (are the CA certificates of {setting} valid?): {e}"
            ),
        }
    }
}

/// The HTTP client for a service the broker calls (the BOSH director, CredHub): rustls with
/// the system's web roots plus the certificates of the `ca_pems` bundles, keep-alive pooling,
/// no redirect following, and `timeout` for each request.
pub fn http_client<'a>(
    ca_pems: impl IntoIterator<Item = &'a str>, timeout: std::time::Duration,
) -> Result<reqwest::Client, ClientError> {
    use std::time::Duration;
    let mut builder = reqwest::Client::builder()
        .use_rustls_tls()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(Duration::from_secs(10))
        .timeout(timeout)
        .pool_idle_timeout(Duration::from_secs(60))
        .tcp_keepalive(Duration::from_secs(30));
    for pem in ca_pems {
        let certs = ca_certificates(pem).map_err(|e| ClientError::NotPem(e.to_string()))?;
        for cert in certs {
            let cert = reqwest::Certificate::from_der(&cert)
                .map_err(|e| ClientError::Unusable(e.to_string()))?;
            builder = builder.add_root_certificate(cert);
        }
    }
    builder.build().map_err(|e| ClientError::Build(e.to_string()))
}

/// The certificates of the PEM bundle `pem`, each checked the way the director's HTTP client
/// checks a certificate it is told to trust (rustls's root store).
pub fn ca_certificates(pem: &str) -> Result<Vec<CertificateDer<'static>>, CaError> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(pem.as_bytes())
        .collect::<Result<_, _>>()
        .map_err(PemError::from)?;
    if certs.is_empty() {
        return Err(CaError::NoCertificate);
    }
    let mut store = rustls::RootCertStore::empty();
    for (i, cert) in certs.iter().enumerate() {
        store.add(cert.clone()).map_err(|e| CaError::Invalid {
            index: i + 1,
            reason: match e {
                rustls::Error::InvalidCertificate(rustls::CertificateError::BadEncoding) => {
                    "its DER encoding does not parse".to_string()
                }
                other => other.to_string(),
            },
        })?;
    }
    Ok(certs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine as _;

    /// A 2048-bit RSA key (PKCS#8), for these tests only: ring, which rcgen signs with here,
    /// cannot generate RSA keys.
    const RSA_PKCS8: &str = "-----BEGIN PRIVATE KEY-----
MIIEvAIBADANBgkqhkiG9w0BAQEFAASCBKYwggSiAgEAAoIBAQC2OZ3Y3QAx/f0O
X9VOF6j9zOM9c13vT82dKV3yUcIJvC2FM661hRZbfRjaRccia/7+KtdyA9vlmIri
GMXvQ/cVLaoVOs9vtyO9wztXXIU/gfR7osUfPsxv6GXcirVegJpAqqnjjQw6DGII
lwguajOkjVcVVDmXvKNsD0QUJrLloW5vjfKg78bsUHftCCXn7jqSpxbuVyqFE8Sh
Z+31sahWmwUqtaNkteB6VxlVNeE7t1YycTNJ9w08aBuA12yMisCq/AZi9xbv3XdM
MVn+Ts0Gh98khFB/WmuyI1PeYWziNuR8ppdboEIfRb63w5NaczccnN2P3E9S2vV8
PW1y95g9AgMBAAECggEADJ+3iooI6kMHuxgILXBLLJtQlMsUvgWfyhxPCKtW+his
vfZuIIoh7zWejqSDM/nFAQj+bZoh1j6NRIuQeXpnuB0L6YuY9PV8MY3AYyrNhQWf
kR8eG9jcYyuiPuHnHa8Na0nHb4mvx/0Kn5YNouAy8q/jUV7JMfSyDO7jzvzoANYN
D2pc+8AkmMdxBvsMODNK48O/wroI7Cvfl5VXNNuM12solqoSsFHgESPTYTxHiFHX
X31KFGXNYkosrWr9x2WFhtrfebpYVVvyRlb8t8gkW3oHiO4HZeTPrQb3xxgiPry8
0uLd3Hw/kGNNrxQdsOyh1iCpewuxp40MP3bq+nyFQQKBgQDZ0fOLjUXepYAgx8IJ
2bOqVM+XnUDqrGdB6jINbhvFc05Wc0DQR1ZJy3iF39r59TTaY9ZoxFwmfvkEmPUA
B856E6QzN2CdlKy/odj5cAfyKfkGEFJt6URqLywwV8bo1KmzleCLzwKZHnLIw26z
1S5435OAM7R4QHzOg4v2043YIQKBgQDWKnCbmlycfUe4OikWgaPW9I0uACz7sVjW
nEfd1Ks+xR1MpNShz8OwVnGvVm/5/WdLfn/wMhrL0e+rVe4kGPcz+NuzmRlGmQBX
J5wfB6oAS35fkfpm6KkHBK6GbpkDCmKxDxaFh3DliO11O5YFV/kAp8iz/n+rDvHu
cbcuKciMnQKBgDHas/uE4jELgEAAeJD4mv6pWrpA69LKkverOrmIMiMHOS7gQj1p
ln5da8B4dA4x6V7y6ugfyVemSCidObZAEyotxK9URXDLzp4t1ROCaM8sfCq/IZ62
fUowcdS+wnAX/J919mcJgna5WVxKHtRaPsC7q270ZqH/YJGD2k0sLpMBAoGAKtDF
PnZ3uVlaczw9ZqB4TssJRn8GfzMPXahUvcZ8jcn+d4okcE0HBEPj6nfPXx0H/5HE
phJ+RO0tiwVc3J6ZHSzNT3R2FyUTalki3xk7JV/yXczjUJuG3z5SXdHSiUcUP+2S
RRO0wE7FmkBVV7AkubrRZxqkD2CngVH+mx4DWAkCgYB/D1zfYJs3ngi12r/E88xp
8URhWY5EwiwBdqqqh0z1KPRWiiNwxMkIi+sCHi6+hMhFmf3+EvWHut/8+39hXagd
15y+DanrxFg8S+tSYLcKXnjvQpNZcGfmfN+ds17W+XlWN7YAzKz9E7/x5ORZ8Od8
5DJ2BfvT4CTTHkxPkJQl0w==
-----END PRIVATE KEY-----
";

    /// A P-256 key as `openssl ecparam -genkey` writes it (SEC1, with the curve), for these
    /// tests only.
    const EC_SEC1: &str = "-----BEGIN EC PRIVATE KEY-----
MHcCAQEEIMt0pSdNElFB33uRaLGBv6/itOtjVJxpeMTkAhxe6BvhoAoGCCqGSM49
AwEHoUQDQgAEpz9OjHcubt9CgnRiMz4rYAXz3QA/AsItZHwOsugt19jYXME50BkA
BNgp90SBLIMPOn8CSdwqe9CttHb6Z6IyKQ==
-----END EC PRIVATE KEY-----
";

    /// The same P-256 key as PKCS#8, which rcgen signs with.
    const EC_PKCS8: &str = "-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgy3SlJ00SUUHfe5Fo
sYG/r+K062NUnGl4xOQCHF7oG+GhRANCAASnP06Mdy5u30KCdGIzPitgBfPdAD8C
wi1kfA6y6C3X2NhcwTnQGQAE2Cn3RIEsgw86fwJJ3Cp70K20dvpnojIp
-----END PRIVATE KEY-----
";

    /// A self-signed certificate for `key`, valid between the two dates.
    fn certificate(
        key: &rcgen::KeyPair, not_before: (i32, u8, u8), not_after: (i32, u8, u8),
    ) -> String {
        let mut params = rcgen::CertificateParams::new(vec!["localhost".to_string()]).unwrap();
        params.not_before = rcgen::date_time_ymd(not_before.0, not_before.1, not_before.2);
        params.not_after = rcgen::date_time_ymd(not_after.0, not_after.1, not_after.2);
        params.self_signed(key).unwrap().pem()
    }

    /// A certificate valid from 2020 to 2999.
    fn current(key: &rcgen::KeyPair) -> String {
        certificate(key, (2020, 1, 1), (2999, 1, 1))
    }

    /// `der` as a PEM block labelled `label`.
    fn pem_block(label: &str, der: &[u8]) -> String {
        let body = base64::engine::general_purpose::STANDARD.encode(der);
        let lines: Vec<&str> =
            body.as_bytes().chunks(64).map(|l| std::str::from_utf8(l).unwrap()).collect();
        format!("-----BEGIN {label}-----\n{}\n-----END {label}-----\n", lines.join("\n"))
    }

    /// Writes the two files and loads them as `broker.tls`.
    struct Files {
        /// Removed on drop.
        _dir: tempfile::TempDir,
        tls: TlsFiles,
    }

    impl Files {
        fn new(cert: &str, key: &str) -> Self {
            let dir = tempfile::tempdir().unwrap();
            let tls = TlsFiles {
                cert_file: dir.path().join("cert.pem"),
                key_file: dir.path().join("key.pem"),
            };
            std::fs::write(&tls.cert_file, cert).unwrap();
            std::fs::write(&tls.key_file, key).unwrap();
            Self { _dir: dir, tls }
        }

        /// Files with a fresh key and a certificate for it valid from `not_before` to
        /// `not_after`; the key too.
        fn valid_between(
            not_before: (i32, u8, u8), not_after: (i32, u8, u8),
        ) -> (Self, rcgen::KeyPair) {
            let key = rcgen::KeyPair::generate().unwrap();
            let files = Self::new(&certificate(&key, not_before, not_after), &key.serialize_pem());
            (files, key)
        }

        fn load(&self) -> Result<rustls::ServerConfig, TlsError> {
            load(&self.tls)
        }

        /// The error, as the operator reads it.
        fn message(&self) -> String {
            match self.load() {
                Ok(_) => panic!("the files were accepted"),
                Err(e) => e.to_string(),
            }
        }

        /// Checks that the message starts by naming `file` (`cert_file` or `key_file`) and
        /// `what` is wrong with it, and that it holds each of `parts`.
        fn assert_message(&self, file: &str, what: &str, parts: &[&str]) {
            let path = match file {
                "cert_file" => &self.tls.cert_file,
                _ => &self.tls.key_file,
            };
            let message = self.message();
            let start = format!("broker.tls.{file} '{}' {what}", path.display());
            assert!(message.starts_with(&start), "{message}");
            for part in parts {
                assert!(message.contains(part), "{message}");
            }
        }
    }

    #[test]
    fn a_current_certificate_and_its_key_load() {
        let key = rcgen::KeyPair::generate().unwrap();
        let files = Files::new(&current(&key), &key.serialize_pem());
        files.load().unwrap();
        // The chain may follow the server certificate, and other blocks are skipped.
        let other = rcgen::KeyPair::generate().unwrap();
        let chain = format!(
            "{}{}-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n",
            current(&key),
            current(&other)
        );
        let files = Files::new(&chain, &key.serialize_pem());
        files.load().unwrap();
        assert_eq!(
            read_chain(&files.tls.cert_file, 0).unwrap().0.len(),
            2,
            "both certificates are served"
        );
    }

    #[test]
    fn private_keys_load_in_pkcs8_pkcs1_and_sec1_form() {
        // PKCS#8 RSA, and PKCS#1: the RSAPrivateKey that PKCS#8 wraps in an OCTET STRING.
        let rsa = rcgen::KeyPair::from_pem(RSA_PKCS8).unwrap();
        Files::new(&current(&rsa), RSA_PKCS8).load().unwrap();
        let pkcs8 = rsa.serialize_der();
        let (_, info) = x509_parser::der_parser::parse_der(&pkcs8).unwrap();
        let pkcs1 = info.as_sequence().unwrap()[2].as_slice().unwrap();
        let pkcs1_pem = pem_block("RSA PRIVATE KEY", pkcs1);
        assert!(matches!(
            PrivateKeyDer::from_pem_slice(pkcs1_pem.as_bytes()).unwrap(),
            PrivateKeyDer::Pkcs1(_)
        ));
        Files::new(&current(&rsa), &pkcs1_pem).load().unwrap();

        // SEC1 as openssl writes it, and the same key as PKCS#8.
        let ec = rcgen::KeyPair::from_pem(EC_PKCS8).unwrap();
        assert!(matches!(
            PrivateKeyDer::from_pem_slice(EC_SEC1.as_bytes()).unwrap(),
            PrivateKeyDer::Sec1(_)
        ));
        Files::new(&current(&ec), EC_SEC1).load().unwrap();
        Files::new(&current(&ec), EC_PKCS8).load().unwrap();

        // Ed25519, as rcgen generates it (PKCS#8).
        let ed = rcgen::KeyPair::generate_for(&rcgen::PKCS_ED25519).unwrap();
        Files::new(&current(&ed), &ed.serialize_pem()).load().unwrap();
    }

    #[test]
    fn an_expired_certificate_is_refused_with_its_date() {
        let (files, key) = Files::valid_between((2019, 1, 1), (2020, 1, 1));
        assert!(matches!(files.load(), Err(TlsError::Expired { not_after: 1_577_836_800, .. })));
        let message = files.message();
        assert_eq!(
            message,
            format!(
                "broker.tls.cert_file '{}': server certificate expired on 2020-01-01T00:00:00.000Z; renew it",
                files.tls.cert_file.display()
            )
        );
        // notAfter itself is still valid; the second after it is not.
        assert!(read_chain(&files.tls.cert_file, 1_577_836_800).is_ok());
        assert!(read_chain(&files.tls.cert_file, 1_577_836_801).is_err());
        // Only the server certificate (the first) is checked, as by the Go broker.
        let current_first =
            format!("{}{}", current(&key), certificate(&key, (2019, 1, 1), (2020, 1, 1)));
        Files::new(&current_first, &key.serialize_pem()).load().unwrap();
    }

    #[test]
    fn a_certificate_not_valid_yet_is_served_with_a_warning() {
        let (files, _) = Files::valid_between((2999, 1, 1), (3000, 1, 1));
        // Like the Go broker, which checks expiry only, the broker starts.
        files.load().unwrap();
        let now = 1_700_000_000;
        let (_, validity) = read_chain(&files.tls.cert_file, now).unwrap();
        let Validity::NotYetValid { not_before } = validity else {
            panic!("{validity:?}");
        };
        assert_eq!(crate::store::format_rfc3339(not_before * 1000), "2999-01-01T00:00:00.000Z");
        assert_eq!(read_chain(&files.tls.cert_file, not_before).unwrap().1, Validity::Current);
    }

    #[test]
    fn a_key_that_does_not_match_names_both_files() {
        let key = rcgen::KeyPair::generate().unwrap();
        let other = rcgen::KeyPair::generate().unwrap();
        let files = Files::new(&current(&key), &other.serialize_pem());
        assert!(matches!(files.load(), Err(TlsError::KeyMismatch { .. })));
        assert_eq!(
            files.message(),
            format!(
                "broker.tls: the private key in '{}' does not belong to the server certificate in '{}': set key_file to the key the certificate was issued for",
                files.tls.key_file.display(),
                files.tls.cert_file.display()
            )
        );
        // A key of another type does not match either.
        let rsa = rcgen::KeyPair::from_pem(RSA_PKCS8).unwrap();
        let files = Files::new(&current(&rsa), EC_SEC1);
        assert!(matches!(files.load(), Err(TlsError::KeyMismatch { .. })));
    }

    #[test]
    fn a_file_without_a_certificate_says_what_it_must_hold() {
        let key = rcgen::KeyPair::generate().unwrap();
        for (cert, hint) in [
            ("", ""),
            ("just some text\n", ""),
            (
                key.serialize_pem().as_str(),
                "it holds a private key: are cert_file and key_file swapped?",
            ),
        ] {
            let files = Files::new(cert, &key.serialize_pem());
            assert!(matches!(files.load(), Err(TlsError::NoCertificate { .. })), "{cert:?}");
            let parts = ["-----BEGIN CERTIFICATE-----", hint];
            files.assert_message("cert_file", "holds no PEM certificate", &parts);
        }
    }

    #[test]
    fn a_file_without_a_private_key_says_what_it_must_hold() {
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = current(&key);
        let encrypted =
            "-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n";
        for (key_pem, hint) in [
            ("", ""),
            (cert.as_str(), "it holds a certificate: are cert_file and key_file swapped?"),
            (encrypted, "it holds an encrypted key: decrypt it first"),
        ] {
            let files = Files::new(&cert, key_pem);
            assert!(matches!(files.load(), Err(TlsError::NoKey { .. })), "{key_pem:?}");
            files.assert_message("key_file", "holds no PEM private key", &["(PKCS#1)", hint]);
        }
    }

    #[test]
    fn unreadable_and_malformed_files_are_named() {
        let key = rcgen::KeyPair::generate().unwrap();
        let files = Files::new(&current(&key), &key.serialize_pem());
        std::fs::remove_file(&files.tls.key_file).unwrap();
        files.assert_message("key_file", "cannot be read: ", &[]);

        let cut = current(&key);
        let cut = &cut[..cut.len() / 2];
        let files = Files::new(cut, &key.serialize_pem());
        assert_eq!(
            files.message(),
            format!(
                "broker.tls.cert_file '{}' is not valid PEM: a -----BEGIN CERTIFICATE----- line has no matching -----END CERTIFICATE----- line",
                files.tls.cert_file.display()
            )
        );
        let files = Files::new(
            "-----BEGIN CERTIFICATE-----\n%%%%\n-----END CERTIFICATE-----\n",
            &key.serialize_pem(),
        );
        assert!(
            files
                .message()
                .contains("is not valid PEM: the body of a PEM block is not valid base64"),
            "{}",
            files.message()
        );
        // Well-formed PEM around bytes that are not a certificate.
        let files =
            Files::new(&pem_block("CERTIFICATE", b"\x30\x03\x02\x01\x01"), &key.serialize_pem());
        assert!(matches!(files.load(), Err(TlsError::BadCertificate { .. })));
        assert!(
            files.message().contains(
                "the server certificate (the first in the file) is not a valid X.509 certificate"
            ),
            "{}",
            files.message()
        );
    }

    #[test]
    fn ca_bundles_are_checked_certificate_by_certificate() {
        let one = rcgen::generate_simple_self_signed(vec!["ca-one".to_string()]).unwrap();
        let two = rcgen::generate_simple_self_signed(vec!["ca-two".to_string()]).unwrap();
        let bundle = format!("{}\n{}", one.cert.pem(), two.cert.pem());
        let certs = ca_certificates(&bundle).unwrap();
        assert_eq!(certs.len(), 2);
        assert_eq!(certs[0].as_ref(), one.cert.der().as_ref());

        for (pem, message) in [
            ("", "no -----BEGIN CERTIFICATE----- block found"),
            (
                "not a certificate",
                "no -----BEGIN CERTIFICATE----- block found",
            ),
            (
                "-----BEGIN CERTIFICATE-----\nMIIB",
                "a -----BEGIN CERTIFICATE----- line has no matching -----END CERTIFICATE----- line",
            ),
            (
                "-----BEGIN CERTIFICATE----\nMIIB\n-----END CERTIFICATE-----",
                "malformed line '-----BEGIN CERTIFICATE----': a BEGIN line reads -----BEGIN <label>-----",
            ),
        ] {
            assert_eq!(
                ca_certificates(pem).unwrap_err().to_string(),
                message,
                "{pem:?}"
            );
        }
        // The start of a certificate, cut short: base64 of a DER SEQUENCE header.
        let cut = format!(
            "{}-----BEGIN CERTIFICATE-----\nMIIBdjCCARygAwIBAgIUQ6pY\n-----END CERTIFICATE-----\n",
            one.cert.pem()
        );
        assert_eq!(
            ca_certificates(&cut).unwrap_err().to_string(),
            "certificate 2 is not a valid X.509 certificate (its DER encoding does not parse)"
        );
    }
}

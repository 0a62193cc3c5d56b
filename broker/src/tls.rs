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
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default();
    if let Some(expiry) = not_after(&certs[0]) {
        if expiry < now {
            return Err(format!(
                "broker.tls.cert_file '{}': server certificate expired on {}; renew it",
                files.cert_file.display(),
                crate::store::format_rfc3339(expiry * 1000)
            ));
        }
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

/// The `notAfter` time of a DER certificate, as seconds since the Unix epoch.
///
/// Walks just enough DER to reach `tbsCertificate.validity.notAfter`: certificate SEQUENCE,
/// tbsCertificate SEQUENCE, optional `[0]` version, serial INTEGER, signature algorithm
/// SEQUENCE, issuer SEQUENCE, validity SEQUENCE { notBefore, notAfter }.
pub fn not_after(der: &[u8]) -> Option<i64> {
    /// One DER element: (tag, content, rest).
    fn element(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
        let (&tag, rest) = input.split_first()?;
        let (&first, rest) = rest.split_first()?;
        let (len, rest) = if first < 0x80 {
            (first as usize, rest)
        } else {
            let n = (first & 0x7f) as usize;
            if n == 0 || n > 4 || rest.len() < n {
                return None;
            }
            let len = rest[..n]
                .iter()
                .fold(0usize, |acc, &b| (acc << 8) | b as usize);
            (len, &rest[n..])
        };
        (rest.len() >= len).then(|| (tag, &rest[..len], &rest[len..]))
    }
    let (_, cert, _) = element(der)?;
    let (_, tbs, _) = element(cert)?;
    let (tag, _, mut rest) = element(tbs)?;
    if tag == 0xa0 {
        // The explicit version came first; the serial number is next.
        rest = element(rest)?.2;
    }
    let rest = element(rest)?.2; // signature algorithm
    let rest = element(rest)?.2; // issuer
    let (_, validity, _) = element(rest)?;
    let (_, _, after_not_before) = element(validity)?;
    let (tag, time, _) = element(after_not_before)?;
    parse_time(tag, std::str::from_utf8(time).ok()?)
}

/// UTCTime (`YYMMDDHHMMSSZ`, tag 0x17) or GeneralizedTime (`YYYYMMDDHHMMSSZ`, tag 0x18).
fn parse_time(tag: u8, text: &str) -> Option<i64> {
    let digits = text.strip_suffix('Z')?;
    let (year, rest) = match tag {
        0x17 => {
            let yy: i64 = digits.get(..2)?.parse().ok()?;
            (
                if yy >= 50 { 1900 + yy } else { 2000 + yy },
                digits.get(2..)?,
            )
        }
        0x18 => (digits.get(..4)?.parse().ok()?, digits.get(4..)?),
        _ => return None,
    };
    let field = |i: usize| -> Option<i64> { rest.get(i..i + 2)?.parse().ok() };
    let (month, day, hour, minute, second) =
        (field(0)?, field(2)?, field(4)?, field(6)?, field(8)?);
    // Days from the civil date (proleptic Gregorian), as in the inverse of store::format_rfc3339.
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days * 86_400 + hour * 3600 + minute * 60 + second)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_not_after_from_a_generated_certificate() {
        let expiring = |y: i32, m: u8, d: u8| {
            let mut params = rcgen::CertificateParams::new(vec!["localhost".to_string()]).unwrap();
            params.not_after = rcgen::date_time_ymd(y, m, d);
            let key = rcgen::KeyPair::generate().unwrap();
            params.self_signed(&key).unwrap()
        };
        // 2031-03-15T00:00:00Z (UTCTime).
        assert_eq!(not_after(expiring(2031, 3, 15).der()), Some(1_931_299_200));
        assert_eq!(not_after(expiring(2049, 12, 31).der()), Some(2_524_521_600));
        // After 2049 certificates use GeneralizedTime.
        assert_eq!(not_after(expiring(2051, 1, 1).der()), Some(2_556_144_000));
        assert_eq!(not_after(expiring(2020, 2, 29).der()), Some(1_582_934_400));
        assert_eq!(not_after(b"\x30\x03\x02\x01"), None);
    }
}

//! Sealing: how the store encrypts the secrets it keeps (AES-256-GCM, with `ring`).
//!
//! The operator configures one or more *root keys*, each a label and a secret of at least
//! [`MIN_SECRET_BYTES`] bytes, one of them primary (see [`KeySet`]). The key that seals a
//! value is derived from a root key with HKDF-SHA256, salted with 32 random bytes that the
//! database keeps per label (`sealing_keys`, see `keys`), so the same secret gives different
//! keys in different databases. Keys are derived once, when the store opens; sealing a value
//! is then one AES-GCM call.
//!
//! A sealed value is text:
//!
//! ```text
//! odb-sealed:1:<label>:<base64url, no padding, of nonce (12 bytes) || ciphertext || tag (16 bytes)>
//! ```
//!
//! `1` is the format version, `<label>` the root key it was sealed with (so a value sealed
//! with an older primary still opens, and rotation finds what to re-encrypt), and the nonce is
//! random per value. The associated data binds the ciphertext to where it is stored: the
//! table, the column and the row's key (see [`Cell`]), so a sealed value copied to another
//! row or column no longer opens.

use base64::Engine as _;
use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use ring::hkdf;
use ring::rand::{SecureRandom, SystemRandom};
use std::collections::BTreeMap;

/// What every sealed value starts with: the format and its version.
pub const PREFIX: &str = "odb-sealed:1:";

/// The shortest root-key secret accepted, in bytes.
pub const MIN_SECRET_BYTES: usize = 32;

/// The longest key label accepted.
pub const MAX_LABEL_LEN: usize = 64;

/// Length of the per-label random salt.
pub(super) const SALT_LEN: usize = 32;

/// HKDF `info` for the derived sealing key: names the purpose and the format version.
const HKDF_INFO: &[u8] = b"on-demand-broker store sealing v1";

const TAG_LEN: usize = 16;

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// A root key's secret. Its `Debug` never shows the bytes.
#[derive(Clone, PartialEq, Eq)]
pub struct KeySecret(Vec<u8>);

impl KeySecret {
    /// Wraps secret bytes.
    pub fn new(bytes: impl Into<Vec<u8>>) -> Self {
        Self(bytes.into())
    }

    /// How many bytes the secret has.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True for an empty secret.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl std::fmt::Debug for KeySecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "KeySecret([redacted; {} bytes])", self.0.len())
    }
}

/// One root key: its label and its secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RootKey {
    /// The name the database knows the key by (stored in every value it seals).
    pub label: String,
    /// The secret the sealing keys are derived from.
    pub secret: KeySecret,
}

/// Why a set of root keys is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeySetError {
    /// A label is empty, too long, or has a character other than letters, digits, `.`, `_`, `-`.
    #[error("label '{0}' is not valid: use 1 to {MAX_LABEL_LEN} letters, digits, '.', '_' or '-'")]
    BadLabel(String),
    /// Two keys have the same label.
    #[error("label '{0}' is used by more than one key: give every key its own label")]
    DuplicateLabel(String),
    /// A secret is too short.
    #[error(
        "the secret of key '{label}' has {len} bytes: use at least {MIN_SECRET_BYTES} random bytes"
    )]
    ShortSecret {
        /// The key.
        label: String,
        /// How many bytes it has.
        len: usize,
    },
    /// The primary label is not one of the keys.
    #[error("no key has the primary label '{0}'")]
    NoPrimary(String),
}

/// Whether `label` is a valid key label; the reason when it is not.
pub fn check_label(label: &str) -> Result<(), KeySetError> {
    let ok = !label.is_empty()
        && label.len() <= MAX_LABEL_LEN
        && label.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(KeySetError::BadLabel(label.to_string()))
    }
}

/// The root keys the store seals with: unique valid labels, secrets long enough, and one of
/// them primary (new values are sealed with it; the others only open older values).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeySet {
    keys: Vec<RootKey>,
    primary: String,
}

impl KeySet {
    /// Checks and builds a key set.
    pub fn new(keys: Vec<RootKey>, primary: &str) -> Result<Self, KeySetError> {
        let mut seen = std::collections::BTreeSet::new();
        for key in &keys {
            check_label(&key.label)?;
            if !seen.insert(key.label.as_str()) {
                return Err(KeySetError::DuplicateLabel(key.label.clone()));
            }
            if key.secret.len() < MIN_SECRET_BYTES {
                return Err(KeySetError::ShortSecret {
                    label: key.label.clone(),
                    len: key.secret.len(),
                });
            }
        }
        if !seen.contains(primary) {
            return Err(KeySetError::NoPrimary(primary.to_string()));
        }
        Ok(Self { keys, primary: primary.to_string() })
    }

    /// The label new values are sealed with.
    pub fn primary(&self) -> &str {
        &self.primary
    }

    /// Every key, primary or not.
    pub fn keys(&self) -> &[RootKey] {
        &self.keys
    }
}

/// Where a sealed value lives: its table, its column and the row's key (the primary-key
/// columns' values, in order). It is the associated data of the seal.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Cell<'a> {
    /// The table.
    pub table: &'a str,
    /// The column.
    pub column: &'a str,
    /// The row's key.
    pub key: &'a [&'a str],
}

impl Cell<'_> {
    /// The associated data: each part length-prefixed, so no two cells give the same bytes.
    fn aad(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(64);
        for part in [PREFIX, self.table, self.column].into_iter().chain(self.key.iter().copied()) {
            out.extend_from_slice(&(part.len() as u32).to_be_bytes());
            out.extend_from_slice(part.as_bytes());
        }
        out
    }
}

/// Why a stored value does not open.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OpenError {
    /// It is not in the sealed format at all.
    #[error("it is not a sealed value (it does not start with '{PREFIX}')")]
    NotSealed,
    /// It starts like a sealed value but is not one.
    #[error("it is not a well-formed sealed value: {0}")]
    Malformed(&'static str),
    /// It is sealed with a key that is not configured.
    #[error("it is sealed with key '{0}', which is not configured")]
    UnknownKey(String),
    /// Authentication failed.
    #[error("it does not open with key '{0}': the key's secret is wrong, or the value was changed or copied from another row")]
    Rejected(String),
}

/// The derived sealing keys, ready to seal and open values. Built once when the store opens.
pub struct Keyring {
    primary: String,
    keys: BTreeMap<String, LessSafeKey>,
    rng: SystemRandom,
}

impl std::fmt::Debug for Keyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keyring")
            .field("primary", &self.primary)
            .field("labels", &self.keys.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// Fills `buf` with random bytes from the system's generator.
pub(super) fn random_bytes(buf: &mut [u8]) {
    SystemRandom::new().fill(buf).expect("the system random number generator failed");
}

/// Derives the AES-256-GCM key of a root key for a database (its `salt`).
pub(super) fn derive(secret: &KeySecret, salt: &[u8]) -> LessSafeKey {
    let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, salt).extract(&secret.0);
    let okm = prk
        .expand(&[HKDF_INFO], &AES_256_GCM)
        .expect("32 bytes is a valid HKDF-SHA256 output length");
    LessSafeKey::new(UnboundKey::from(okm))
}

/// The label a sealed value names, if it looks sealed.
pub(crate) fn label_of(stored: &str) -> Option<&str> {
    stored.strip_prefix(PREFIX)?.split_once(':').map(|(l, _)| l)
}

/// The text every value sealed with `label` starts with.
pub(crate) fn prefix_of(label: &str) -> String {
    format!("{PREFIX}{label}:")
}

impl Keyring {
    /// A keyring of derived keys (label → key); `primary` must be one of them.
    pub(super) fn new(primary: &str, keys: BTreeMap<String, LessSafeKey>) -> Self {
        assert!(keys.contains_key(primary), "the primary key is derived");
        Self { primary: primary.to_string(), keys, rng: SystemRandom::new() }
    }

    /// The label new values are sealed with.
    pub(crate) fn primary(&self) -> &str {
        &self.primary
    }

    /// Whether a key with this label is configured.
    pub(crate) fn has(&self, label: &str) -> bool {
        self.keys.contains_key(label)
    }

    /// Seals `plaintext` for `cell` with the primary key.
    pub(crate) fn seal(&self, cell: &Cell<'_>, plaintext: &[u8]) -> String {
        self.seal_with(&self.primary, cell, plaintext)
    }

    /// Seals `plaintext` for `cell` with the key `label` (which must be configured).
    pub(super) fn seal_with(&self, label: &str, cell: &Cell<'_>, plaintext: &[u8]) -> String {
        let key = &self.keys[label];
        let mut nonce = [0u8; NONCE_LEN];
        self.rng.fill(&mut nonce).expect("the system random number generator failed");
        let mut buf = Vec::with_capacity(NONCE_LEN + plaintext.len() + TAG_LEN);
        buf.extend_from_slice(&nonce);
        buf.extend_from_slice(plaintext);
        let tag = key
            .seal_in_place_separate_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(cell.aad()),
                &mut buf[NONCE_LEN..],
            )
            .expect("AES-GCM seals any value the store holds");
        buf.extend_from_slice(tag.as_ref());
        format!("{PREFIX}{label}:{}", B64.encode(&buf))
    }

    /// Opens a value sealed for `cell`.
    pub(crate) fn open(&self, cell: &Cell<'_>, stored: &str) -> Result<Vec<u8>, OpenError> {
        let rest = stored.strip_prefix(PREFIX).ok_or(OpenError::NotSealed)?;
        let (label, body) = rest.split_once(':').ok_or(OpenError::Malformed("no key label"))?;
        let key = self.keys.get(label).ok_or_else(|| OpenError::UnknownKey(label.to_string()))?;
        let mut bytes = B64.decode(body).map_err(|_| OpenError::Malformed("not base64url"))?;
        if bytes.len() < NONCE_LEN + TAG_LEN {
            return Err(OpenError::Malformed("too short"));
        }
        let mut nonce = [0u8; NONCE_LEN];
        nonce.copy_from_slice(&bytes[..NONCE_LEN]);
        let plain_len = key
            .open_in_place(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(cell.aad()),
                &mut bytes[NONCE_LEN..],
            )
            .map_err(|_| OpenError::Rejected(label.to_string()))?
            .len();
        bytes.drain(..NONCE_LEN);
        bytes.truncate(plain_len);
        Ok(bytes)
    }
}

/// A keyring for tests: the given labels, each with a key derived from its own label-based
/// secret and a fixed salt; the first is primary.
#[cfg(test)]
pub(super) fn test_keyring(labels: &[&str], secret_of: impl Fn(&str) -> Vec<u8>) -> Keyring {
    let keys = labels
        .iter()
        .map(|l| (l.to_string(), derive(&KeySecret::new(secret_of(l)), b"salt")))
        .collect();
    Keyring::new(labels[0], keys)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret(label: &str) -> Vec<u8> {
        format!("{label}-0123456789abcdef0123456789abcdef").into_bytes()
    }

    const CELL: Cell<'static> = Cell { table: "bindings", column: "response", key: &["i1", "b1"] };

    #[test]
    fn a_value_round_trips_and_names_its_key() {
        let ring = test_keyring(&["k1"], secret);
        let sealed = ring.seal(&CELL, b"{\"password\":\"pw-1\"}");
        assert!(sealed.starts_with("odb-sealed:1:k1:"), "{sealed}");
        assert!(!sealed.contains("pw-1"));
        assert_eq!(label_of(&sealed), Some("k1"));
        assert_eq!(ring.open(&CELL, &sealed).unwrap(), b"{\"password\":\"pw-1\"}");
        assert_eq!(ring.open(&CELL, &ring.seal(&CELL, b"")).unwrap(), b"");
    }

    #[test]
    fn the_same_value_seals_differently_each_time() {
        let ring = test_keyring(&["k1"], secret);
        assert_ne!(ring.seal(&CELL, b"x"), ring.seal(&CELL, b"x"));
    }

    #[test]
    fn a_wrong_key_does_not_open_it() {
        let sealed = test_keyring(&["k1"], secret).seal(&CELL, b"secret");
        let other = test_keyring(&["k1"], |_| b"another-secret-0123456789abcdef0123".to_vec());
        assert_eq!(other.open(&CELL, &sealed), Err(OpenError::Rejected("k1".into())));
        let unknown = test_keyring(&["k2"], secret);
        assert_eq!(unknown.open(&CELL, &sealed), Err(OpenError::UnknownKey("k1".into())));
    }

    #[test]
    fn a_changed_value_does_not_open() {
        let ring = test_keyring(&["k1"], secret);
        let sealed = ring.seal(&CELL, b"secret value");
        let body = sealed.strip_prefix("odb-sealed:1:k1:").unwrap();
        let mut bytes = B64.decode(body).unwrap();
        for i in [0, NONCE_LEN, bytes.len() - 1] {
            bytes[i] ^= 1;
            let tampered = format!("odb-sealed:1:k1:{}", B64.encode(&bytes));
            assert_eq!(
                ring.open(&CELL, &tampered),
                Err(OpenError::Rejected("k1".into())),
                "byte {i}"
            );
            bytes[i] ^= 1;
        }
        let truncated = &sealed[..sealed.len() - 4];
        assert!(ring.open(&CELL, truncated).is_err());
        assert_eq!(ring.open(&CELL, "{\"a\":1}"), Err(OpenError::NotSealed));
        assert!(matches!(ring.open(&CELL, "odb-sealed:1:k1:!!"), Err(OpenError::Malformed(_))));
        assert!(matches!(ring.open(&CELL, "odb-sealed:1:k1:AAAA"), Err(OpenError::Malformed(_))));
    }

    #[test]
    fn a_value_moved_to_another_row_or_column_does_not_open() {
        let ring = test_keyring(&["k1"], secret);
        let sealed = ring.seal(&CELL, b"secret");
        for cell in [
            Cell { key: &["i1", "b2"], ..CELL },
            Cell { key: &["i2", "b1"], ..CELL },
            // Length prefixes keep ("i1b", "1") apart from ("i1", "b1").
            Cell { key: &["i1b", "1"], ..CELL },
            Cell { column: "request", ..CELL },
            Cell { table: "secrets", ..CELL },
        ] {
            assert_eq!(
                ring.open(&cell, &sealed),
                Err(OpenError::Rejected("k1".into())),
                "{cell:?}"
            );
        }
    }

    #[test]
    fn an_older_key_still_opens_what_it_sealed() {
        let old = test_keyring(&["old"], secret);
        let sealed = old.seal(&CELL, b"v");
        let both = test_keyring(&["new", "old"], secret);
        assert_eq!(both.primary(), "new");
        assert_eq!(both.open(&CELL, &sealed).unwrap(), b"v");
        assert!(both.seal(&CELL, b"v").starts_with("odb-sealed:1:new:"));
    }

    #[test]
    fn key_sets_are_checked() {
        let key = |label: &str, len: usize| RootKey {
            label: label.into(),
            secret: KeySecret::new(vec![7u8; len]),
        };
        assert!(KeySet::new(vec![key("a", 32), key("b", 40)], "b").is_ok());
        assert_eq!(
            KeySet::new(vec![key("a", 31)], "a"),
            Err(KeySetError::ShortSecret { label: "a".into(), len: 31 })
        );
        assert_eq!(
            KeySet::new(vec![key("a", 32), key("a", 32)], "a"),
            Err(KeySetError::DuplicateLabel("a".into()))
        );
        assert_eq!(KeySet::new(vec![key("a", 32)], "b"), Err(KeySetError::NoPrimary("b".into())));
        for bad in ["", "a:b", "a b", &"x".repeat(65)] {
            assert_eq!(
                KeySet::new(vec![key(bad, 32)], bad),
                Err(KeySetError::BadLabel(bad.to_string()))
            );
        }
        assert_eq!(format!("{:?}", key("a", 32).secret), "KeySecret([redacted; 32 bytes])");
    }
}

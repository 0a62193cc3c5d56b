//! Ids that come from callers — service instance, binding and operation ids — parsed once at
//! the edge into types that cannot hold a bad value.
//!
//! The rule (the same for every id, on every route: OSB, `/mgmt` and the operator CLI):
//! 1 to 64 characters, ASCII letters, digits, `.`, `_` and `-`, starting with a letter or a
//! digit. That covers what platforms send: Cloud Foundry and Korifi use GUIDs (36
//! characters), Kubernetes service catalogs use GUIDs or DNS-1123 label names (at most 63
//! characters). It excludes everything that could change the meaning of a director path, a
//! file name or a log line: `/`, `..`, `?`, `#`, `%`, spaces, control characters and anything
//! outside ASCII. An instance's BOSH deployment is `service-instance_<id>`, so a valid id
//! names exactly one deployment and never another one.

use std::fmt;

/// The prefix of every deployment this broker creates: `service-instance_<instance id>`.
pub const DEPLOYMENT_PREFIX: &str = "service-instance_";

/// The longest id accepted.
pub const MAX_ID_LEN: usize = 64;

/// The id rule, as said in error messages.
pub const ID_RULE: &str =
    "1 to 64 characters from A-Z, a-z, 0-9, '.', '_' and '-', starting with a letter or a digit";

/// Why a string is not a valid id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    /// The id is empty.
    #[error("is empty")]
    Empty,
    /// The id is longer than [`MAX_ID_LEN`].
    #[error("is {0} characters long")]
    TooLong(usize),
    /// The id does not start with a letter or a digit.
    #[error("does not start with a letter or a digit")]
    BadStart,
    /// The id holds a character outside the rule.
    #[error("holds the character {0:?} at position {1}")]
    BadCharacter(char, usize),
    /// The percent-encoded form does not decode to UTF-8.
    #[error("is not valid UTF-8 once percent-decoded")]
    InvalidUtf8,
}

/// Checks `s` against the id rule.
fn check(s: &str) -> Result<(), IdError> {
    if s.is_empty() {
        return Err(IdError::Empty);
    }
    if s.len() > MAX_ID_LEN {
        return Err(IdError::TooLong(s.chars().count()));
    }
    for (i, c) in s.chars().enumerate() {
        let ok = c.is_ascii_alphanumeric() || (i > 0 && matches!(c, '.' | '_' | '-'));
        if !ok {
            return Err(if i == 0 && matches!(c, '.' | '_' | '-') {
                IdError::BadStart
            } else {
                IdError::BadCharacter(c, i)
            });
        }
    }
    Ok(())
}

/// Decodes one percent-encoded URL path segment strictly: `%XX` escapes must form valid
/// UTF-8 (no lossy replacement, so two different byte strings never alias one id).
pub fn decode_segment(raw: &str) -> Result<String, IdError> {
    percent_encoding::percent_decode_str(raw)
        .decode_utf8()
        .map(|s| s.into_owned())
        .map_err(|_| IdError::InvalidUtf8)
}

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident, $what:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// What the id names, for messages.
            pub const WHAT: &'static str = $what;

            /// Parses an id that follows the rule.
            pub fn parse(s: &str) -> Result<Self, IdError> {
                check(s).map(|()| Self(s.to_string()))
            }

            /// Parses an id from a percent-encoded URL path segment.
            pub fn from_path_segment(raw: &str) -> Result<Self, IdError> {
                Self::parse(&decode_segment(raw)?)
            }

            /// The id as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl std::ops::Deref for $name {
            type Target = str;
            fn deref(&self) -> &str {
                &self.0
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                Self::parse(&s).map_err(|e| {
                    serde::de::Error::custom(format!("{} {e}: use {ID_RULE}", Self::WHAT))
                })
            }
        }
    };
}

id_type!(
    /// A service instance id.
    InstanceId,
    "the service instance id"
);
id_type!(
    /// A service binding id.
    BindingId,
    "the binding id"
);
id_type!(
    /// An operation id (the broker makes them; platforms send them back).
    OperationId,
    "the operation id"
);

impl InstanceId {
    /// The name of the instance's BOSH deployment.
    pub fn deployment_name(&self) -> String {
        format!("{DEPLOYMENT_PREFIX}{}", self.0)
    }
}

impl OperationId {
    /// A fresh operation id.
    pub fn new_random() -> Self {
        Self(uuid::Uuid::new_v4().to_string())
    }
}

/// Escapes a caller-controlled string for a log line: control characters (CR, LF, NUL, ESC,
/// ...) and backslashes become escapes, and the text is cut after `max` characters, so a
/// caller can neither forge log lines nor flood the log.
pub fn log_safe(s: &str, max: usize) -> String {
    let mut out = String::with_capacity(s.len().min(max) + 8);
    for (n, c) in s.chars().enumerate() {
        if n == max {
            out.push_str(&format!("…({} more characters)", s.chars().count() - max));
            break;
        }
        match c {
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.extend(c.escape_default()),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guids_and_kubernetes_names_are_ids() {
        for ok in [
            "8c1ae6d4-4ac2-4a1a-8a8f-3e55b2d8cfe3",
            "my-redis",
            "a",
            "A.b_c-9",
            "0",
            &"x".repeat(64),
        ] {
            assert_eq!(InstanceId::parse(ok).unwrap().as_str(), ok);
            assert!(BindingId::parse(ok).is_ok());
        }
    }

    #[test]
    fn hostile_ids_are_refused() {
        let long = "a".repeat(10_000);
        for bad in [
            "",
            ".",
            "..",
            "../x",
            "x/../../deployments/cf",
            "x/y",
            "a#b",
            "a?b",
            "a%2Fb",
            "a b",
            "a\r\nX-Injected: 1",
            "a\0b",
            "é",
            "-a",
            "_a",
            ".hidden",
            &long,
            &"x".repeat(65),
        ] {
            assert!(InstanceId::parse(bad).is_err(), "{bad:?}");
            assert!(BindingId::parse(bad).is_err(), "{bad:?}");
            assert!(OperationId::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn path_segments_are_decoded_strictly() {
        assert_eq!(
            InstanceId::from_path_segment("my%2Dredis")
                .unwrap()
                .as_str(),
            "my-redis"
        );
        assert_eq!(
            InstanceId::from_path_segment("bad%FEutf8"),
            Err(IdError::InvalidUtf8)
        );
        assert_eq!(
            InstanceId::from_path_segment("bad%FFutf8"),
            Err(IdError::InvalidUtf8)
        );
        for bad in [
            "x%2F..%2F..%2Fdeployments%2Fcf",
            "%2e%2e",
            "a%23",
            "a%0D%0Ab",
            "a%00",
        ] {
            assert!(InstanceId::from_path_segment(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn errors_say_what_is_wrong() {
        assert_eq!(
            InstanceId::parse("a/b").unwrap_err().to_string(),
            "holds the character '/' at position 1"
        );
        assert_eq!(
            InstanceId::parse(&"x".repeat(70)).unwrap_err(),
            IdError::TooLong(70)
        );
        let err = serde_json::from_str::<BindingId>("\"a b\"").unwrap_err();
        assert!(err.to_string().contains("the binding id holds"), "{err}");
    }

    #[test]
    fn the_deployment_is_named_after_the_instance() {
        assert_eq!(
            InstanceId::parse("abc").unwrap().deployment_name(),
            "service-instance_abc"
        );
    }

    #[test]
    fn log_lines_cannot_be_forged_or_flooded() {
        assert_eq!(log_safe("a\r\nX-Injected: 1", 100), "a\\r\\nX-Injected: 1");
        assert_eq!(log_safe("a\u{1b}[31m", 100), "a\\u{1b}[31m");
        assert_eq!(log_safe("back\\slash", 100), "back\\\\slash");
        let cut = log_safe(&"M".repeat(16_000), 64);
        assert!(cut.starts_with(&"M".repeat(64)));
        assert!(cut.ends_with("(15936 more characters)"), "{cut}");
        assert!(cut.len() < 100);
    }
}

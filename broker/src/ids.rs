//! Ids that come from callers — service instance, binding and operation ids, and the catalog's
//! service and plan ids — parsed once at the edge into types that cannot hold a bad value.
//!
//! The instance, binding and operation id rule (the same for every such id, on every route:
//! OSB, `/mgmt` and the operator CLI):
//! 1 to 64 characters, ASCII letters, digits, `.`, `_` and `-`, starting with a letter or a
//! digit. That covers what platforms send: Cloud Foundry and Korifi use GUIDs (36
//! characters), Kubernetes service catalogs use GUIDs or DNS-1123 label names (at most 63
//! characters). It excludes everything that could change the meaning of a director path, a
//! file name or a log line: `/`, `..`, `?`, `#`, `%`, spaces, control characters and anything
//! outside ASCII. An instance's BOSH deployment is `service-instance_<id>`, so a valid id
//! names exactly one deployment and never another one.
//!
//! The catalog id rule, for [`ServiceId`] and [`PlanId`]: 1 to 255 characters, none of them a
//! control character. Catalog ids are chosen by the operator, and the OSB specification lets
//! them hold any character (GUIDs are only recommended), so a configuration written for
//! another broker may use spaces, slashes or letters outside ASCII; the broker therefore
//! never builds a path or a file name from them unencoded. What the rule refuses is what no
//! catalog needs and what could forge a log line or a header: empty ids, control characters
//! (CR, LF, NUL, ESC, ...) and floods (Cloud Foundry keeps catalog ids in 255-character
//! columns).

use std::fmt;

/// The prefix of every deployment this broker creates: `service-instance_<instance id>`.
pub const DEPLOYMENT_PREFIX: &str = "service-instance_";

/// The longest id accepted.
pub const MAX_ID_LEN: usize = 64;

/// The id rule, as said in error messages.
pub const ID_RULE: &str =
    "1 to 64 characters from A-Z, a-z, 0-9, '.', '_' and '-', starting with a letter or a digit";

/// The longest catalog id accepted, in characters.
pub const MAX_CATALOG_ID_LEN: usize = 255;

/// The catalog id rule, as said in error messages.
pub const CATALOG_ID_RULE: &str = "1 to 255 characters, none of them a control character";

/// Why a string is not a valid id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    /// The id is empty.
    #[error("is empty")]
    Empty,
    /// The id is longer than its rule allows ([`MAX_ID_LEN`], [`MAX_CATALOG_ID_LEN`]).
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
fn check_id(s: &str) -> Result<(), IdError> {
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

/// Checks `s` against the catalog id rule.
fn check_catalog_id(s: &str) -> Result<(), IdError> {
    if s.is_empty() {
        return Err(IdError::Empty);
    }
    // Within the limit in bytes is within it in characters; only a longer text is counted.
    if s.len() > MAX_CATALOG_ID_LEN {
        let n = s.chars().count();
        if n > MAX_CATALOG_ID_LEN {
            return Err(IdError::TooLong(n));
        }
    }
    match s.chars().enumerate().find(|(_, c)| c.is_control()) {
        Some((i, c)) => Err(IdError::BadCharacter(c, i)),
        None => Ok(()),
    }
}

/// Decodes one percent-encoded URL path segment strictly: `%XX` escapes must form valid
/// UTF-8 (no lossy replacement, so two different byte strings never alias one id).
pub fn decode_segment(raw: &str) -> Result<String, IdError> {
    percent_encoding::percent_decode_str(raw)
        .decode_utf8()
        .map(|s| s.into_owned())
        .map_err(|_| IdError::InvalidUtf8)
}

/// What every id type offers, for code that parses any of them (request bodies, query
/// parameters): what it names, its rule and its parser.
pub trait Id: Sized {
    /// What the id names, for messages.
    const WHAT: &'static str;
    /// The rule the id follows, for messages.
    const RULE: &'static str;
    /// Parses an id that follows the rule.
    fn parse(s: &str) -> Result<Self, IdError>;
}

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident, $what:literal) => {
        id_type!($(#[$doc])* $name, $what, check_id, ID_RULE);
    };
    ($(#[$doc:meta])* $name:ident, $what:literal, $check:ident, $rule:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// What the id names, for messages.
            pub const WHAT: &'static str = $what;

            /// The rule the id follows, for messages.
            pub const RULE: &'static str = $rule;

            /// Parses an id that follows the rule.
            pub fn parse(s: &str) -> Result<Self, IdError> {
                $check(s).map(|()| Self(s.to_string()))
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

        impl Id for $name {
            const WHAT: &'static str = $what;
            const RULE: &'static str = $rule;
            fn parse(s: &str) -> Result<Self, IdError> {
                Self::parse(s)
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.0 == *other
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
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
                    serde::de::Error::custom(format!("{} {e}: use {}", Self::WHAT, Self::RULE))
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

id_type!(
    /// A catalog service id (`service_catalog.id`), under the catalog id rule.
    ServiceId,
    "the service id",
    check_catalog_id,
    CATALOG_ID_RULE
);
id_type!(
    /// A catalog plan id (`service_catalog.plans[].plan_id`), under the catalog id rule.
    PlanId,
    "the plan id",
    check_catalog_id,
    CATALOG_ID_RULE
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

/// Parses an id in a test, where a bad one is the test's own mistake; the type comes from
/// where the id goes.
#[cfg(test)]
pub(crate) fn parsed<T: Id>(text: &str) -> T {
    T::parse(text).unwrap_or_else(|e| panic!("{text:?} {e}"))
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
    fn catalog_ids_may_be_any_text_an_operator_chooses() {
        for ok in [
            "8c1ae6d4-4ac2-4a1a-8a8f-3e55b2d8cfe3",
            "redis-cache-small",
            "0x1F",
            "1",
            "-leading-dash",
            ".",
            "a b",
            "plans/small",
            "a?b#c%2F",
            "é-plan-日本",
            &"x".repeat(255),
            &"é".repeat(255),
        ] {
            assert_eq!(PlanId::parse(ok).unwrap().as_str(), ok);
            assert_eq!(ServiceId::parse(ok).unwrap(), ok);
        }
    }

    #[test]
    fn hostile_catalog_ids_are_refused_without_panicking() {
        let flood = "p".repeat(100_000);
        for (bad, why) in [
            ("", IdError::Empty),
            ("a\r\nX-Injected: 1", IdError::BadCharacter('\r', 1)),
            ("\n", IdError::BadCharacter('\n', 0)),
            ("a\0b", IdError::BadCharacter('\0', 1)),
            ("tab\there", IdError::BadCharacter('\t', 3)),
            ("esc\u{1b}[31m", IdError::BadCharacter('\u{1b}', 3)),
            ("del\u{7f}", IdError::BadCharacter('\u{7f}', 3)),
            ("c1\u{85}", IdError::BadCharacter('\u{85}', 2)),
            ("éé\u{9b}", IdError::BadCharacter('\u{9b}', 2)),
            (&"x".repeat(256), IdError::TooLong(256)),
            (&"é".repeat(256), IdError::TooLong(256)),
            (&flood, IdError::TooLong(100_000)),
        ] {
            assert_eq!(PlanId::parse(bad), Err(why.clone()), "{bad:?}");
            assert_eq!(ServiceId::parse(bad), Err(why), "{bad:?}");
        }
    }

    #[test]
    fn catalog_id_errors_name_the_id_and_the_rule() {
        let err = serde_json::from_str::<PlanId>("\"a\\nb\"").unwrap_err();
        assert!(
            err.to_string()
                .starts_with("the plan id holds the character '\\n' at position 1: use 1 to 255"),
            "{err}"
        );
        let err = serde_json::from_str::<ServiceId>("\"\"").unwrap_err();
        assert!(err.to_string().starts_with("the service id is empty: use "), "{err}");
        assert_eq!(PlanId::RULE, CATALOG_ID_RULE);
        assert_eq!(InstanceId::RULE, ID_RULE);
        let id: PlanId = serde_json::from_str("\"a b/c\"").unwrap();
        assert_eq!(serde_json::to_string(&id).unwrap(), "\"a b/c\"");
        assert_eq!(String::from(id), "a b/c");
    }

    #[test]
    fn path_segments_are_decoded_strictly() {
        assert_eq!(InstanceId::from_path_segment("my%2Dredis").unwrap().as_str(), "my-redis");
        assert_eq!(InstanceId::from_path_segment("bad%FEutf8"), Err(IdError::InvalidUtf8));
        assert_eq!(InstanceId::from_path_segment("bad%FFutf8"), Err(IdError::InvalidUtf8));
        for bad in ["x%2F..%2F..%2Fdeployments%2Fcf", "%2e%2e", "a%23", "a%0D%0Ab", "a%00"] {
            assert!(InstanceId::from_path_segment(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn errors_say_what_is_wrong() {
        assert_eq!(
            InstanceId::parse("a/b").unwrap_err().to_string(),
            "holds the character '/' at position 1"
        );
        assert_eq!(InstanceId::parse(&"x".repeat(70)).unwrap_err(), IdError::TooLong(70));
        let err = serde_json::from_str::<BindingId>("\"a b\"").unwrap_err();
        assert!(err.to_string().contains("the binding id holds"), "{err}");
    }

    #[test]
    fn the_deployment_is_named_after_the_instance() {
        assert_eq!(InstanceId::parse("abc").unwrap().deployment_name(), "service-instance_abc");
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

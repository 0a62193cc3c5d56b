//! `max_in_flight`: an integer or a percentage, checked while decoding and encoding.

use std::fmt;

use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::serde_util::go_float;

/// How many instances BOSH may update at once: a count, or a percentage such as `"25%"`.
///
/// Decoding (JSON or YAML) accepts an integer, or a string that contains digits followed
/// by `%` anywhere in it (the check is deliberately unanchored, as in the Go SDK, so
/// `"x25%"` passes). Anything else, including a missing or null value, fails with
/// `MaxInFlight must be either an integer or a percentage. Got <v>`. Encoding re-checks
/// a `Percent` value and fails with the same message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MaxInFlight {
    /// An absolute number of instances.
    Count(i64),
    /// A percentage string such as `"25%"`.
    Percent(String),
}

impl Default for MaxInFlight {
    /// One instance at a time, the safest value.
    fn default() -> Self {
        MaxInFlight::Count(1)
    }
}

impl MaxInFlight {
    /// The error text used when a value is not a valid `max_in_flight`.
    ///
    /// `got` is the offending value as Go would print it (`<nil>` for a missing value).
    pub fn error_message(got: &str) -> String {
        format!("MaxInFlight must be either an integer or a percentage. Got {got}")
    }

    /// Whether `value` satisfies the (unanchored) `\d+%` rule.
    pub fn is_valid_percentage(value: &str) -> bool {
        let bytes = value.as_bytes();
        bytes.iter().enumerate().any(|(i, b)| *b == b'%' && i > 0 && bytes[i - 1].is_ascii_digit())
    }

    /// Checks a value that was built in code (encoding does the same check).
    pub fn validate(&self) -> Result<(), String> {
        match self {
            MaxInFlight::Count(_) => Ok(()),
            MaxInFlight::Percent(p) if Self::is_valid_percentage(p) => Ok(()),
            MaxInFlight::Percent(p) => Err(Self::error_message(p)),
        }
    }
}

impl From<i64> for MaxInFlight {
    fn from(value: i64) -> Self {
        MaxInFlight::Count(value)
    }
}

impl From<&str> for MaxInFlight {
    fn from(value: &str) -> Self {
        MaxInFlight::Percent(value.to_string())
    }
}

impl fmt::Display for MaxInFlight {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MaxInFlight::Count(n) => write!(f, "{n}"),
            MaxInFlight::Percent(p) => f.write_str(p),
        }
    }
}

impl Serialize for MaxInFlight {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            MaxInFlight::Count(n) => serializer.serialize_i64(*n),
            MaxInFlight::Percent(p) if Self::is_valid_percentage(p) => serializer.serialize_str(p),
            MaxInFlight::Percent(p) => Err(serde::ser::Error::custom(Self::error_message(p))),
        }
    }
}

struct MaxInFlightVisitor;

fn invalid<E: de::Error>(got: &str) -> E {
    E::custom(MaxInFlight::error_message(got))
}

impl<'de> Visitor<'de> for MaxInFlightVisitor {
    type Value = MaxInFlight;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an integer or a percentage")
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<MaxInFlight, E> {
        Ok(MaxInFlight::Count(v))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<MaxInFlight, E> {
        i64::try_from(v).map(MaxInFlight::Count).map_err(|_| invalid(&v.to_string()))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<MaxInFlight, E> {
        Err(invalid(&go_float(v)))
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<MaxInFlight, E> {
        Err(invalid(&v.to_string()))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<MaxInFlight, E> {
        if MaxInFlight::is_valid_percentage(v) {
            Ok(MaxInFlight::Percent(v.to_string()))
        } else {
            Err(invalid(v))
        }
    }

    fn visit_unit<E: de::Error>(self) -> Result<MaxInFlight, E> {
        Err(invalid("<nil>"))
    }

    fn visit_none<E: de::Error>(self) -> Result<MaxInFlight, E> {
        Err(invalid("<nil>"))
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<MaxInFlight, D::Error> {
        d.deserialize_any(self)
    }

    fn visit_seq<A: de::SeqAccess<'de>>(self, _seq: A) -> Result<MaxInFlight, A::Error> {
        Err(invalid("[...]"))
    }

    fn visit_map<A: de::MapAccess<'de>>(self, _map: A) -> Result<MaxInFlight, A::Error> {
        Err(invalid("map[...]"))
    }
}

impl<'de> Deserialize<'de> for MaxInFlight {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(MaxInFlightVisitor)
    }
}

/// Decodes an optional `max_in_flight`, turning "missing or null" into the `<nil>` error.
pub(crate) fn require(value: Option<MaxInFlight>) -> Result<MaxInFlight, String> {
    value.ok_or_else(|| MaxInFlight::error_message("<nil>"))
}

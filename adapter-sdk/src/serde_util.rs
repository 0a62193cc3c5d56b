//! Small serde helpers shared by the wire types.

use serde::{Deserialize, Deserializer};

/// Deserializes `T`, treating an explicit `null` (JSON) or `~` (YAML) like a
/// missing value, as Go's decoders do for slices, maps and strings.
pub(crate) fn null_default<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

/// `skip_serializing_if` helper for Go's `omitempty` on a `bool`.
pub(crate) fn is_false(value: &bool) -> bool {
    !*value
}

/// `skip_serializing_if` helper: omit a `None` or an empty string.
pub(crate) fn is_none_or_empty(value: &Option<String>) -> bool {
    value.as_deref().is_none_or(str::is_empty)
}

/// Formats a float the way Go's `%v` verb does (`0.5`, `4`, `1e+21`, `1e-05`).
pub(crate) fn go_float(value: f64) -> String {
    if value.is_nan() {
        return "NaN".to_string();
    }
    if value.is_infinite() {
        return if value > 0.0 { "+Inf" } else { "-Inf" }.to_string();
    }
    let abs = value.abs();
    if abs != 0.0 && !(1e-4..1e21).contains(&abs) {
        // Rust gives `1e21` / `1.5e-5`; Go gives `1e+21` / `1.5e-05`.
        let formatted = format!("{value:e}");
        let (mantissa, exponent) = formatted.split_once('e').unwrap_or((&formatted, "0"));
        let (sign, digits) = match exponent.strip_prefix('-') {
            Some(digits) => ('-', digits),
            None => ('+', exponent),
        };
        format!("{mantissa}e{sign}{digits:0>2}")
    } else {
        format!("{value}")
    }
}

#[cfg(test)]
mod tests {
    use super::go_float;

    #[test]
    fn formats_floats_like_go() {
        assert_eq!(go_float(0.5), "0.5");
        assert_eq!(go_float(4.0), "4");
        assert_eq!(go_float(1e21), "1e+21");
        assert_eq!(go_float(0.000015), "1.5e-05");
        assert_eq!(go_float(-2.25), "-2.25");
    }
}

//! YAML output that Go's yaml.v2 and BOSH (both YAML 1.1) read back exactly as meant,
//! and manifest parsing with the Go SDK's rules.
//!
//! Values are first serialised to an ordered tree, then written in block style with
//! yaml.v2's layout (sequences not indented under their key). Any string that a YAML 1.1
//! or 1.2 reader could take for a boolean, null or number (`yes`, `on`, `n`, `~`,
//! `1.404`, `0x1F`, `""`, ...) or that is not safe as a plain scalar is double-quoted.
//! Multi-line strings become `|` literal blocks.

use serde::Serialize;
use serde_yaml::Value as YValue;

use crate::bosh::BoshManifest;

/// A YAML encoding or decoding failure; the text is the whole message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct YamlError(pub String);

/// Serialises `value` to YAML text (ending in `\n`).
pub fn to_yaml_string<T: Serialize + ?Sized>(value: &T) -> Result<String, YamlError> {
    let tree = serde_yaml::to_value(value).map_err(|e| YamlError(e.to_string()))?;
    let mut out = String::new();
    match &tree {
        YValue::Mapping(map) if !map.is_empty() => write_mapping(&mut out, map, 0, false),
        YValue::Sequence(seq) if !seq.is_empty() => write_sequence(&mut out, seq, 0, false),
        other => {
            write_inline(&mut out, other, 0);
            out.push('\n');
        }
    }
    Ok(out)
}

fn indent(out: &mut String, n: usize) {
    out.extend(std::iter::repeat_n(' ', n));
}

fn tagged_inner(value: &YValue) -> &YValue {
    match value {
        YValue::Tagged(tagged) => &tagged.value,
        other => other,
    }
}

/// Writes a non-empty mapping at `level`. With `inline_first`, the first key follows a
/// `- ` already written on the current line.
fn write_mapping(out: &mut String, map: &serde_yaml::Mapping, level: usize, inline_first: bool) {
    for (i, (key, value)) in map.iter().enumerate() {
        if i > 0 || !inline_first {
            indent(out, level);
        }
        write_scalar(out, tagged_inner(key), level);
        out.push(':');
        write_value_after_key(out, tagged_inner(value), level);
    }
}

fn write_value_after_key(out: &mut String, value: &YValue, level: usize) {
    match value {
        YValue::Mapping(map) if !map.is_empty() => {
            out.push('\n');
            write_mapping(out, map, level + 2, false);
        }
        YValue::Sequence(seq) if !seq.is_empty() => {
            out.push('\n');
            write_sequence(out, seq, level, false);
        }
        other => {
            out.push(' ');
            write_inline(out, other, level + 2);
            out.push('\n');
        }
    }
}

fn write_sequence(out: &mut String, seq: &[YValue], level: usize, inline_first: bool) {
    for (i, item) in seq.iter().enumerate() {
        if i > 0 || !inline_first {
            indent(out, level);
        }
        out.push_str("- ");
        match tagged_inner(item) {
            YValue::Mapping(map) if !map.is_empty() => write_mapping(out, map, level + 2, true),
            YValue::Sequence(inner) if !inner.is_empty() => {
                write_sequence(out, inner, level + 2, true)
            }
            other => {
                write_inline(out, other, level + 2);
                out.push('\n');
            }
        }
    }
}

/// Writes a scalar or an empty collection; `level` is the indentation of literal block lines.
fn write_inline(out: &mut String, value: &YValue, level: usize) {
    match value {
        YValue::Mapping(_) => out.push_str("{}"),
        YValue::Sequence(_) => out.push_str("[]"),
        YValue::String(s) if use_literal_block(s) => write_literal(out, s, level),
        other => write_scalar(out, other, level),
    }
}

fn write_scalar(out: &mut String, value: &YValue, _level: usize) {
    match value {
        YValue::Null => out.push_str("null"),
        YValue::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        YValue::Number(n) => out.push_str(&format_number(n)),
        YValue::String(s) => write_string(out, s),
        YValue::Tagged(tagged) => write_scalar(out, &tagged.value, _level),
        YValue::Mapping(_) | YValue::Sequence(_) => {
            // Collections as keys do not occur in manifests; write them as JSON flow.
            out.push_str(&serde_json::to_string(value).unwrap_or_else(|_| "null".into()));
        }
    }
}

fn format_number(n: &serde_yaml::Number) -> String {
    if let Some(i) = n.as_i64() {
        return i.to_string();
    }
    if let Some(u) = n.as_u64() {
        return u.to_string();
    }
    let f = n.as_f64().unwrap_or(0.0);
    if f.is_nan() {
        ".nan".to_string()
    } else if f.is_infinite() {
        if f > 0.0 { ".inf" } else { "-.inf" }.to_string()
    } else {
        // `{:?}` always keeps a `.0` or an exponent, so the text reads back as a float.
        format!("{f:?}")
    }
}

fn use_literal_block(s: &str) -> bool {
    s.contains('\n')
        && !s.starts_with([' ', '\t', '\n'])
        && !s.ends_with("\n\n")
        && s.chars().all(|c| c == '\n' || c == '\t' || !needs_escape(c))
        && !s.lines().any(|l| l.ends_with([' ', '\t']))
}

fn write_literal(out: &mut String, s: &str, level: usize) {
    out.push('|');
    if !s.ends_with('\n') {
        out.push('-');
    }
    let body = s.strip_suffix('\n').unwrap_or(s);
    for line in body.split('\n') {
        out.push('\n');
        if !line.is_empty() {
            indent(out, level);
            out.push_str(line);
        }
    }
}

fn needs_escape(c: char) -> bool {
    c.is_control() || matches!(c, '\u{feff}' | '\u{2028}' | '\u{2029}')
}

fn write_string(out: &mut String, s: &str) {
    if is_plain_safe(s) {
        out.push_str(s);
        return;
    }
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if needs_escape(c) => {
                let code = c as u32;
                if code <= 0xff {
                    out.push_str(&format!("\\x{code:02X}"));
                } else {
                    out.push_str(&format!("\\u{code:04X}"));
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Words that YAML 1.1 or 1.2 resolve to booleans or null.
const RESERVED_WORDS: &[&str] = &[
    "y", "Y", "yes", "Yes", "YES", "n", "N", "no", "No", "NO", "true", "True", "TRUE", "false",
    "False", "FALSE", "on", "On", "ON", "off", "Off", "OFF", "null", "Null", "NULL", "~", "=",
    "<<",
];

/// Whether `s` can be written as a plain scalar and still read back as this string.
pub(crate) fn is_plain_safe(s: &str) -> bool {
    let Some(first) = s.chars().next() else {
        return false;
    };
    if RESERVED_WORDS.contains(&s) || looks_numeric(s) || looks_like_date(s) {
        return false;
    }
    if "-?:,[]{}#&*!|>'\"%@`".contains(first) || first.is_whitespace() {
        return false;
    }
    if s.ends_with(|c: char| c.is_whitespace() || c == ':') {
        return false;
    }
    if s.contains(": ") || s.contains(" #") || s.contains(":\t") || s.contains("\t#") {
        return false;
    }
    !s.chars().any(|c| needs_escape(c) || c == '\t' || c == '\u{85}')
}

/// Anything a YAML 1.1 or 1.2 reader might resolve as an int or float: decimal, octal,
/// hex, binary, underscores, sexagesimal (`1:20`), exponents, `.inf`, `.nan`.
fn looks_numeric(s: &str) -> bool {
    let body = s.strip_prefix(['+', '-']).unwrap_or(s);
    let lower = body.to_ascii_lowercase();
    if matches!(lower.as_str(), ".inf" | ".nan" | "inf" | "nan" | "infinity") {
        return true;
    }
    let Some(first) = body.chars().next() else {
        return false;
    };
    if !(first.is_ascii_digit() || first == '.') {
        return false;
    }
    if !body.chars().any(|c| c.is_ascii_digit()) {
        return false;
    }
    if let Some(hex) = lower.strip_prefix("0x") {
        return hex.chars().all(|c| c.is_ascii_hexdigit() || c == '_');
    }
    if let Some(digits) = lower.strip_prefix("0b").or_else(|| lower.strip_prefix("0o")) {
        return digits.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    }
    let mut previous = ' ';
    let mut dots = 0;
    for c in lower.chars() {
        let ok = match c {
            '0'..='9' | '_' | ':' => true,
            '.' => {
                dots += 1;
                dots == 1
            }
            'e' => true,
            '+' | '-' => previous == 'e',
            _ => false,
        };
        if !ok {
            return false;
        }
        previous = c;
    }
    true
}

/// YAML 1.1 timestamps such as `2001-12-14` or `2001-12-14t21:59:43.10-05:00`.
fn looks_like_date(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() >= 8 && b[..4].iter().all(u8::is_ascii_digit) && b[4] == b'-' && b[5].is_ascii_digit()
}

/// Checks every `update` block of a parsed manifest for a valid `max_in_flight`, so the
/// error reads exactly like the Go SDK's (no position suffix).
fn check_update_blocks(tree: &YValue) -> Result<(), YamlError> {
    let check = |update: Option<&YValue>| -> Result<(), YamlError> {
        match update.map(tagged_inner) {
            None | Some(YValue::Null) => Ok(()),
            Some(YValue::Mapping(map)) => match map.get("max_in_flight").map(tagged_inner) {
                None | Some(YValue::Null) => {
                    Err(YamlError(crate::MaxInFlight::error_message("<nil>")))
                }
                Some(YValue::Number(n)) if n.is_i64() || n.is_u64() => Ok(()),
                Some(YValue::Number(n)) => Err(YamlError(crate::MaxInFlight::error_message(
                    &crate::serde_util::go_float(n.as_f64().unwrap_or(0.0)),
                ))),
                Some(YValue::String(s)) if crate::MaxInFlight::is_valid_percentage(s) => Ok(()),
                Some(YValue::String(s)) => Err(YamlError(crate::MaxInFlight::error_message(s))),
                Some(YValue::Bool(b)) => {
                    Err(YamlError(crate::MaxInFlight::error_message(&b.to_string())))
                }
                Some(_) => Err(YamlError(crate::MaxInFlight::error_message("[...]"))),
            },
            Some(_) => Ok(()),
        }
    };
    check(tree.get("update"))?;
    if let Some(YValue::Sequence(groups)) = tree.get("instance_groups").map(tagged_inner) {
        for group in groups {
            check(group.get("update"))?;
        }
    }
    Ok(())
}

/// See [`BoshManifest::from_yaml`].
pub(crate) fn manifest_from_yaml(text: &str) -> Result<Option<BoshManifest>, YamlError> {
    let tree: YValue = serde_yaml::from_str(text).map_err(|e| YamlError(format!("yaml: {e}")))?;
    if matches!(tree, YValue::Null) {
        return Ok(None);
    }
    check_update_blocks(&tree)?;
    serde_yaml::from_str(text).map(Some).map_err(|e| YamlError(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ambiguous_strings_are_quoted() {
        for s in [
            "yes",
            "Yes",
            "ON",
            "off",
            "y",
            "n",
            "true",
            "null",
            "~",
            "1.404",
            "0x1F",
            "",
            "1_000",
            "1:20",
            "1e5",
            ".inf",
            "-1",
            "+1",
            "2001-12-14",
            "0o17",
            ".5",
            "-",
            "a: b",
            "#x",
        ] {
            assert!(!is_plain_safe(s), "{s:?} must be quoted");
        }
        for s in [
            "redis",
            "0.1.0",
            "30000-240000",
            "((secret_pass))",
            "O+YCfDKSG4Yf2JaYa2ZyJ6oZfxU=",
            "delete-create",
            "25%",
        ] {
            assert!(is_plain_safe(s), "{s:?} may be plain");
        }
    }
}

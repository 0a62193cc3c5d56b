//! Plain YAML scalars that BOSH and Go read differently from what the adapter meant.
//!
//! BOSH reads manifests with Ruby's Psych and the Go side (the Go broker, the Go SDK) with
//! gopkg.in/yaml.v2; both follow YAML 1.1, where a plain (unquoted) `yes`, `off` or `n` is a
//! boolean, `017` is the octal 15, `1_000` and `1:30` are numbers, and `2024-01-02` is a date.
//! Under YAML 1.2 (serde_yaml, PyYAML's successors, most JSON-minded writers) the same text
//! is a string, or a different number. An adapter that writes `persistence: yes` means one
//! thing and BOSH deploys another.
//!
//! [`plain_scalars`] finds every plain scalar of a document with its key path and line: it
//! parses the text once into a [`serde_yaml::Value`] (the YAML 1.2 reading) and walks it a
//! second time with serde_yaml's own deserializer, guided by that value, asking for each
//! scalar's text. serde_yaml hands a scalar's text over as a slice of the input whenever it
//! can, so the byte before it tells a quoted scalar (`"` or `'`) from a plain one. Scalars it
//! cannot hand over as a slice (block scalars, quoted text with escapes, plain text folded over
//! several lines) are never ambiguous and are skipped.
//!
//! [`psych`] and [`yaml_v2`] resolve a plain scalar as those two readers do; [`findings`] lists
//! the scalars where either differs from the YAML 1.2 reading, and the scalars in fields the
//! BOSH manifest schema types as strings (names, versions, `vm_type`, `azs`, ...) that any of
//! the three reads as something else.

use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_yaml::Value;
use std::fmt;

/// How a reader resolves a scalar.
#[derive(Debug, Clone, PartialEq)]
pub enum Reading {
    /// Null.
    Null,
    /// A boolean.
    Bool(bool),
    /// An integer.
    Int(i128),
    /// A floating-point number.
    Float(f64),
    /// A date or time.
    Timestamp,
    /// A string.
    Str,
}

impl Reading {
    fn same_as(&self, other: &Reading) -> bool {
        match (self, other) {
            (Reading::Float(a), Reading::Float(b)) => a == b || (a.is_nan() && b.is_nan()),
            (Reading::Int(a), Reading::Float(b)) | (Reading::Float(b), Reading::Int(a)) => {
                (*a as f64) == *b
            }
            (a, b) => a == b,
        }
    }

    /// "the boolean true", "the integer 15", "a string", ...
    pub fn describe(&self, text: &str) -> String {
        match self {
            Reading::Null => "null".to_string(),
            Reading::Bool(b) => format!("the boolean {b}"),
            Reading::Int(i) => format!("the integer {i}"),
            Reading::Float(f) => format!("the number {f}"),
            Reading::Timestamp => "a date".to_string(),
            Reading::Str => format!("the string {text:?}"),
        }
    }
}

/// One plain scalar of a document.
#[derive(Debug, Clone)]
pub struct PlainScalar {
    /// Its key path, `a.b[0].c`.
    pub path: String,
    /// Its text.
    pub text: String,
    /// Its line (from 1).
    pub line: usize,
    /// True for a mapping key.
    pub is_key: bool,
    /// How YAML 1.2 (serde_yaml) reads it.
    pub yaml12: Reading,
}

/// Every plain scalar of `text`, or the parse error.
pub fn plain_scalars(text: &str) -> Result<Vec<PlainScalar>, serde_yaml::Error> {
    let value: Value = serde_yaml::from_str(text)?;
    let mut out = Vec::new();
    if matches!(value, Value::Mapping(_) | Value::Sequence(_)) {
        Guided { text, value: &value, path: String::new(), is_key: false, out: &mut out }
            .deserialize(serde_yaml::Deserializer::from_str(text))?;
    }
    Ok(out)
}

fn reading12(value: &Value) -> Reading {
    match value {
        Value::Null => Reading::Null,
        Value::Bool(b) => Reading::Bool(*b),
        Value::Number(n) => match (n.as_i64(), n.as_u64(), n.as_f64()) {
            (Some(i), _, _) => Reading::Int(i.into()),
            (_, Some(u), _) => Reading::Int(u.into()),
            (_, _, Some(f)) => Reading::Float(f),
            _ => Reading::Str,
        },
        _ => Reading::Str,
    }
}

fn key_text(key: &Value) -> String {
    match key {
        Value::String(s) => s.clone(),
        other => serde_yaml::to_string(other).unwrap_or_default().trim().to_string(),
    }
}

/// Walks the document along its parsed value, recording plain scalars.
struct Guided<'a, 't> {
    text: &'t str,
    value: &'a Value,
    path: String,
    is_key: bool,
    out: &'a mut Vec<PlainScalar>,
}

impl<'de, 'a, 't> DeserializeSeed<'de> for Guided<'a, 't> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, de: D) -> Result<(), D::Error> {
        match self.value {
            Value::Mapping(_) => de.deserialize_map(self),
            Value::Sequence(_) => de.deserialize_seq(self),
            Value::Tagged(_) => de.deserialize_any(IgnoredAny).map(drop),
            scalar => {
                if let Some(offset) = de.deserialize_str(Literal { base: self.text })? {
                    let text = &self.text[offset.0..offset.0 + offset.1];
                    self.out.push(PlainScalar {
                        path: self.path,
                        text: text.to_string(),
                        line: self.text[..offset.0].matches('\n').count() + 1,
                        is_key: self.is_key,
                        yaml12: reading12(scalar),
                    });
                }
                Ok(())
            }
        }
    }
}

impl<'de, 'a, 't> Visitor<'de> for Guided<'a, 't> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the node the first parse found here")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let Value::Mapping(entries) = self.value else {
            return IgnoredAny.visit_map(map).map(drop);
        };
        let mut entries = entries.iter();
        loop {
            let Some((k, v)) = entries.next() else {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                return Ok(());
            };
            let path = if self.path.is_empty() {
                key_text(k)
            } else {
                format!("{}.{}", self.path, key_text(k))
            };
            let key = Guided {
                text: self.text,
                value: k,
                path: path.clone(),
                is_key: true,
                out: &mut *self.out,
            };
            if map.next_key_seed(key)?.is_none() {
                return Ok(());
            }
            map.next_value_seed(Guided {
                text: self.text,
                value: v,
                path,
                is_key: false,
                out: &mut *self.out,
            })?;
        }
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let Value::Sequence(items) = self.value else {
            return IgnoredAny.visit_seq(seq).map(drop);
        };
        let mut items = items.iter().enumerate();
        loop {
            let Some((i, item)) = items.next() else {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                return Ok(());
            };
            let walk = Guided {
                text: self.text,
                value: item,
                path: format!("{}[{i}]", self.path),
                is_key: false,
                out: &mut *self.out,
            };
            if seq.next_element_seed(walk)?.is_none() {
                return Ok(());
            }
        }
    }
}

/// A scalar's place in the input: `Some((offset, len))` for a plain scalar handed over as a
/// slice of the input, `None` for anything else.
struct Literal<'t> {
    base: &'t str,
}

impl<'de> Visitor<'de> for Literal<'_> {
    type Value = Option<(usize, usize)>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a scalar")
    }

    fn visit_borrowed_str<E: serde::de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        let Some(start) = (v.as_ptr() as usize).checked_sub(self.base.as_ptr() as usize) else {
            return Ok(None);
        };
        if start + v.len() > self.base.len() {
            return Ok(None);
        }
        let quoted = start > 0 && matches!(self.base.as_bytes()[start - 1], b'"' | b'\'');
        Ok((!quoted).then_some((start, v.len())))
    }

    fn visit_str<E: serde::de::Error>(self, _: &str) -> Result<Self::Value, E> {
        Ok(None)
    }
}

fn all(s: &str, allowed: impl Fn(u8) -> bool) -> bool {
    !s.is_empty() && s.bytes().all(allowed)
}

fn digits_with(s: &str, extra: &[u8]) -> bool {
    all(s, |b| b.is_ascii_digit() || extra.contains(&b)) && s.bytes().any(|b| b.is_ascii_digit())
}

fn split_sign(s: &str) -> (i128, &str) {
    match s.as_bytes().first() {
        Some(b'-') => (-1, &s[1..]),
        Some(b'+') => (1, &s[1..]),
        _ => (1, s),
    }
}

fn radix(digits: &str, radix: u32) -> Option<i128> {
    let cleaned: String = digits.chars().filter(|c| *c != '_' && *c != ',').collect();
    i128::from_str_radix(&cleaned, radix).ok()
}

/// `1:30` style base-60 numbers (YAML 1.1): integer part, then `:`-separated parts of 0..59.
fn sexagesimal(s: &str) -> Option<f64> {
    let (sign, body) = split_sign(s);
    let (whole, fraction) = match body.split_once('.') {
        Some((w, f)) => (w, Some(f)),
        None => (body, None),
    };
    let mut parts = whole.split(':');
    let first = parts.next()?;
    if !digits_with(first, b"_") {
        return None;
    }
    let mut value = radix(first, 10)? as f64;
    let mut any = false;
    for p in parts {
        if p.is_empty() || p.len() > 2 || !all(p, |b| b.is_ascii_digit()) {
            return None;
        }
        let n: u32 = p.parse().ok()?;
        if n > 59 {
            return None;
        }
        value = value * 60.0 + f64::from(n);
        any = true;
    }
    if !any {
        return None;
    }
    if let Some(f) = fraction {
        if !f.bytes().all(|b| b.is_ascii_digit() || b == b'_') {
            return None;
        }
        let f: String = f.chars().filter(|c| *c != '_').collect();
        value += format!("0.{f}").parse::<f64>().unwrap_or(0.0);
    }
    Some(sign as f64 * value)
}

fn special_float(s: &str) -> Option<f64> {
    let (sign, body) = split_sign(s);
    match body.to_ascii_lowercase().as_str() {
        ".inf" => Some(sign as f64 * f64::INFINITY),
        ".nan" if sign == 1 && !s.starts_with('+') => Some(f64::NAN),
        _ => None,
    }
}

fn is_date(s: &str) -> bool {
    let b = s.as_bytes();
    let digits =
        |r: std::ops::Range<usize>| r.clone().all(|i| b.get(i).is_some_and(u8::is_ascii_digit));
    if b.len() < 8 || !digits(0..4) || b[4] != b'-' {
        return false;
    }
    let rest = &s[5..];
    let mut parts = rest.splitn(2, '-');
    let (Some(month), Some(tail)) = (parts.next(), parts.next()) else {
        return false;
    };
    let day: String = tail.chars().take_while(char::is_ascii_digit).collect();
    let after = &tail[day.len()..];
    (1..=2).contains(&month.len())
        && month.bytes().all(|c| c.is_ascii_digit())
        && (1..=2).contains(&day.len())
        && (after.is_empty() || after.starts_with(['T', 't', ' ']))
}

/// How Ruby's Psych (BOSH's YAML reader) resolves a plain scalar.
pub fn psych(s: &str) -> Reading {
    if s.is_empty() || matches!(s, "~" | "null" | "Null" | "NULL") {
        return Reading::Null;
    }
    match s.to_ascii_lowercase().as_str() {
        "yes" | "true" | "on" => return Reading::Bool(true),
        "no" | "false" | "off" => return Reading::Bool(false),
        _ => {}
    }
    if is_date(s) {
        return Reading::Timestamp;
    }
    let (sign, body) = split_sign(s);
    let int = if let Some(bin) = body.strip_prefix("0b") {
        digits_with(bin, b"_,").then(|| radix(bin, 2)).flatten()
    } else if let Some(hex) = body.strip_prefix("0x") {
        all(hex, |b| b.is_ascii_hexdigit() || b == b'_' || b == b',')
            .then(|| radix(hex, 16))
            .flatten()
    } else if body.len() > 1 && body.starts_with('0') {
        all(&body[1..], |b| (b'0'..=b'7').contains(&b) || b == b'_' || b == b',')
            .then(|| radix(&body[1..], 8))
            .flatten()
    } else if body == "0" {
        Some(0)
    } else if body.starts_with(|c: char| c.is_ascii_digit() && c != '0')
        && digits_with(body, b"_,")
        && !body.contains("__")
        && !body.ends_with([',', '_'])
    {
        radix(body, 10)
    } else {
        None
    };
    if let Some(i) = int {
        return Reading::Int(sign * i);
    }
    if let Some(v) = sexagesimal(s) {
        return if s.contains('.') { Reading::Float(v) } else { Reading::Int(v as i128) };
    }
    if let Some(f) = special_float(s) {
        return Reading::Float(f);
    }
    // [-+]?([0-9][0-9_,]*)?\.[0-9]*([eE][-+][0-9]+)?
    if let Some((whole, rest)) = body.split_once('.') {
        let (fraction, exponent) = match rest.find(['e', 'E']) {
            Some(i) => (&rest[..i], Some(&rest[i + 1..])),
            None => (rest, None),
        };
        let whole_ok = whole.is_empty()
            || (whole.starts_with(|c: char| c.is_ascii_digit())
                && all(whole, |b| b.is_ascii_digit() || b == b'_' || b == b','));
        let fraction_ok = fraction.bytes().all(|b| b.is_ascii_digit());
        let exponent_ok = exponent.is_none_or(|e| {
            e.len() > 1 && e.starts_with(['-', '+']) && all(&e[1..], |b| b.is_ascii_digit())
        });
        if whole_ok && fraction_ok && exponent_ok && (whole.len() + fraction.len()) > 0 {
            let cleaned: String = s.chars().filter(|c| *c != '_' && *c != ',').collect();
            if let Ok(f) = cleaned.trim_end_matches('.').parse::<f64>() {
                return Reading::Float(f);
            }
        }
    }
    Reading::Str
}

/// How Go's gopkg.in/yaml.v2 resolves a plain scalar (decoding into `interface{}`).
pub fn yaml_v2(s: &str) -> Reading {
    match s {
        "" | "~" | "null" | "Null" | "NULL" => return Reading::Null,
        "y" | "Y" | "yes" | "Yes" | "YES" | "on" | "On" | "ON" | "true" | "True" | "TRUE" => {
            return Reading::Bool(true)
        }
        "n" | "N" | "no" | "No" | "NO" | "off" | "Off" | "OFF" | "false" | "False" | "FALSE" => {
            return Reading::Bool(false)
        }
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => {
            return Reading::Float(f64::INFINITY)
        }
        "-.inf" | "-.Inf" | "-.INF" => return Reading::Float(f64::NEG_INFINITY),
        ".nan" | ".NaN" | ".NAN" => return Reading::Float(f64::NAN),
        _ => {}
    }
    if !s.starts_with(|c: char| c.is_ascii_digit() || c == '-' || c == '+' || c == '.') {
        return Reading::Str;
    }
    // strconv.ParseInt(strings.Replace(s, "_", "", -1), 0, 64): 0x, 0o, 0b, leading-0 octal.
    let plain: String = s.chars().filter(|c| *c != '_').collect();
    let (sign, body) = split_sign(&plain);
    let int = if let Some(h) = body.strip_prefix("0x").or_else(|| body.strip_prefix("0X")) {
        all(h, |b| b.is_ascii_hexdigit()).then(|| radix(h, 16)).flatten()
    } else if let Some(o) = body.strip_prefix("0o").or_else(|| body.strip_prefix("0O")) {
        all(o, |b| (b'0'..=b'7').contains(&b)).then(|| radix(o, 8)).flatten()
    } else if let Some(b2) = body.strip_prefix("0b").or_else(|| body.strip_prefix("0B")) {
        all(b2, |b| b == b'0' || b == b'1').then(|| radix(b2, 2)).flatten()
    } else if body.len() > 1 && body.starts_with('0') {
        all(body, |b| (b'0'..=b'7').contains(&b)).then(|| radix(body, 8)).flatten()
    } else {
        all(body, |b| b.is_ascii_digit()).then(|| radix(body, 10)).flatten()
    };
    if let Some(i) = int.filter(|i| i64::try_from(sign * i).is_ok() || u64::try_from(*i).is_ok()) {
        return Reading::Int(sign * i);
    }
    // ^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$
    let (mantissa, exponent) = match body.find(['e', 'E']) {
        Some(i) => (&body[..i], Some(&body[i + 1..])),
        None => (body, None),
    };
    let mantissa_ok = match mantissa.split_once('.') {
        Some(("", f)) => all(f, |b| b.is_ascii_digit()),
        Some((w, f)) => all(w, |b| b.is_ascii_digit()) && f.bytes().all(|b| b.is_ascii_digit()),
        None => all(mantissa, |b| b.is_ascii_digit()),
    };
    let exponent_ok = exponent.is_none_or(|e| {
        let digits = e.strip_prefix(['-', '+']).unwrap_or(e);
        all(digits, |b| b.is_ascii_digit())
    });
    if mantissa_ok && exponent_ok {
        if let Ok(f) = plain.parse::<f64>() {
            return Reading::Float(f);
        }
    }
    Reading::Str
}

/// Key paths of a BOSH manifest whose values are strings, as patterns: `*` matches any list
/// index or any key.
const STRING_FIELDS: &[&str] = &[
    "name",
    "director_uuid",
    "releases[*].name",
    "releases[*].version",
    "releases[*].url",
    "releases[*].sha1",
    "stemcells[*].alias",
    "stemcells[*].os",
    "stemcells[*].version",
    "stemcells[*].name",
    "instance_groups[*].name",
    "instance_groups[*].lifecycle",
    "instance_groups[*].vm_type",
    "instance_groups[*].vm_extensions[*]",
    "instance_groups[*].stemcell",
    "instance_groups[*].persistent_disk_type",
    "instance_groups[*].azs[*]",
    "instance_groups[*].networks[*].name",
    "instance_groups[*].networks[*].static_ips[*]",
    "instance_groups[*].networks[*].default[*]",
    "instance_groups[*].jobs[*].name",
    "instance_groups[*].jobs[*].release",
    "instance_groups[*].migrated_from[*].name",
    "instance_groups[*].migrated_from[*].az",
    "instance_groups[*].update.vm_strategy",
    "instance_groups[*].update.initial_deploy_az_update_strategy",
    "update.vm_strategy",
    "update.initial_deploy_az_update_strategy",
    "variables[*].name",
    "variables[*].type",
    "variables[*].update_mode",
    "addons[*].name",
    "addons[*].jobs[*].name",
    "addons[*].jobs[*].release",
    "tags.*",
];

/// Splits `a.b[0].c` into `["a", "b", "[0]", "c"]`.
fn segments(path: &str) -> Vec<String> {
    let mut out = Vec::new();
    for part in path.split('.') {
        let mut rest = part;
        if let Some(i) = rest.find('[') {
            if i > 0 {
                out.push(rest[..i].to_string());
            }
            rest = &rest[i..];
            while let Some(end) = rest.find(']') {
                out.push(rest[..=end].to_string());
                rest = &rest[end + 1..];
            }
        } else {
            out.push(rest.to_string());
        }
    }
    out
}

fn is_string_field(path: &str) -> bool {
    let actual = segments(path);
    STRING_FIELDS.iter().any(|pattern| {
        let pattern = segments(pattern);
        pattern.len() == actual.len()
            && pattern.iter().zip(&actual).all(|(p, a)| {
                p == a || (p == "[*]" && a.starts_with('[')) || (p == "*" && !a.starts_with('['))
            })
    })
}

/// One scalar that would be misread.
#[derive(Debug, Clone, PartialEq)]
pub struct Finding {
    /// Key path.
    pub path: String,
    /// Line.
    pub line: usize,
    /// The plain text.
    pub text: String,
    /// What is wrong and what to do.
    pub message: String,
}

/// The plain scalars of a BOSH manifest that YAML 1.1 readers (BOSH, Go) read differently
/// from YAML 1.2, or that sit in a string field but do not read as a string.
pub fn findings(manifest: &str) -> Result<Vec<Finding>, serde_yaml::Error> {
    let mut out = Vec::new();
    for s in plain_scalars(manifest)? {
        let bosh = psych(&s.text);
        let go = yaml_v2(&s.text);
        let what = if s.is_key { "key" } else { "value" };
        let message = if !bosh.same_as(&s.yaml12) || !go.same_as(&s.yaml12) {
            let mut readers = vec![format!("YAML 1.2 reads {}", s.yaml12.describe(&s.text))];
            if !bosh.same_as(&s.yaml12) {
                readers.push(format!("BOSH (YAML 1.1) reads {}", bosh.describe(&s.text)));
            }
            if !go.same_as(&s.yaml12) {
                readers.push(format!("Go yaml.v2 reads {}", go.describe(&s.text)));
            }
            format!(
                "plain {what} `{}` is read differently: {}; quote it",
                s.text,
                readers.join(", ")
            )
        } else if !s.is_key
            && is_string_field(&s.path)
            && [&bosh, &go, &s.yaml12].iter().any(|r| **r != Reading::Str)
        {
            format!(
                "`{}` is a string field, but the plain `{}` reads as {}; quote it (\"{}\")",
                s.path,
                s.text,
                [&bosh, &s.yaml12]
                    .into_iter()
                    .find(|r| **r != Reading::Str)
                    .unwrap_or(&go)
                    .describe(&s.text),
                s.text
            )
        } else {
            continue;
        };
        out.push(Finding { path: s.path, line: s.line, text: s.text, message });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_and_quoted_scalars_are_told_apart() {
        let text = "a: yes\nb: \"yes\"\nc: 'on'\nd: [off, \"n\", 1.404]\ne: |\n  yes\n\"f\": 2\n";
        let found: Vec<(String, String, usize, bool)> = plain_scalars(text)
            .unwrap()
            .into_iter()
            .map(|s| (s.path, s.text, s.line, s.is_key))
            .collect();
        let expected: Vec<(String, String, usize, bool)> = vec![
            ("a", "a", 1, true),
            ("a", "yes", 1, false),
            ("b", "b", 2, true),
            ("c", "c", 3, true),
            ("d", "d", 4, true),
            ("d[0]", "off", 4, false),
            ("d[2]", "1.404", 4, false),
            ("e", "e", 5, true),
            ("f", "2", 7, false),
        ]
        .into_iter()
        .map(|(p, t, l, k)| (p.to_string(), t.to_string(), l, k))
        .collect();
        assert_eq!(found, expected);
    }

    #[test]
    fn yaml_1_1_readers() {
        for (text, bosh, go) in [
            ("yes", Reading::Bool(true), Reading::Bool(true)),
            ("Off", Reading::Bool(false), Reading::Bool(false)),
            ("n", Reading::Str, Reading::Bool(false)),
            ("017", Reading::Int(15), Reading::Int(15)),
            ("0x1F", Reading::Int(31), Reading::Int(31)),
            ("0o17", Reading::Str, Reading::Int(15)),
            ("1_000", Reading::Int(1000), Reading::Int(1000)),
            ("1:30", Reading::Int(90), Reading::Str),
            ("1.404", Reading::Float(1.404), Reading::Float(1.404)),
            ("1e3", Reading::Str, Reading::Float(1000.0)),
            ("1.2.3", Reading::Str, Reading::Str),
            ("2024-01-02", Reading::Timestamp, Reading::Str),
            ("30000-240000", Reading::Str, Reading::Str),
            ("delete-create", Reading::Str, Reading::Str),
            ("10.0.0.1", Reading::Str, Reading::Str),
            ("~", Reading::Null, Reading::Null),
            ("-12", Reading::Int(-12), Reading::Int(-12)),
        ] {
            assert_eq!(psych(text), bosh, "psych {text}");
            assert_eq!(yaml_v2(text), go, "yaml.v2 {text}");
        }
    }

    #[test]
    fn findings_flag_misread_scalars_and_untyped_string_fields() {
        let manifest = "name: d\nreleases:\n- name: r\n  version: 1.404\nstemcells:\n- alias: s\n  os: o\n  version: \"621.10\"\n\
                        instance_groups:\n- name: g\n  instances: 1\n  jobs:\n  - name: j\n    release: r\n    properties:\n      persistence: yes\n      port: 6379\n      mode: \"on\"\n      octal: 017\n      on: 1\n\
                        update: {canaries: 1, max_in_flight: 1, canary_watch_time: 1000-3000, update_watch_time: 3000}\n";
        let found = findings(manifest).unwrap();
        let paths: Vec<&str> = found.iter().map(|f| f.path.as_str()).collect();
        assert_eq!(
            paths,
            vec![
                "releases[0].version",
                "instance_groups[0].jobs[0].properties.persistence",
                "instance_groups[0].jobs[0].properties.octal",
                "instance_groups[0].jobs[0].properties.on",
            ],
            "{found:#?}"
        );
        assert!(found[0].message.contains("string field"), "{}", found[0].message);
        assert!(
            found[1].message.contains("BOSH (YAML 1.1) reads the boolean true"),
            "{}",
            found[1].message
        );
        assert!(found[2].message.contains("the integer 15"), "{}", found[2].message);
        assert_eq!(found[1].line, 16);
    }

    #[test]
    fn anchors_and_flow_collections_are_walked() {
        let text = "base: &b {x: yes}\ncopy: *b\nlist: [1, {k: off}]\n";
        let found: Vec<String> = findings(text).unwrap().into_iter().map(|f| f.path).collect();
        assert_eq!(found, vec!["base.x", "copy.x", "list[1].k"]);
    }
}

//! Keeps secrets out of the operator log: adapter stderr is logged only after every known
//! secret value (secrets the broker passed in, credentials the adapter returned) is masked.

use serde_json::Value;

/// Values shorter than this are not masked: they are too likely to be ordinary words.
const MIN_SECRET_LEN: usize = 6;

/// A set of secret values to mask.
#[derive(Debug, Default, Clone)]
pub struct Redactor {
    secrets: Vec<String>,
}

impl Redactor {
    /// A redactor for these values.
    pub fn new<I: IntoIterator<Item = String>>(values: I) -> Self {
        let mut r = Self::default();
        for v in values {
            r.add(v);
        }
        r
    }

    /// Adds one value.
    pub fn add(&mut self, value: String) {
        if value.len() >= MIN_SECRET_LEN && !self.secrets.contains(&value) {
            self.secrets.push(value);
            // Longest first, so a secret containing another is masked whole.
            self.secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        }
    }

    /// Adds every string leaf of a JSON value (e.g. binding credentials).
    pub fn add_json_strings(&mut self, value: &Value) {
        match value {
            Value::String(s) => self.add(s.clone()),
            Value::Array(items) => items.iter().for_each(|v| self.add_json_strings(v)),
            Value::Object(map) => map.values().for_each(|v| self.add_json_strings(v)),
            _ => {}
        }
    }

    /// The text with every secret replaced by `[REDACTED]`.
    pub fn redact(&self, text: &str) -> String {
        let mut out = text.to_string();
        for s in &self.secrets {
            if out.contains(s.as_str()) {
                out = out.replace(s.as_str(), "[REDACTED]");
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn masks_known_values_and_credentials() {
        let mut r = Redactor::new(["s3cr3t-value".to_string(), "abc".to_string()]);
        r.add_json_strings(
            &json!({"credentials": {"password": "pAsSw0rd!", "port": 6379, "hosts": ["10.0.0.1"]}}),
        );
        let out = r.redact("using s3cr3t-value and pAsSw0rd! on 10.0.0.1 abc");
        assert_eq!(out, "using [REDACTED] and [REDACTED] on [REDACTED] abc");
    }
}

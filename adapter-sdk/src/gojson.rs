//! JSON with Go `encoding/json` behaviour: the same syntax-error texts when reading,
//! and the same HTML-safe escaping when writing.

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

/// Serialises `value` as compact JSON the way Go's `json.Encoder` does: `<`, `>` and `&`
/// are written as `\u003c`, `\u003e` and `\u0026`, and U+2028/U+2029 are escaped.
/// No trailing newline is added. Map keys come out sorted, as in Go.
///
/// # Panics
/// Never for the SDK's own types; a `Serialize` impl that fails yields `null`.
pub fn to_go_json(value: &impl Serialize) -> String {
    try_to_go_json(value).unwrap_or_else(|_| "null".to_string())
}

/// Like [`to_go_json`], but reports serialisation failures.
pub fn try_to_go_json(value: &impl Serialize) -> Result<String, serde_json::Error> {
    let text = serde_json::to_string(value)?;
    Ok(escape_html(&text))
}

fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            _ => out.push(c),
        }
    }
    out
}

/// Parses JSON text into a [`Value`], reporting syntax errors with Go's wording,
/// such as `unexpected end of JSON input` or
/// `invalid character 'n' looking for beginning of object key string`.
pub(crate) fn parse(bytes: &[u8]) -> Result<Value, String> {
    check_syntax(bytes)?;
    serde_json::from_slice(bytes).map_err(|e| e.to_string())
}

/// Go's name for the JSON kind of `value`, as used in its type-mismatch errors.
pub(crate) fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Decodes an object-shaped type from a parsed value. A non-object (other than `null`)
/// gives Go's `json: cannot unmarshal <kind> into Go value of type <go_type>`.
pub(crate) fn decode<T: DeserializeOwned + Default>(
    value: Value, go_type: &str,
) -> Result<T, String> {
    match value {
        Value::Null => Ok(T::default()),
        Value::Object(_) => serde_json::from_value(value).map_err(|e| e.to_string()),
        other => {
            Err(format!("json: cannot unmarshal {} into Go value of type {go_type}", kind(&other)))
        }
    }
}

/// Parses then decodes, treating JSON `null` as "absent" (`None`).
pub(crate) fn decode_optional<T: DeserializeOwned + Default>(
    text: &str, go_type: &str,
) -> Result<Option<T>, String> {
    match parse(text.as_bytes())? {
        Value::Null => Ok(None),
        value => decode(value, go_type).map(Some),
    }
}

const MAX_DEPTH: usize = 10_000;

/// Checks JSON syntax, returning the message Go's scanner would give.
pub(crate) fn check_syntax(bytes: &[u8]) -> Result<(), String> {
    let mut scanner = Scanner { bytes, pos: 0, depth: 0 };
    scanner.skip_ws();
    scanner.value()?;
    scanner.skip_ws();
    match scanner.peek() {
        None => Ok(()),
        Some(c) => Err(format!("invalid character {} after top-level value", quote_char(c))),
    }
}

fn quote_char(c: u8) -> String {
    match c {
        b'\'' => "'\\''".to_string(),
        b'"' => "'\"'".to_string(),
        b'\n' => "'\\n'".to_string(),
        b'\r' => "'\\r'".to_string(),
        b'\t' => "'\\t'".to_string(),
        0x20..=0x7e => format!("'{}'", c as char),
        0x00..=0x1f | 0x7f => format!("'\\x{c:02x}'"),
        _ => format!("'{}'", char::from(c)),
    }
}

const EOF: &str = "unexpected end of JSON input";

struct Scanner<'a> {
    bytes: &'a [u8],
    pos: usize,
    depth: usize,
}

impl Scanner<'_> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    fn next(&mut self) -> Result<u8, String> {
        let c = self.peek().ok_or_else(|| EOF.to_string())?;
        self.pos += 1;
        Ok(c)
    }

    fn skip_ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.pos += 1;
        }
    }

    fn value(&mut self) -> Result<(), String> {
        match self.next()? {
            b'{' => self.nested(Self::object),
            b'[' => self.nested(Self::array),
            b'"' => self.string(),
            b't' => self.literal("true"),
            b'f' => self.literal("false"),
            b'n' => self.literal("null"),
            c @ (b'-' | b'0'..=b'9') => self.number(c),
            c => Err(format!("invalid character {} looking for beginning of value", quote_char(c))),
        }
    }

    fn nested(&mut self, body: fn(&mut Self) -> Result<(), String>) -> Result<(), String> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err("exceeded max depth".to_string());
        }
        body(self)?;
        self.depth -= 1;
        Ok(())
    }

    fn object(&mut self) -> Result<(), String> {
        self.skip_ws();
        if self.peek() == Some(b'}') {
            self.pos += 1;
            return Ok(());
        }
        loop {
            match self.next()? {
                b'"' => self.string()?,
                c => {
                    return Err(format!(
                        "invalid character {} looking for beginning of object key string",
                        quote_char(c)
                    ))
                }
            }
            self.skip_ws();
            match self.next()? {
                b':' => {}
                c => return Err(format!("invalid character {} after object key", quote_char(c))),
            }
            self.skip_ws();
            self.value()?;
            self.skip_ws();
            match self.next()? {
                b',' => self.skip_ws(),
                b'}' => return Ok(()),
                c => {
                    return Err(format!(
                        "invalid character {} after object key:value pair",
                        quote_char(c)
                    ))
                }
            }
        }
    }

    fn array(&mut self) -> Result<(), String> {
        self.skip_ws();
        if self.peek() == Some(b']') {
            self.pos += 1;
            return Ok(());
        }
        loop {
            self.value()?;
            self.skip_ws();
            match self.next()? {
                b',' => self.skip_ws(),
                b']' => return Ok(()),
                c => {
                    return Err(format!("invalid character {} after array element", quote_char(c)))
                }
            }
        }
    }

    fn string(&mut self) -> Result<(), String> {
        loop {
            match self.next()? {
                b'"' => return Ok(()),
                b'\\' => match self.next()? {
                    b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => {}
                    b'u' => {
                        for _ in 0..4 {
                            let c = self.next()?;
                            if !c.is_ascii_hexdigit() {
                                return Err(format!(
                                    "invalid character {} in \\u hexadecimal character escape",
                                    quote_char(c)
                                ));
                            }
                        }
                    }
                    c => {
                        return Err(format!(
                            "invalid character {} in string escape code",
                            quote_char(c)
                        ))
                    }
                },
                c if c < 0x20 => {
                    return Err(format!("invalid character {} in string literal", quote_char(c)))
                }
                _ => {}
            }
        }
    }

    fn literal(&mut self, word: &str) -> Result<(), String> {
        for expected in word.bytes().skip(1) {
            let c = self.next()?;
            if c != expected {
                return Err(format!(
                    "invalid character {} in literal {word} (expecting '{}')",
                    quote_char(c),
                    expected as char
                ));
            }
        }
        Ok(())
    }

    fn digits(&mut self) {
        while matches!(self.peek(), Some(b'0'..=b'9')) {
            self.pos += 1;
        }
    }

    fn number(&mut self, first: u8) -> Result<(), String> {
        let first = if first == b'-' {
            match self.next()? {
                c @ b'0'..=b'9' => c,
                c => return Err(format!("invalid character {} in numeric literal", quote_char(c))),
            }
        } else {
            first
        };
        if first != b'0' {
            self.digits();
        }
        if self.peek() == Some(b'.') {
            self.pos += 1;
            match self.next()? {
                b'0'..=b'9' => self.digits(),
                c => {
                    return Err(format!(
                        "invalid character {} after decimal point in numeric literal",
                        quote_char(c)
                    ))
                }
            }
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.pos += 1;
            let mut c = self.next()?;
            if c == b'+' || c == b'-' {
                c = self.next()?;
            }
            if !c.is_ascii_digit() {
                return Err(format!(
                    "invalid character {} in exponent of numeric literal",
                    quote_char(c)
                ));
            }
            self.digits();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn syntax_errors_read_like_go() {
        let cases = [
            ("", "unexpected end of JSON input"),
            ("{not json", "invalid character 'n' looking for beginning of object key string"),
            ("{\"create_binding\":", "unexpected end of JSON input"),
            ("notjson", "invalid character 'o' in literal null (expecting 'u')"),
            ("{} x", "invalid character 'x' after top-level value"),
            ("[1 2]", "invalid character '2' after array element"),
            ("{\"a\" 1}", "invalid character '1' after object key"),
            ("{\"a\":1 \"b\"}", "invalid character '\"' after object key:value pair"),
            ("x", "invalid character 'x' looking for beginning of value"),
            ("-x", "invalid character 'x' in numeric literal"),
        ];
        for (input, want) in cases {
            assert_eq!(check_syntax(input.as_bytes()).unwrap_err(), want, "input {input:?}");
        }
        for ok in ["{}", "null", " [1, -2.5e+3, \"a\\u00e9\", true, false, null] ", "0"] {
            assert!(check_syntax(ok.as_bytes()).is_ok(), "{ok}");
        }
    }

    #[test]
    fn escapes_html_like_go() {
        let v = serde_json::json!({"uri": "redis://a&b<c>"});
        assert_eq!(to_go_json(&v), r#"{"uri":"redis://a\u0026b\u003cc\u003e"}"#);
    }
}

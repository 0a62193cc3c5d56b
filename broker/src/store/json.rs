//! How the store writes and reads its JSON columns, with one nesting limit for both.
//!
//! serde_json refuses to read a document nested 128 levels deep or more (its recursion limit
//! guards the stack). The store wraps what callers give it (an operation request holds the
//! platform's context inside `request_params`), so a value that was fine when the API parsed
//! it could become unreadable once stored, and every later read of the row would fail. The
//! store therefore refuses, at write time, any JSON nested deeper than [`MAX_DEPTH`]:
//! whatever is written can be read back, and the failure is the request that caused it, not
//! every request after it. The API accepts bodies nested at most 64 levels; the store adds
//! at most three, so real requests stay far below the limit.

use super::{StoreError, StoreResult};

/// The deepest nesting (arrays and objects) the store writes. serde_json reads up to 127
/// levels; this leaves room for the wrapping above the API's limit of 64 while staying
/// clearly under what can be read.
pub const MAX_DEPTH: usize = 100;

/// The JSON text stored for `value` in `column`; [`StoreError::TooDeep`] when it is nested
/// deeper than [`MAX_DEPTH`].
pub fn encode<T: serde::Serialize + ?Sized>(
    column: &'static str, value: &T,
) -> StoreResult<String> {
    let text = serde_json::to_string(value)
        .map_err(|source| StoreError::Unencodable { column, source })?;
    let depth = depth(&text);
    if depth > MAX_DEPTH {
        return Err(StoreError::TooDeep { column, depth, limit: MAX_DEPTH });
    }
    Ok(text)
}

/// Decodes a stored JSON text (`columns::Json` names the column when this fails).
pub fn decode<T: serde::de::DeserializeOwned>(text: &str) -> serde_json::Result<T> {
    serde_json::from_str(text)
}

/// How deeply arrays and objects nest in a JSON text (`0` for a scalar). Brackets inside
/// strings do not count. Iterative, so any depth is measured without recursion.
pub fn depth(text: &str) -> usize {
    let (mut current, mut deepest) = (0usize, 0usize);
    let (mut in_string, mut escaped) = (false, false);
    for byte in text.bytes() {
        if in_string {
            match byte {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match byte {
            b'"' => in_string = true,
            b'[' | b'{' => {
                current += 1;
                deepest = deepest.max(current);
            }
            b']' | b'}' => current = current.saturating_sub(1),
            _ => {}
        }
    }
    deepest
}

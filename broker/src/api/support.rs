//! Query parameters shared by the handlers, each read with a message that says what to fix
//! (request bodies are types: `bodies.rs`).

use super::error::ApiError;
use std::collections::HashMap;

/// A required, non-empty query parameter.
pub fn required_query(query: &HashMap<String, String>, key: &str) -> Result<String, ApiError> {
    query
        .get(key)
        .filter(|v| !v.is_empty())
        .cloned()
        .ok_or_else(|| {
            ApiError::bad_request(format!(
                "the query parameter {key} is missing or empty: it is required"
            ))
        })
}

/// True when `accepts_incomplete=true` was sent (any of Go's `ParseBool` spellings of
/// true: `true`, `True`, `TRUE`, `t`, `T`, `1`).
pub fn accepts_incomplete(query: &HashMap<String, String>) -> bool {
    query_flag(query, "accepts_incomplete")
}

/// A boolean query parameter, true only for a spelling of true.
pub fn query_flag(query: &HashMap<String, String>, key: &str) -> bool {
    matches!(
        query.get(key).map(String::as_str),
        Some("true" | "True" | "TRUE" | "t" | "T" | "1")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boolean_query_flags_accept_the_spellings_of_true() {
        let q = |v: &str| HashMap::from([("accepts_incomplete".to_string(), v.to_string())]);
        for yes in ["true", "True", "TRUE", "t", "1"] {
            assert!(accepts_incomplete(&q(yes)), "{yes}");
        }
        for no in ["false", "", "yes", "0", "tru"] {
            assert!(!accepts_incomplete(&q(no)), "{no}");
        }
        assert!(!accepts_incomplete(&HashMap::new()));
    }
}

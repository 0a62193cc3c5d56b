//! Helpers shared by the handlers: body fields and query parameters, each read with a
//! message that says what to fix.

use super::error::ApiError;
use serde_json::{Map, Value};
use std::collections::HashMap;

/// A required, non-empty string field of a body.
pub fn required_str(body: &Map<String, Value>, key: &str) -> Result<String, ApiError> {
    match body.get(key) {
        Some(Value::String(s)) if !s.is_empty() => Ok(s.clone()),
        Some(Value::String(_)) | None | Some(Value::Null) => Err(ApiError::bad_request(format!(
            "{key} is missing or empty: it is required"
        ))),
        Some(_) => Err(ApiError::bad_request(format!("{key} must be a string"))),
    }
}

/// An optional string field; an empty string counts as absent.
pub fn optional_str(body: &Map<String, Value>, key: &str) -> Result<Option<String>, ApiError> {
    match body.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.is_empty() => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(ApiError::bad_request(format!("{key} must be a string"))),
    }
}

/// An optional object field (`None` when absent or `null`).
pub fn optional_object(body: &Map<String, Value>, key: &str) -> Result<Option<Value>, ApiError> {
    match body.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v @ Value::Object(_)) => Ok(Some(v.clone())),
        Some(_) => Err(ApiError::bad_request(format!(
            "{key} must be a JSON object"
        ))),
    }
}

/// `parameters`: an object, `{}` when absent.
pub fn parameters(body: &Map<String, Value>) -> Result<Value, ApiError> {
    Ok(optional_object(body, "parameters")?.unwrap_or_else(|| Value::Object(Map::new())))
}

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
    use actix_web::http::StatusCode;

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

    #[test]
    fn empty_strings_count_as_missing() {
        let body =
            crate::api::extract::json_object(br#"{"service_id": "", "plan_id": 3}"#).unwrap();
        assert_eq!(
            required_str(&body, "service_id").unwrap_err().status,
            StatusCode::BAD_REQUEST
        );
        assert_eq!(
            required_str(&body, "plan_id").unwrap_err().status,
            StatusCode::BAD_REQUEST
        );
        assert_eq!(optional_str(&body, "service_id").unwrap(), None);
    }
}

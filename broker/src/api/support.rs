//! Query parameters shared by the handlers, each read with a message that says what to fix
//! (request bodies are types: `bodies.rs`).

use super::bodies::id_message;
use super::error::ApiError;
use crate::ids::Id;
use crate::service::{DeprovisionRequest, UnbindRequest};
use std::collections::HashMap;

/// A required, non-empty query parameter.
pub fn required_query(query: &HashMap<String, String>, key: &str) -> Result<String, ApiError> {
    query.get(key).filter(|v| !v.is_empty()).cloned().ok_or_else(|| {
        ApiError::bad_request(format!(
            "the query parameter {key} is missing or empty: it is required"
        ))
    })
}

/// A required query parameter that holds an id under its rule.
pub fn required_query_id<T: Id>(query: &HashMap<String, String>, key: &str) -> Result<T, ApiError> {
    T::parse(&required_query(query, key)?).map_err(|e| {
        ApiError::bad_request(format!("the query parameter {key} {}", id_message::<T>(&e)))
    })
}

/// An unbind's query: its `service_id` and `plan_id` parameters, both required.
pub fn unbind_query(query: &HashMap<String, String>) -> Result<UnbindRequest, ApiError> {
    Ok(UnbindRequest {
        service_id: required_query_id(query, "service_id")?,
        plan_id: required_query_id(query, "plan_id")?,
    })
}

/// A deprovision's query: the catalog ids as for an unbind, `accepts_incomplete` and `force`.
pub fn deprovision_query(query: &HashMap<String, String>) -> Result<DeprovisionRequest, ApiError> {
    let UnbindRequest { service_id, plan_id } = unbind_query(query)?;
    Ok(DeprovisionRequest {
        service_id,
        plan_id,
        accepts_incomplete: accepts_incomplete(query),
        force: query_flag(query, "force"),
    })
}

/// True when `accepts_incomplete=true` was sent (any of Go's `ParseBool` spellings of
/// true: `true`, `True`, `TRUE`, `t`, `T`, `1`).
pub fn accepts_incomplete(query: &HashMap<String, String>) -> bool {
    query_flag(query, "accepts_incomplete")
}

/// A boolean query parameter, true only for a spelling of true.
pub fn query_flag(query: &HashMap<String, String>, key: &str) -> bool {
    matches!(query.get(key).map(String::as_str), Some("true" | "True" | "TRUE" | "t" | "T" | "1"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catalog_id_query_parameters_are_required_and_follow_the_rule() {
        let q = |pairs: &[(&str, &str)]| -> HashMap<String, String> {
            pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
        };
        let message = |query| unbind_query(&query).unwrap_err().description.unwrap_or_default();
        let query = q(&[("service_id", "s 1"), ("plan_id", "p/1"), ("force", "true")]);
        let unbind = unbind_query(&query).unwrap();
        assert_eq!((unbind.service_id.as_str(), unbind.plan_id.as_str()), ("s 1", "p/1"));
        let deprovision = deprovision_query(&query).unwrap();
        assert_eq!(deprovision.plan_id.as_str(), "p/1");
        assert!(deprovision.force && !deprovision.accepts_incomplete);
        assert_eq!(
            message(q(&[("service_id", ""), ("plan_id", "p")])),
            "the query parameter service_id is missing or empty: it is required"
        );
        assert_eq!(
            message(q(&[("service_id", "s")])),
            "the query parameter plan_id is missing or empty: it is required"
        );
        assert_eq!(
            message(q(&[("service_id", "s"), ("plan_id", "p\nq")])),
            format!(
                "the query parameter plan_id holds the character '\\n' at position 1: use {}",
                crate::ids::CATALOG_ID_RULE
            )
        );
    }

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

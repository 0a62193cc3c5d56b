//! Helpers shared by the handlers: body and query parsing, and mapping engine failures to
//! OSB errors with a message the user can act on.

use super::error::ApiError;
use super::middleware::RequestMeta;
use super::AppState;
use crate::adapter::AdapterError;
use crate::director::DirectorError;
use crate::engine::EngineError;
use actix_web::http::StatusCode;
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

/// An optional object field (`null` when absent).
pub fn optional_object(body: &Map<String, Value>, key: &str) -> Result<Value, ApiError> {
    match body.get(key) {
        None | Some(Value::Null) => Ok(Value::Null),
        Some(v @ Value::Object(_)) => Ok(v.clone()),
        Some(_) => Err(ApiError::bad_request(format!(
            "{key} must be a JSON object"
        ))),
    }
}

/// `parameters`: an object, `{}` when absent.
pub fn parameters(body: &Map<String, Value>) -> Result<Value, ApiError> {
    match optional_object(body, "parameters")? {
        Value::Null => Ok(Value::Object(Map::new())),
        v => Ok(v),
    }
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

/// The version of a `maintenance_info` object; `None` for absent, `{}` or no version.
pub fn maintenance_version(mi: &Value) -> Option<String> {
    mi.get("version")
        .and_then(Value::as_str)
        .filter(|v| !v.is_empty())
        .map(str::to_string)
}

/// Maps an engine failure to an OSB error, logging the operator detail with the request id.
pub fn engine_error(
    state: &AppState,
    meta: &RequestMeta,
    instance_id: &str,
    action: &str,
    operation: &str,
    err: &EngineError,
) -> ApiError {
    tracing::warn!(request_id = %meta.request_id, instance = instance_id, operation, error = %err, "request failed");
    let expose = |mut api: ApiError| {
        if state.config.broker.expose_operational_errors {
            let d = api.description.take().unwrap_or_default();
            api.description = Some(format!("{d} - error-message: {err}"));
        }
        api
    };
    match err {
        EngineError::Adapter(a) => adapter_error(state, meta, instance_id, operation, a),
        EngineError::PendingChanges => ApiError::unprocessable(
            "The service broker has been updated, and this service instance is out of date. Please contact your operator.",
        ),
        EngineError::TaskInProgress(_) => ApiError::concurrency(
            "An operation is in progress for your service instance. Please try again later.",
        ),
        EngineError::Director(DirectorError::Request(_)) => expose(ApiError::internal(format!(
            "Currently unable to {action} service instance, please try again later"
        ))),
        EngineError::DeploymentNotFound(d) => expose(ApiError::internal(format!(
            "bosh deployment '{d}' not found"
        ))),
        EngineError::PlanNotFound(p) => {
            ApiError::internal(format!("plan {p} not found in the catalog"))
        }
        _ => expose(ApiError::internal(state.engine.generic_message(
            instance_id,
            &meta.request_id,
            None,
            Some(operation),
        ))),
    }
}

/// Maps an adapter failure: typed exit codes to their OSB answers, the adapter's own message
/// (non-empty stdout) verbatim, anything else to the generic message.
pub fn adapter_error(
    state: &AppState,
    meta: &RequestMeta,
    instance_id: &str,
    operation: &str,
    err: &AdapterError,
) -> ApiError {
    tracing::warn!(request_id = %meta.request_id, instance = instance_id, operation, error = %err, "service adapter failed");
    match err {
        AdapterError::BindingAlreadyExists(_) => ApiError::conflict("binding already exists"),
        AdapterError::BindingNotFound(_) => ApiError::gone(),
        AdapterError::AppGuidNotProvided(_) => {
            ApiError::unprocessable("app_guid is a required field but was not provided")
                .with_code("RequiresApp")
        }
        AdapterError::NotImplemented(subcommand) => ApiError::internal(format!(
            "The service adapter does not implement {subcommand}, which this request needs. Please contact your operations team providing the following information: service: {}, service-instance-guid: {instance_id}, broker-request-id: {}",
            state.config.catalog.service_name, meta.request_id
        )),
        other => {
            if let Some(msg) = other.user_message() {
                return ApiError::internal(msg.to_string());
            }
            let mut api = ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                state
                    .engine
                    .generic_message(instance_id, &meta.request_id, None, Some(operation)),
            );
            if state.config.broker.expose_operational_errors {
                let d = api.description.take().unwrap_or_default();
                api.description = Some(format!("{d} - error-message: {other}"));
            }
            api
        }
    }
}

/// Maps a store failure to the generic 500.
pub fn store_error(
    state: &AppState,
    meta: &RequestMeta,
    instance_id: &str,
    operation: &str,
    err: &dyn std::fmt::Display,
) -> ApiError {
    tracing::error!(request_id = %meta.request_id, instance = instance_id, operation, error = %err, "state store failed");
    ApiError::internal(state.engine.generic_message(
        instance_id,
        &meta.request_id,
        None,
        Some(operation),
    ))
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

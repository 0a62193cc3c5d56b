//! The management API under `/mgmt` (basic auth, no version header): what operators and the
//! operator CLI (`upgrade-all`, `recreate-all`, `orphan-deployments`, `delete-all`) use.
//!
//! * `GET /mgmt/service_instances`: the live instances, with their last operation.
//! * `GET /mgmt/service_instances/{id}/bindings`: the bindings of an instance (no credentials).
//! * `GET /mgmt/orphan_deployments`: director deployments of this broker with no live instance.
//! * `GET /mgmt/metrics`: instance counts and quota use, per plan and for the service.
//! * `PATCH /mgmt/service_instances/{id}?operation_type=upgrade|recreate`: starts an upgrade
//!   (new manifest from the instance's current plan) or a recreate of every VM.
//!
//! Errors are OSB-style `{"description": ...}` bodies.

use super::bodies::{decode, ManagementBody};
use super::error::ApiError;
use super::extract::{depth, InstancePath, MAX_BODY_DEPTH};
use super::middleware::RequestMeta;
use super::AppState;
use crate::store::OperationKind;
use actix_web::{web, HttpResponse};
use serde_json::{json, Value};
use std::collections::HashMap;

/// `GET /mgmt/service_instances`.
pub async fn list_instances(
    state: web::Data<AppState>, meta: web::ReqData<RequestMeta>,
) -> Result<HttpResponse, ApiError> {
    state.ok_json(&meta, state.broker.list_instances().await)
}

/// `GET /mgmt/service_instances/{id}/bindings`: `[{"binding_id", "service_id", "plan_id"}]`;
/// 404 for an unknown or deleted instance.
pub async fn list_bindings(
    state: web::Data<AppState>, InstancePath(id): InstancePath, meta: web::ReqData<RequestMeta>,
) -> Result<HttpResponse, ApiError> {
    state.ok_json(&meta, state.broker.list_bindings(&id).await)
}

/// `GET /mgmt/service_instances/{id}/operations`: the instance's operations, binds and
/// unbinds, newest first, each with the steps the journal recorded; 404 when the broker
/// knows nothing of the instance.
pub async fn history(
    state: web::Data<AppState>, InstancePath(id): InstancePath, meta: web::ReqData<RequestMeta>,
) -> Result<HttpResponse, ApiError> {
    state.ok_json(&meta, state.broker.history(&id).await)
}

/// `GET /mgmt/orphan_deployments`: deployments named `service-instance_<id>` whose instance is
/// not live in the store.
pub async fn orphan_deployments(
    state: web::Data<AppState>, meta: web::ReqData<RequestMeta>,
) -> Result<HttpResponse, ApiError> {
    let orphans =
        state.broker.orphan_deployments(meta.caller()).await.map_err(state.answer(&meta))?;
    let body: Vec<Value> = orphans.into_iter().map(|d| json!({ "deployment_name": d })).collect();
    Ok(HttpResponse::Ok().json(body))
}

/// `GET /mgmt/metrics`.
pub async fn metrics(
    state: web::Data<AppState>, meta: web::ReqData<RequestMeta>,
) -> Result<HttpResponse, ApiError> {
    state.ok_json(&meta, state.broker.quota_metrics().await)
}

/// `GET /metrics`: Prometheus text format — HTTP responses, adapter calls and time spent,
/// finished operations, operations in flight, and instances by plan and state.
pub async fn prometheus(
    state: web::Data<AppState>, metrics: web::Data<crate::metrics::Metrics>,
    meta: web::ReqData<RequestMeta>,
) -> Result<HttpResponse, ApiError> {
    let gauges = state.broker.metric_gauges().await.map_err(state.answer(&meta))?;
    Ok(HttpResponse::Ok()
        .content_type("application/openmetrics-text; version=1.0.0; charset=utf-8")
        .body(metrics.render(&gauges)))
}

/// The optional body of a management PATCH: `None`, or the `context` object it carries.
fn management_context(body: &[u8]) -> Result<Option<Value>, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(v) if depth(&v) > MAX_BODY_DEPTH => Err(ApiError::unprocessable(format!(
            "Error in request body: it nests objects and arrays more than {MAX_BODY_DEPTH} levels deep"
        ))),
        Ok(Value::Object(map)) => decode::<ManagementBody>(map)
            .map(ManagementBody::into_context)
            .map_err(|e| {
                ApiError::unprocessable(format!(
                    "Error in request body: {}",
                    e.description.unwrap_or_default()
                ))
            }),
        Ok(_) => Err(ApiError::unprocessable(
            "Error in request body: send a JSON object (or no body)",
        )),
        Err(e) => Err(ApiError::unprocessable(format!(
            "Error in request body. Invalid JSON: {e}"
        ))),
    }
}

/// `PATCH /mgmt/service_instances/{id}?operation_type=upgrade|recreate`.
///
/// The body is optional; when sent it must be a JSON object, and its `context` (an object)
/// replaces the stored platform context for an upgrade. Answers `202 {"operation",
/// "operation_type", "service_instance_id"}`; `400` for a missing or unknown operation type,
/// `422` for an undecodable body, `410` when the instance or its deployment is gone, `409`
/// when an operation is in progress on it.
pub async fn patch_instance(
    state: web::Data<AppState>, InstancePath(id): InstancePath,
    query: web::Query<HashMap<String, String>>, meta: web::ReqData<RequestMeta>, body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let kind = match query.get("operation_type").map(String::as_str) {
        Some("upgrade") => OperationKind::Upgrade,
        Some("recreate") => OperationKind::Recreate,
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "operation_type '{}' is not supported: use upgrade or recreate",
                crate::ids::log_safe(other, 64)
            )))
        }
        None => {
            return Err(ApiError::bad_request(
                "the query parameter operation_type is missing: use operation_type=upgrade or operation_type=recreate",
            ))
        }
    };
    let context = management_context(&body)?;
    let started = state
        .broker
        .start_management_operation(meta.caller(), &id, kind, context)
        .await
        .map_err(state.answer(&meta))?;
    Ok(HttpResponse::Accepted().json(json!({
        "operation": started.operation,
        "operation_type": started.kind.as_str(),
        "service_instance_id": id,
    })))
}

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

use super::error::ApiError;
use super::extract::InstancePath;
use super::middleware::RequestMeta;
use super::operations::{begin_operation, latest_operation, load_instance};
use super::support::store_error;
use super::AppState;
use crate::engine::{in_progress_text, plans, OperationRequest};
use crate::quotas::{self, PlanCounts};
use crate::store::{InstanceRecord, InstanceState, OperationKind, OperationState};
use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use serde::Serialize;
use serde_json::{json, Value};
use std::collections::{BTreeSet, HashMap};

/// The prefix of every deployment this broker creates.
const DEPLOYMENT_PREFIX: &str = "service-instance_";

/// The last operation of an instance, as listed.
#[derive(Debug, Serialize)]
struct LastOperation {
    #[serde(rename = "type")]
    kind: &'static str,
    state: &'static str,
    description: String,
}

/// One instance, as listed.
#[derive(Debug, Serialize)]
struct InstanceSummary {
    service_instance_id: String,
    service_id: String,
    plan_id: String,
    state: &'static str,
    last_operation: Option<LastOperation>,
    deployment_name: String,
    space_guid: String,
    organization_guid: String,
}

/// One metric.
#[derive(Debug, Serialize, PartialEq)]
struct Metric {
    key: String,
    value: u64,
    unit: &'static str,
}

impl Metric {
    fn count(key: String, value: u64) -> Self {
        Self {
            key,
            value,
            unit: "count",
        }
    }
}

async fn live_instances(
    state: &AppState,
    meta: &RequestMeta,
) -> Result<Vec<InstanceRecord>, ApiError> {
    state
        .engine
        .store
        .run(|s| s.live_instances())
        .await
        .map_err(|e| store_error(state, meta, "-", "mgmt", &e))
}

/// `GET /mgmt/service_instances`.
pub async fn list_instances(
    state: web::Data<AppState>,
    meta: web::ReqData<RequestMeta>,
) -> Result<HttpResponse, ApiError> {
    let listed = state
        .engine
        .store
        .run(|s| {
            let mut out = Vec::new();
            for instance in s.live_instances()? {
                let op = s.latest_operation(&instance.id)?;
                out.push((instance, op));
            }
            Ok(out)
        })
        .await
        .map_err(|e| store_error(&state, &meta, "-", "mgmt", &e))?;
    let body: Vec<InstanceSummary> = listed
        .into_iter()
        .map(|(i, op)| InstanceSummary {
            last_operation: op.map(|op| LastOperation {
                kind: op.kind.as_str(),
                state: op.state.as_str(),
                description: if op.state == OperationState::InProgress {
                    in_progress_text(op.kind).to_string()
                } else {
                    op.description
                },
            }),
            service_instance_id: i.id,
            service_id: i.service_id,
            plan_id: i.plan_id,
            state: i.state.as_str(),
            deployment_name: i.deployment_name,
            space_guid: i.space_guid,
            organization_guid: i.organization_guid,
        })
        .collect();
    Ok(HttpResponse::Ok().json(body))
}

/// `GET /mgmt/service_instances/{id}/bindings`: `[{"binding_id", "service_id", "plan_id"}]`;
/// 404 for an unknown or deleted instance.
pub async fn list_bindings(
    state: web::Data<AppState>,
    path: InstancePath,
    meta: web::ReqData<RequestMeta>,
) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner();
    match load_instance(&state, &meta, &id, "mgmt").await? {
        Some(i) if i.state != InstanceState::Deleted => {}
        _ => {
            return Err(ApiError::not_found(format!(
                "service instance {id} does not exist"
            )))
        }
    }
    let iid = id.clone();
    let bindings = state
        .engine
        .store
        .run(move |s| s.bindings_of(&iid))
        .await
        .map_err(|e| store_error(&state, &meta, &id, "mgmt", &e))?;
    let body: Vec<Value> = bindings
        .into_iter()
        .map(|b| json!({"binding_id": b.id, "service_id": b.service_id, "plan_id": b.plan_id}))
        .collect();
    Ok(HttpResponse::Ok().json(body))
}

/// `GET /mgmt/orphan_deployments`: deployments named `service-instance_<id>` whose instance is
/// not live in the store.
pub async fn orphan_deployments(
    state: web::Data<AppState>,
    meta: web::ReqData<RequestMeta>,
) -> Result<HttpResponse, ApiError> {
    let live: BTreeSet<String> = live_instances(&state, &meta)
        .await?
        .into_iter()
        .map(|i| i.id)
        .collect();
    let deployments = state.engine.director.deployments().await.map_err(|e| {
        tracing::warn!(request_id = %meta.request_id, error = %e, "cannot list director deployments");
        ApiError::internal(format!(
            "cannot list the director's deployments: {e}; check that the director is reachable"
        ))
    })?;
    let body: Vec<Value> = deployments
        .into_iter()
        .filter(|d| {
            d.strip_prefix(DEPLOYMENT_PREFIX)
                .is_some_and(|id| !live.contains(id))
        })
        .map(|d| json!({ "deployment_name": d }))
        .collect();
    Ok(HttpResponse::Ok().json(body))
}

/// `GET /mgmt/metrics`.
pub async fn metrics(
    state: web::Data<AppState>,
    meta: web::ReqData<RequestMeta>,
) -> Result<HttpResponse, ApiError> {
    let instances = live_instances(&state, &meta).await?;
    let counts = PlanCounts::of(&instances);
    Ok(HttpResponse::Ok().json(compute_metrics(&state.config, &counts)))
}

/// `GET /metrics`: Prometheus text format — HTTP responses, adapter calls and time spent,
/// finished operations, operations in flight, and instances by plan and state.
pub async fn prometheus(
    state: web::Data<AppState>,
    meta: web::ReqData<RequestMeta>,
) -> Result<HttpResponse, ApiError> {
    let instances = live_instances(&state, &meta).await?;
    let in_flight = state
        .engine
        .store
        .run(|s| s.in_flight_operations())
        .await
        .map_err(|e| store_error(&state, &meta, "-", "metrics", &e))?
        .len() as u64;
    let mut gauges = std::collections::BTreeMap::new();
    for i in &instances {
        let plan = state
            .config
            .plan(&i.plan_id)
            .map(|p| p.name.clone())
            .unwrap_or_else(|| i.plan_id.clone());
        *gauges
            .entry((plan, i.state.as_str().to_string()))
            .or_insert(0u64) += 1;
    }
    Ok(HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(crate::metrics::global().render(&gauges, in_flight)))
}

fn compute_metrics(config: &crate::config::Config, counts: &PlanCounts) -> Vec<Metric> {
    let service = &config.catalog.service_name;
    let mut out = Vec::new();
    for plan in &config.catalog.plans {
        let prefix = format!("/on-demand-broker/{service}/{}", plan.name);
        let count = counts.plan(&plan.plan_id);
        out.push(Metric::count(format!("{prefix}/total_instances"), count));
        let Some(q) = &plan.quotas else { continue };
        if let Some(limit) = q.service_instance_limit {
            out.push(Metric::count(
                format!("{prefix}/quota_remaining"),
                limit.saturating_sub(count),
            ));
        }
        for (name, quota) in &q.resources {
            let used = quotas::plan_resource_used(plan, counts, name);
            out.push(Metric::count(format!("{prefix}/{name}/used"), used));
            if quota.limit != 0 {
                out.push(Metric::count(
                    format!("{prefix}/{name}/remaining"),
                    quota.limit.saturating_sub(used),
                ));
            }
        }
    }
    let prefix = format!("/on-demand-broker/{service}");
    out.push(Metric::count(
        format!("{prefix}/total_instances"),
        counts.total(),
    ));
    if let Some(q) = &config.catalog.global_quotas {
        if let Some(limit) = q.service_instance_limit {
            out.push(Metric::count(
                format!("{prefix}/quota_remaining"),
                limit.saturating_sub(counts.total()),
            ));
        }
        for (name, quota) in &q.resources {
            let used = quotas::global_resource_used(config, counts, name);
            out.push(Metric::count(format!("{prefix}/{name}/used"), used));
            out.push(Metric::count(
                format!("{prefix}/{name}/remaining"),
                quota.limit.saturating_sub(used),
            ));
        }
    }
    out
}

/// `PATCH /mgmt/service_instances/{id}?operation_type=upgrade|recreate`.
///
/// The body is optional; when sent it must be a JSON object, and its `context` (an object)
/// replaces the stored platform context for an upgrade. Answers `202 {"operation",
/// "operation_type", "service_instance_id"}`; `400` for a missing or unknown operation type,
/// `422` for an undecodable body, `410` when the instance or its deployment is gone, `409`
/// when an operation is in progress on it.
pub async fn patch_instance(
    state: web::Data<AppState>,
    path: InstancePath,
    query: web::Query<HashMap<String, String>>,
    meta: web::ReqData<RequestMeta>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner();
    let kind = match query.get("operation_type").map(String::as_str) {
        Some("upgrade") => OperationKind::Upgrade,
        Some("recreate") => OperationKind::Recreate,
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "operation_type '{other}' is not supported: use upgrade or recreate"
            )))
        }
        None => {
            return Err(ApiError::bad_request(
                "the query parameter operation_type is missing: use operation_type=upgrade or operation_type=recreate",
            ))
        }
    };
    let body_context = if body.iter().all(u8::is_ascii_whitespace) {
        Value::Null
    } else {
        match serde_json::from_slice::<Value>(&body) {
            Ok(v) if super::extract::depth(&v) > super::extract::MAX_BODY_DEPTH => {
                return Err(ApiError::unprocessable(format!(
                    "Error in request body: it nests objects and arrays more than {} levels deep",
                    super::extract::MAX_BODY_DEPTH
                )))
            }
            Ok(Value::Object(map)) => match map.get("context") {
                None | Some(Value::Null) => Value::Null,
                Some(c @ Value::Object(_)) => c.clone(),
                Some(_) => {
                    return Err(ApiError::unprocessable(
                        "Error in request body: context must be a JSON object",
                    ))
                }
            },
            Ok(_) => {
                return Err(ApiError::unprocessable(
                    "Error in request body: send a JSON object (or no body)",
                ))
            }
            Err(e) => {
                return Err(ApiError::unprocessable(format!(
                    "Error in request body. Invalid JSON: {e}"
                )))
            }
        }
    };
    let gone = || {
        ApiError::new(
            StatusCode::GONE,
            format!("service instance {id} does not exist"),
        )
    };
    let instance = match load_instance(&state, &meta, &id, kind.as_str()).await? {
        Some(i) if i.state != InstanceState::Deleted => i,
        _ => return Err(gone()),
    };
    if let Some(op) = latest_operation(&state, &meta, &id).await? {
        if op.state == OperationState::InProgress {
            return Err(ApiError::conflict(format!(
                "{} for service instance {id} (operation {}): try again when it has finished",
                in_progress_text(op.kind),
                op.id
            )));
        }
    }
    let deployment = plans::deployment_name(&id);
    match state.engine.director.manifest(&deployment).await {
        Ok(Some(_)) => {}
        Ok(None) => {
            return Err(ApiError::new(
                StatusCode::GONE,
                format!(
                    "service instance {id} has no deployment '{deployment}': nothing to {kind}"
                ),
            ))
        }
        Err(e) => {
            tracing::warn!(request_id = %meta.request_id, instance = %id, error = %e, "cannot fetch the manifest");
            return Err(ApiError::internal(format!(
                "Currently unable to {kind} service instance {id}, please try again later"
            )));
        }
    }
    let context = if body_context.is_null() {
        instance.context.clone()
    } else {
        body_context
    };
    let request = upgrade_request(&state, &instance, kind, context);
    let (op, _) = begin_operation(&state, &meta, instance, kind, request, kind.as_str(), None)
        .await
        .map_err(|e| {
            if e.code == Some("ConcurrencyError") {
                ApiError::conflict(e.description.unwrap_or_default())
            } else {
                e
            }
        })?;
    Ok(HttpResponse::Accepted().json(json!({
        "operation": op.id,
        "operation_type": kind.as_str(),
        "service_instance_id": id,
    })))
}

/// What an upgrade or recreate does: the instance's current plan, the request parameters an
/// upgrade hands the adapter (`{"context": ...}`), and, for an upgrade, the catalog's current
/// maintenance info, which the instance moves to.
fn upgrade_request(
    state: &AppState,
    instance: &InstanceRecord,
    kind: OperationKind,
    context: Value,
) -> OperationRequest {
    let maintenance_info = match kind {
        OperationKind::Upgrade => state
            .config
            .plan(&instance.plan_id)
            .and_then(|p| crate::catalog::effective_maintenance_info(&state.config, p))
            .filter(|mi| !mi.version.is_empty())
            .map(|mi| json!({ "version": mi.version }))
            .unwrap_or(Value::Null),
        _ => Value::Null,
    };
    OperationRequest {
        plan_id: instance.plan_id.clone(),
        previous_plan_id: Some(instance.plan_id.clone()),
        parameters: json!({}),
        context: context.clone(),
        maintenance_info,
        request_params: json!({ "context": context }),
        force: false,
        fingerprint: json!({
            "service_id": instance.service_id,
            "plan_id": instance.plan_id,
            "parameters": {},
            "management": kind.as_str(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_count_per_plan_and_globally() {
        let config = crate::config::load(None, &Default::default())
            .unwrap()
            .config;
        let first = config.catalog.plans[0].clone();
        let counts = PlanCounts::of(&[InstanceRecord {
            id: "x".into(),
            service_id: config.catalog.id.clone(),
            plan_id: first.plan_id.clone(),
            organization_guid: String::new(),
            space_guid: String::new(),
            context: Value::Null,
            parameters: json!({}),
            maintenance_info: Value::Null,
            dashboard_url: None,
            labels: Value::Null,
            configs: Value::Null,
            state: InstanceState::Ready,
            deployment_name: "service-instance_x".into(),
            created_at: String::new(),
            updated_at: String::new(),
        }]);
        let metrics = compute_metrics(&config, &counts);
        let service = &config.catalog.service_name;
        assert!(metrics.contains(&Metric::count(
            format!("/on-demand-broker/{service}/{}/total_instances", first.name),
            1
        )));
        assert!(metrics.contains(&Metric::count(
            format!("/on-demand-broker/{service}/total_instances"),
            1
        )));
    }
}

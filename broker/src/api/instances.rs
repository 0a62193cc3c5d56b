//! Service instance endpoints: provision, update, deprovision, fetch and last operation.

use super::error::ApiError;
use super::extract::{InstancePath, JsonBody};
use super::middleware::RequestMeta;
use super::operations::{
    accepted, check_quotas, latest_operation, load_instance, new_operation, start_operation,
};
use super::support::*;
use super::AppState;
use crate::engine::{in_progress_text, plans, OperationRequest};
use crate::ids::InstanceId;
use crate::schemas::SchemaKind;
use crate::store::{
    now_rfc3339, InstanceRecord, InstanceState, OperationKind, OperationState, StoreError,
};
use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use serde_json::{json, Map, Value};
use std::collections::HashMap;

type Query = web::Query<HashMap<String, String>>;

/// The engine lock key that serialises quota checks with the records they count.
const QUOTA_LOCK: &str = "quotas";

fn check_service(state: &AppState, service_id: &str) -> Result<(), ApiError> {
    if service_id != state.config.catalog.id {
        return Err(ApiError::bad_request(format!(
            "service_id '{service_id}' is not in the catalog: use '{}'",
            state.config.catalog.id
        )));
    }
    Ok(())
}

fn check_plan(state: &AppState, plan_id: &str) -> Result<(), ApiError> {
    if state.config.plan(plan_id).is_none() {
        let known: Vec<&str> = state
            .config
            .catalog
            .plans
            .iter()
            .map(|p| p.plan_id.as_str())
            .collect();
        return Err(ApiError::bad_request(format!(
            "plan_id '{plan_id}' is not in the catalog: use one of {}",
            known.join(", ")
        )));
    }
    Ok(())
}

/// The maintenance info an operation moves the instance to: the plan's current version
/// (`null` when the plan has none). 422 `MaintenanceInfoConflict` when the request names a
/// version the plan is not at.
fn check_maintenance_info(
    state: &AppState,
    plan_id: &str,
    requested: &Value,
) -> Result<Value, ApiError> {
    let plan = state.config.plan(plan_id).expect("plan checked");
    let current = crate::catalog::effective_maintenance_info(&state.config, plan)
        .map(|mi| mi.version)
        .filter(|v| !v.is_empty());
    match (maintenance_version(requested), current) {
        (None, None) => Ok(Value::Null),
        (None, Some(v)) => Ok(json!({ "version": v })),
        (Some(_), None) => Err(ApiError::unprocessable(
            "maintenance_info was passed, but the broker catalog contains no maintenance_info",
        )
        .with_code("MaintenanceInfoConflict")),
        (Some(asked), Some(v)) if asked != v => Err(ApiError::unprocessable(format!(
            "passed maintenance_info does not match the catalog maintenance_info: the plan is at version '{v}', the request asked for '{asked}'; fetch the catalog again"
        ))
        .with_code("MaintenanceInfoConflict")),
        (Some(_), Some(v)) => Ok(json!({ "version": v })),
    }
}

/// What makes two provision requests the same request.
struct ProvisionIdentity<'a> {
    service_id: &'a str,
    plan_id: &'a str,
    organization_guid: &'a str,
    space_guid: &'a str,
    parameters: &'a Value,
}

impl ProvisionIdentity<'_> {
    fn matches(&self, existing: &InstanceRecord) -> bool {
        existing.service_id == self.service_id
            && existing.plan_id == self.plan_id
            && existing.organization_guid == self.organization_guid
            && existing.space_guid == self.space_guid
            && existing.parameters == *self.parameters
    }
}

/// The answer to a provision of an instance that already exists (`None` when it does not,
/// or only its deleted tombstone does): the same `202` for an identical provision still in
/// flight, `200` for an identical one that completed, `409` for a different one.
async fn existing_answer(
    state: &AppState,
    meta: &RequestMeta,
    instance_id: &InstanceId,
    identity: &ProvisionIdentity<'_>,
) -> Result<Option<HttpResponse>, ApiError> {
    let Some(existing) = load_instance(state, meta, instance_id, "create").await? else {
        return Ok(None);
    };
    if existing.state == InstanceState::Deleted {
        return Ok(None);
    }
    let identical = identity.matches(&existing);
    let latest = latest_operation(state, meta, instance_id).await?;
    match (identical, existing.state, latest) {
        (true, InstanceState::Provisioning, Some(op)) if op.kind == OperationKind::Create => Ok(
            Some(accepted(&op, existing.dashboard_url.as_deref(), &existing.labels)),
        ),
        (true, InstanceState::Ready | InstanceState::Updating, _) => {
            let mut body = Map::new();
            if let Some(url) = &existing.dashboard_url {
                body.insert("dashboard_url".into(), json!(url));
            }
            Ok(Some(HttpResponse::Ok().json(Value::Object(body))))
        }
        (_, InstanceState::Deprovisioning, _) => Err(ApiError::concurrency(format!(
            "service instance {instance_id} is being deleted: provision it again when the delete has finished"
        ))),
        (true, InstanceState::Failed, _) => Err(ApiError::conflict(format!(
            "service instance {instance_id} exists but its provisioning failed: delete it, then provision again"
        ))),
        _ => Err(ApiError::conflict(format!(
            "service instance {instance_id} already exists with a different service, plan, organization, space or parameters"
        ))),
    }
}

/// `PUT /v2/service_instances/{id}`: provision (always asynchronous).
pub async fn provision(
    state: web::Data<AppState>,
    path: InstancePath,
    query: Query,
    meta: web::ReqData<RequestMeta>,
    JsonBody(body): JsonBody,
) -> Result<HttpResponse, ApiError> {
    let instance_id = path.into_inner();
    let service_id = required_str(&body, "service_id")?;
    let plan_id = required_str(&body, "plan_id")?;
    let organization_guid = required_str(&body, "organization_guid")?;
    let space_guid = required_str(&body, "space_guid")?;
    let context = optional_object(&body, "context")?;
    let parameters = parameters(&body)?;
    let requested_mi = optional_object(&body, "maintenance_info")?;
    check_service(&state, &service_id)?;
    check_plan(&state, &plan_id)?;

    let identity = ProvisionIdentity {
        service_id: &service_id,
        plan_id: &plan_id,
        organization_guid: &organization_guid,
        space_guid: &space_guid,
        parameters: &parameters,
    };
    if let Some(answer) = existing_answer(&state, &meta, &instance_id, &identity).await? {
        return Ok(answer);
    }
    if !accepts_incomplete(&query) {
        return Err(ApiError::async_required());
    }
    let maintenance_info = check_maintenance_info(&state, &plan_id, &requested_mi)?;
    state.validate_parameters(&plan_id, SchemaKind::InstanceCreate, &parameters)?;
    // Checking the quotas and recording the instance happen under one short lock, so two
    // provisions at the same moment cannot both take the last place.
    let quota_guard = state.engine.lock(QUOTA_LOCK).await;
    // An identical provision may have been recorded while this one waited for the lock: it
    // gets the same answer as if it had come a moment later.
    if let Some(answer) = existing_answer(&state, &meta, &instance_id, &identity).await? {
        return Ok(answer);
    }
    check_quotas(&state, &meta, &instance_id, &plan_id, None).await?;

    let mut request_params = Map::new();
    request_params.insert("service_id".into(), json!(service_id));
    request_params.insert("plan_id".into(), json!(plan_id));
    request_params.insert("organization_guid".into(), json!(organization_guid));
    request_params.insert("space_guid".into(), json!(space_guid));
    if !context.is_null() {
        request_params.insert("context".into(), context.clone());
    }
    if !requested_mi.is_null() {
        request_params.insert("maintenance_info".into(), requested_mi.clone());
    }
    request_params.insert("parameters".into(), parameters.clone());

    let request = OperationRequest {
        plan_id: plan_id.clone(),
        previous_plan_id: None,
        parameters: parameters.clone(),
        context: context.clone(),
        maintenance_info: maintenance_info.clone(),
        request_params: Value::Object(request_params),
        force: false,
        fingerprint: json!({"service_id": service_id, "plan_id": plan_id, "parameters": parameters}),
    };
    let op = new_operation(&instance_id, OperationKind::Create, &request);
    let now = now_rfc3339();
    let instance = InstanceRecord {
        id: instance_id.to_string(),
        service_id,
        plan_id,
        organization_guid,
        space_guid,
        context,
        parameters,
        maintenance_info,
        dashboard_url: None,
        labels: Value::Null,
        configs: Value::Null,
        state: InstanceState::Provisioning,
        deployment_name: plans::deployment_name(&instance_id),
        created_at: now.clone(),
        updated_at: now,
    };

    let engine = state.engine.clone();
    let _guard = engine.lock(&op.id).await;
    let (inst, o) = (instance.clone(), op.clone());
    match engine
        .store
        .run(move |s| s.begin_provision(&inst, &o))
        .await
    {
        Ok(()) => {}
        Err(StoreError::AlreadyExists) => {
            return Err(ApiError::conflict(format!(
                "service instance {instance_id} is being provisioned by another request"
            )))
        }
        Err(e) => return Err(store_error(&state, &meta, &instance_id, "create", &e)),
    }
    drop(quota_guard);
    tracing::info!(request_id = %meta.request_id, instance = %instance_id, operation = %op.id, "provision recorded");
    match engine.advance_locked(&op.id).await {
        Ok(_) => {
            let stored = load_instance(&state, &meta, &instance_id, "create")
                .await?
                .unwrap_or(instance);
            Ok(accepted(
                &op,
                stored.dashboard_url.as_deref(),
                &stored.labels,
            ))
        }
        Err(err) => {
            let id = instance_id.clone();
            if let Err(e) = engine.store.run(move |s| s.forget_instance(&id)).await {
                tracing::error!(instance = %instance_id, error = %e, "could not remove the failed provision's records");
            }
            Err(engine_error(
                &state,
                &meta,
                &instance_id,
                "create",
                "create",
                &err,
            ))
        }
    }
}

/// `PATCH /v2/service_instances/{id}`: update or upgrade (always asynchronous).
pub async fn update(
    state: web::Data<AppState>,
    path: InstancePath,
    query: Query,
    meta: web::ReqData<RequestMeta>,
    JsonBody(body): JsonBody,
) -> Result<HttpResponse, ApiError> {
    let instance_id = path.into_inner();
    let service_id = required_str(&body, "service_id")?;
    check_service(&state, &service_id)?;
    let requested_plan = optional_str(&body, "plan_id")?;
    if let Some(p) = &requested_plan {
        check_plan(&state, p)?;
    }
    let has_parameters = body.get("parameters").is_some_and(|p| !p.is_null());
    let parameters = parameters(&body)?;
    let context = optional_object(&body, "context")?;
    let previous_values = optional_object(&body, "previous_values")?;
    let requested_mi = optional_object(&body, "maintenance_info")?;

    let Some(instance) = load_instance(&state, &meta, &instance_id, "update").await? else {
        return Err(ApiError::not_found(format!(
            "service instance {instance_id} does not exist"
        )));
    };
    if instance.state == InstanceState::Deleted {
        return Err(ApiError::not_found(format!(
            "service instance {instance_id} does not exist: it was deleted"
        )));
    }
    if !accepts_incomplete(&query) {
        return Err(ApiError::async_required());
    }
    let new_plan = requested_plan
        .clone()
        .unwrap_or_else(|| instance.plan_id.clone());
    let fingerprint =
        json!({"service_id": service_id, "plan_id": new_plan, "parameters": parameters});
    if let Some(op) = latest_operation(&state, &meta, &instance_id).await? {
        if op.state == OperationState::InProgress {
            if matches!(op.kind, OperationKind::Update | OperationKind::Upgrade)
                && OperationRequest::of(&op).fingerprint == fingerprint
            {
                return Ok(accepted(
                    &op,
                    instance.dashboard_url.as_deref(),
                    &instance.labels,
                ));
            }
            return Err(ApiError::concurrency(format!(
                "{} for service instance {instance_id}: try again when it has finished",
                in_progress_text(op.kind)
            )));
        }
    }
    if new_plan != instance.plan_id {
        let plan = state.config.plan(&new_plan).expect("plan checked");
        let updatable = plan
            .plan_updatable
            .unwrap_or(state.config.catalog.plan_updatable);
        if !updatable {
            return Err(ApiError::unprocessable(format!(
                "plan changes are not supported: the plan '{}' cannot be changed to from another plan; create a new instance instead",
                plan.name
            )));
        }
    }
    let maintenance_info = check_maintenance_info(&state, &new_plan, &requested_mi)?;
    if has_parameters {
        state.validate_parameters(&new_plan, SchemaKind::InstanceUpdate, &parameters)?;
    }
    let quota_guard = if new_plan != instance.plan_id {
        let guard = state.engine.lock(QUOTA_LOCK).await;
        check_quotas(
            &state,
            &meta,
            &instance_id,
            &new_plan,
            Some(&instance.plan_id),
        )
        .await?;
        Some(guard)
    } else {
        None
    };
    let instance_version = maintenance_version(&instance.maintenance_info).or_else(|| {
        previous_values
            .get("maintenance_info")
            .and_then(maintenance_version)
    });
    let target_version = maintenance_version(&maintenance_info);
    let outdated = instance_version.is_some()
        && target_version.is_some()
        && instance_version != target_version;
    let asked_for_upgrade = maintenance_version(&requested_mi).is_some();
    let is_upgrade = new_plan == instance.plan_id
        && parameters.as_object().is_none_or(|p| p.is_empty())
        && asked_for_upgrade
        && outdated;
    if outdated && !asked_for_upgrade {
        return Err(ApiError::unprocessable(format!(
            "service instance needs to be upgraded before updating: it is at maintenance_info version '{}', the plan is at '{}'; upgrade it first (send the catalog's maintenance_info with no other changes)",
            instance_version.unwrap_or_default(),
            target_version.unwrap_or_default()
        )));
    }
    let kind = if is_upgrade {
        OperationKind::Upgrade
    } else {
        OperationKind::Update
    };

    let request_params = if is_upgrade {
        json!({ "context": context })
    } else {
        let mut rp = Map::new();
        rp.insert("service_id".into(), json!(service_id));
        rp.insert("plan_id".into(), json!(new_plan));
        rp.insert("parameters".into(), parameters.clone());
        let mut pv = Map::new();
        pv.insert("plan_id".into(), json!(instance.plan_id));
        pv.insert("service_id".into(), json!(instance.service_id));
        pv.insert("organization_id".into(), json!(instance.organization_guid));
        pv.insert("space_id".into(), json!(instance.space_guid));
        if let Some(mi) = previous_values
            .get("maintenance_info")
            .filter(|m| !m.is_null())
        {
            pv.insert("maintenance_info".into(), mi.clone());
        }
        rp.insert("previous_values".into(), Value::Object(pv));
        if !context.is_null() {
            rp.insert("context".into(), context.clone());
        }
        if !requested_mi.is_null() {
            rp.insert("maintenance_info".into(), requested_mi.clone());
        }
        Value::Object(rp)
    };
    let request = OperationRequest {
        plan_id: new_plan,
        previous_plan_id: Some(instance.plan_id.clone()),
        parameters: if has_parameters {
            parameters
        } else {
            json!({})
        },
        context,
        maintenance_info,
        request_params,
        force: false,
        fingerprint,
    };
    start_operation(
        &state,
        &meta,
        instance,
        kind,
        request,
        "update",
        quota_guard,
    )
    .await
}

/// `DELETE /v2/service_instances/{id}`: deprovision (always asynchronous).
pub async fn deprovision(
    state: web::Data<AppState>,
    path: InstancePath,
    query: Query,
    meta: web::ReqData<RequestMeta>,
) -> Result<HttpResponse, ApiError> {
    let instance_id = path.into_inner();
    let service_id = required_query(&query, "service_id")?;
    let _plan_id = required_query(&query, "plan_id")?;
    check_service(&state, &service_id)?;
    let Some(instance) = load_instance(&state, &meta, &instance_id, "delete").await? else {
        return Err(ApiError::gone());
    };
    if instance.state == InstanceState::Deleted {
        return Err(ApiError::gone());
    }
    if !accepts_incomplete(&query) {
        return Err(ApiError::async_required());
    }
    if let Some(op) = latest_operation(&state, &meta, &instance_id).await? {
        if op.state == OperationState::InProgress {
            if op.kind == OperationKind::Delete {
                return Ok(accepted(&op, None, &Value::Null));
            }
            return Err(ApiError::concurrency(format!(
                "{} for service instance {instance_id}: delete it when that has finished",
                in_progress_text(op.kind)
            )));
        }
    }
    let request = OperationRequest {
        plan_id: instance.plan_id.clone(),
        force: query_flag(&query, "force"),
        ..Default::default()
    };
    let response = start_operation(
        &state,
        &meta,
        instance,
        OperationKind::Delete,
        request,
        "delete",
        None,
    )
    .await?;
    Ok(response)
}

/// `GET /v2/service_instances/{id}`.
pub async fn fetch(
    state: web::Data<AppState>,
    path: InstancePath,
    meta: web::ReqData<RequestMeta>,
) -> Result<HttpResponse, ApiError> {
    if meta.api_minor < 14 {
        return Err(ApiError::new(
            StatusCode::PRECONDITION_FAILED,
            "get instance endpoint only supported starting with OSB version 2.14",
        ));
    }
    let instance_id = path.into_inner();
    let instance = load_instance(&state, &meta, &instance_id, "fetch").await?;
    let instance = match instance {
        None => {
            return Err(ApiError::not_found(format!(
                "service instance {instance_id} does not exist"
            )))
        }
        Some(i) => i,
    };
    match instance.state {
        InstanceState::Deleted => {
            return Err(ApiError::not_found(format!("service instance {instance_id} does not exist: it was deleted")))
        }
        InstanceState::Provisioning => {
            return Err(ApiError::not_found(format!(
                "service instance {instance_id} is still being provisioned: poll last_operation"
            )))
        }
        InstanceState::Updating => {
            return Err(ApiError::concurrency(format!(
                "service instance {instance_id} is being updated: fetch it when the update has finished"
            )))
        }
        _ => {}
    }
    let mut body = Map::new();
    body.insert("service_id".into(), json!(instance.service_id));
    body.insert("plan_id".into(), json!(instance.plan_id));
    if let Some(url) = &instance.dashboard_url {
        body.insert("dashboard_url".into(), json!(url));
    }
    body.insert("parameters".into(), instance.parameters.clone());
    if !instance.maintenance_info.is_null() {
        body.insert("maintenance_info".into(), instance.maintenance_info.clone());
    }
    let labels = if instance.labels.is_null() {
        json!({})
    } else {
        instance.labels.clone()
    };
    body.insert(
        "metadata".into(),
        json!({ "labels": labels, "attributes": {} }),
    );
    Ok(HttpResponse::Ok().json(Value::Object(body)))
}

/// `GET /v2/service_instances/{id}/last_operation`.
pub async fn last_operation(
    state: web::Data<AppState>,
    path: InstancePath,
    query: Query,
    meta: web::ReqData<RequestMeta>,
) -> Result<HttpResponse, ApiError> {
    let instance_id = path.into_inner();
    if load_instance(&state, &meta, &instance_id, "last_operation")
        .await?
        .is_none()
    {
        return Err(ApiError::not_found(format!(
            "service instance {instance_id} does not exist"
        )));
    }
    let engine = state.engine.clone();
    let operation = match query.get("operation").filter(|o| !o.is_empty()) {
        Some(raw) => Some(crate::ids::OperationId::parse(raw).map_err(|e| {
            ApiError::bad_request(format!(
                "the query parameter operation {e}: send back the operation id the broker answered with"
            ))
        })?),
        None => None,
    };
    let named = match operation {
        Some(op_id) => {
            let id = op_id.to_string();
            engine
                .store
                .run(move |s| s.operation(&id))
                .await
                .map_err(|e| store_error(&state, &meta, &instance_id, "last_operation", &e))?
                .filter(|op| op.instance_id == instance_id.as_str())
        }
        None => None,
    };
    let op = match named {
        Some(op) => op,
        None => latest_operation(&state, &meta, &instance_id)
            .await?
            .ok_or_else(|| {
                ApiError::not_found(format!("service instance {instance_id} has no operations"))
            })?,
    };
    let op = if op.state == OperationState::InProgress {
        match engine.refresh_shared(&op.id).await {
            Ok(Some(updated)) => updated,
            Ok(None) => op,
            Err(err) => {
                tracing::warn!(request_id = %meta.request_id, operation = %op.id, error = %err, "could not refresh the operation");
                op
            }
        }
    } else {
        op
    };
    let description = match op.state {
        OperationState::InProgress => in_progress_text(op.kind).to_string(),
        _ => op.description.clone(),
    };
    let mut body = Map::new();
    body.insert("state".into(), json!(op.state.as_str()));
    body.insert("description".into(), json!(description));
    if op.state == OperationState::Failed
        && matches!(op.kind, OperationKind::Update | OperationKind::Upgrade)
    {
        body.insert("instance_usable".into(), json!(true));
        body.insert("update_repeatable".into(), json!(true));
    }
    let mut resp = HttpResponse::Ok();
    if op.state == OperationState::InProgress {
        resp.insert_header(("Retry-After", "1"));
    }
    Ok(resp.json(Value::Object(body)))
}

//! Service binding endpoints: bind, unbind, fetch and last operation. Bind and unbind are
//! synchronous: the broker asks the director for the deployment's VMs and manifest, runs the
//! adapter, and stores the binding so that it can be fetched later.

use super::error::ApiError;
use super::extract::{BindingPath, JsonBody};
use super::middleware::RequestMeta;
use super::operations::load_instance;
use super::support::*;
use super::AppState;
use crate::adapter::BindingRequest;
use crate::engine::EngineError;
use crate::store::{
    now_rfc3339, BindRefusal, BindingRecord, InstanceRecord, InstanceState, StoreError,
};
use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use serde_json::{json, Map, Value};
use std::collections::HashMap;

type Query = web::Query<HashMap<String, String>>;

async fn binding(
    state: &AppState,
    meta: &RequestMeta,
    iid: &str,
    bid: &str,
    op: &str,
) -> Result<Option<BindingRecord>, ApiError> {
    let (i, b) = (iid.to_string(), bid.to_string());
    state
        .engine
        .store
        .run(move |s| s.binding(&i, &b))
        .await
        .map_err(|e| store_error(state, meta, iid, op, &e))
}

/// What the adapter needs about the deployment: manifest, VMs and stored secrets.
async fn deployment_facts(
    state: &AppState,
    instance: &InstanceRecord,
) -> Result<
    Option<(
        String,
        BTreeVms,
        Option<std::collections::BTreeMap<String, String>>,
    )>,
    EngineError,
> {
    let director = &state.engine.director;
    let Some(manifest) = director.manifest(&instance.deployment_name).await? else {
        return Ok(None);
    };
    let vms = director.vms(&instance.deployment_name).await?;
    let secrets = {
        let d = instance.deployment_name.clone();
        let stored = state.engine.store.run(move |s| s.secrets(&d)).await?;
        Some(
            stored
                .into_iter()
                .map(|(path, v)| (format!("(({path}))"), v))
                .collect::<std::collections::BTreeMap<_, _>>(),
        )
        .filter(|m| !m.is_empty())
    };
    Ok(Some((manifest, vms, secrets)))
}

type BTreeVms = std::collections::BTreeMap<String, Vec<String>>;

/// The DNS addresses of the plan's `binding_with_dns` entries (empty when it has none).
async fn dns_addresses(
    state: &AppState,
    instance: &InstanceRecord,
    plan_id: &str,
) -> Result<std::collections::BTreeMap<String, String>, EngineError> {
    let dns = state
        .config
        .plan(plan_id)
        .map(|p| p.binding_with_dns.as_slice())
        .unwrap_or_default();
    if dns.is_empty() {
        return Ok(Default::default());
    }
    Ok(state
        .engine
        .director
        .dns_addresses(&instance.deployment_name, dns)
        .await?)
}

/// `PUT .../service_bindings/{binding_id}`: bind (synchronous).
pub async fn bind(
    state: web::Data<AppState>,
    path: BindingPath,
    meta: web::ReqData<RequestMeta>,
    JsonBody(body): JsonBody,
) -> Result<HttpResponse, ApiError> {
    let (instance_id, binding_id) = path.into_inner();
    let service_id = required_str(&body, "service_id")?;
    let plan_id = required_str(&body, "plan_id")?;
    let parameters = parameters(&body)?;
    let bind_resource = optional_object(&body, "bind_resource")?;
    let context = optional_object(&body, "context")?;
    let app_guid = optional_str(&body, "app_guid")?;
    if service_id != state.config.catalog.id {
        return Err(ApiError::bad_request(format!(
            "service_id '{service_id}' is not in the catalog"
        )));
    }
    let Some(plan) = state.config.plan(&plan_id) else {
        return Err(ApiError::bad_request(format!(
            "plan_id '{plan_id}' is not in the catalog"
        )));
    };
    if !plan.bindable.unwrap_or(state.config.catalog.bindable) {
        return Err(ApiError::bad_request(format!(
            "plan '{}' is not bindable",
            plan.name
        )));
    }
    if bind_resource.get("backup_agent").and_then(Value::as_bool) == Some(true)
        && !state.config.broker.support_backup_agent_binding
    {
        return Err(ApiError::unprocessable(
            "service does not support backup agent binding",
        ));
    }
    state.validate_parameters(
        &plan_id,
        crate::schemas::SchemaKind::BindingCreate,
        &parameters,
    )?;
    let predecessor = optional_str(&body, "predecessor_binding_id")?;
    if predecessor.is_some() && !plan.binding_rotatable.unwrap_or(false) {
        return Err(ApiError::bad_request(format!(
            "plan '{}' does not allow binding rotation (binding_rotatable is false): create a new binding without predecessor_binding_id",
            plan.name
        )));
    }
    let Some(instance) = load_instance(&state, &meta, &instance_id, "bind").await? else {
        return Err(ApiError::not_found(format!(
            "service instance {instance_id} does not exist"
        )));
    };
    match instance.state {
        InstanceState::Deleted => {
            return Err(ApiError::not_found(format!("service instance {instance_id} does not exist: it was deleted")))
        }
        InstanceState::Provisioning => {
            return Err(ApiError::concurrency(format!(
                "service instance {instance_id} is still being provisioned: bind after last_operation reports succeeded"
            )))
        }
        InstanceState::Deprovisioning => {
            return Err(ApiError::concurrency(format!("service instance {instance_id} is being deleted")))
        }
        InstanceState::Failed => {
            return Err(ApiError::unprocessable(format!(
                "service instance {instance_id} failed to provision and cannot be bound: delete it and provision again"
            )))
        }
        InstanceState::Ready | InstanceState::Updating => {}
    }

    if let Some(pred) = &predecessor {
        let exists = binding(&state, &meta, &instance_id, pred, "bind")
            .await?
            .is_some_and(|b| !b.is_pending());
        if !exists {
            return Err(ApiError::bad_request(format!(
                "predecessor_binding_id '{pred}' is not a binding of service instance {instance_id}"
            )));
        }
    }
    let identity = json!({
        "service_id": service_id,
        "plan_id": plan_id,
        "parameters": parameters,
        "bind_resource": bind_resource,
        "app_guid": app_guid,
    });
    let _guard = state
        .engine
        .lock(&format!("binding:{instance_id}/{binding_id}"))
        .await;
    match binding(&state, &meta, &instance_id, &binding_id, "bind").await? {
        Some(existing) if existing.request != identity => {
            return Err(ApiError::conflict(format!(
                "binding {binding_id} already exists with different parameters: unbind it first or use a new binding id"
            )))
        }
        // A binding whose create-binding never answered (the broker stopped mid-call):
        // ask the adapter again.
        Some(existing) if existing.is_pending() => {}
        Some(existing) => return Ok(HttpResponse::Ok().json(&existing.response)),
        None => {}
    }

    let facts = deployment_facts(&state, &instance)
        .await
        .map_err(|e| engine_error(&state, &meta, &instance_id, "bind", "bind", &e))?;
    let Some((manifest, vms, secrets)) = facts else {
        return Err(ApiError::not_found(format!(
            "service instance {instance_id} has no deployment: it may have failed to provision"
        )));
    };
    let dns_addresses = dns_addresses(&state, &instance, &plan_id)
        .await
        .map_err(|e| engine_error(&state, &meta, &instance_id, "bind", "bind", &e))?;
    let mut request_params = Map::new();
    if let Some(guid) = &app_guid {
        request_params.insert("app_guid".into(), json!(guid));
    }
    request_params.insert("plan_id".into(), json!(plan_id));
    request_params.insert("service_id".into(), json!(service_id));
    if !bind_resource.is_null() {
        request_params.insert("bind_resource".into(), bind_resource.clone());
    }
    if !context.is_null() {
        request_params.insert("context".into(), context.clone());
    }
    request_params.insert("parameters".into(), parameters.clone());
    let req = BindingRequest {
        binding_id: binding_id.to_string(),
        vms,
        manifest,
        request_params: Value::Object(request_params),
        secrets,
        dns_addresses,
    };
    // Intent first: if the broker stops while the adapter runs, the record tells a later
    // unbind to ask the adapter to delete whatever it may have created. The store refuses it
    // while the instance is being deleted (a leftover record is taken over, with the same
    // check), so a bind can never race a deprovision.
    {
        let record = BindingRecord {
            instance_id: instance_id.to_string(),
            id: binding_id.to_string(),
            service_id,
            plan_id,
            request: identity,
            response: Value::Null,
            created_at: now_rfc3339(),
        };
        match state
            .engine
            .store
            .run(move |s| s.insert_binding(&record))
            .await
        {
            Ok(()) => {}
            Err(StoreError::AlreadyExists) => {
                return Err(ApiError::conflict(format!(
                    "binding {binding_id} was created by another request"
                )))
            }
            Err(StoreError::InstanceBusy {
                reason: BindRefusal::Deleted,
                ..
            }) => {
                return Err(ApiError::not_found(format!(
                    "service instance {instance_id} does not exist: it was deleted"
                )))
            }
            Err(StoreError::InstanceBusy { .. }) => {
                return Err(ApiError::concurrency(format!(
                    "service instance {instance_id} is being deleted"
                )))
            }
            Err(e) => return Err(store_error(&state, &meta, &instance_id, "bind", &e)),
        }
    }
    let created = match state.engine.adapter.create_binding(&req).await {
        Ok(created) => created,
        Err(e) => {
            // Nothing was created: the request leaves no record behind.
            forget(&state, &meta, &instance_id, &binding_id).await?;
            return Err(adapter_error(&state, &meta, &instance_id, "bind", &e));
        }
    };
    let response = serde_json::to_value(&created).unwrap_or(Value::Null);
    let (i, b, r) = (
        instance_id.to_string(),
        binding_id.to_string(),
        response.clone(),
    );
    let kept = state
        .engine
        .store
        .run(move |s| s.set_binding_response(&i, &b, &r))
        .await
        .map_err(|e| store_error(&state, &meta, &instance_id, "bind", &e))?;
    if !kept {
        // The record went while the adapter ran: nobody would track these credentials.
        tracing::warn!(request_id = %meta.request_id, instance = %instance_id, binding = %binding_id, "binding record gone during create-binding; asking the adapter to delete it");
        if let Err(e) = state.engine.adapter.delete_binding(&req).await {
            tracing::warn!(request_id = %meta.request_id, binding = %binding_id, error = %e, "delete-binding of the orphaned binding failed");
        }
        return Err(ApiError::concurrency(format!(
            "service instance {instance_id} changed while binding {binding_id} was created: try again"
        )));
    }
    tracing::info!(request_id = %meta.request_id, instance = %instance_id, binding = %binding_id, "binding created");
    Ok(HttpResponse::Created().json(response))
}

/// `DELETE .../service_bindings/{binding_id}`: unbind (synchronous).
pub async fn unbind(
    state: web::Data<AppState>,
    path: BindingPath,
    query: Query,
    meta: web::ReqData<RequestMeta>,
) -> Result<HttpResponse, ApiError> {
    let (instance_id, binding_id) = path.into_inner();
    let service_id = required_query(&query, "service_id")?;
    let plan_id = required_query(&query, "plan_id")?;
    let Some(instance) = load_instance(&state, &meta, &instance_id, "unbind").await? else {
        return Err(ApiError::gone());
    };
    if instance.state == InstanceState::Deprovisioning {
        return Err(ApiError::concurrency(format!(
            "service instance {instance_id} is being deleted: its bindings go with it"
        )));
    }
    let _guard = state
        .engine
        .lock(&format!("binding:{instance_id}/{binding_id}"))
        .await;
    if binding(&state, &meta, &instance_id, &binding_id, "unbind")
        .await?
        .is_none()
    {
        return Err(ApiError::gone());
    }
    let facts = deployment_facts(&state, &instance)
        .await
        .map_err(|e| engine_error(&state, &meta, &instance_id, "unbind", "unbind", &e))?;
    if let Some((manifest, vms, secrets)) = facts {
        let dns_addresses = dns_addresses(&state, &instance, &plan_id)
            .await
            .map_err(|e| engine_error(&state, &meta, &instance_id, "unbind", "unbind", &e))?;
        let req = BindingRequest {
            binding_id: binding_id.to_string(),
            vms,
            manifest,
            request_params: json!({"plan_id": plan_id, "service_id": service_id}),
            secrets,
            dns_addresses,
        };
        match state.engine.adapter.delete_binding(&req).await {
            Ok(()) => {}
            Err(crate::adapter::AdapterError::BindingNotFound(_)) => {
                tracing::info!(request_id = %meta.request_id, binding = %binding_id, "the adapter reports the binding gone; removing it");
                forget(&state, &meta, &instance_id, &binding_id).await?;
                return Err(ApiError::gone());
            }
            Err(e) => return Err(adapter_error(&state, &meta, &instance_id, "unbind", &e)),
        }
    }
    forget(&state, &meta, &instance_id, &binding_id).await?;
    tracing::info!(request_id = %meta.request_id, instance = %instance_id, binding = %binding_id, "binding deleted");
    Ok(HttpResponse::Ok().json(json!({})))
}

async fn forget(
    state: &AppState,
    meta: &RequestMeta,
    iid: &str,
    bid: &str,
) -> Result<(), ApiError> {
    let (i, b) = (iid.to_string(), bid.to_string());
    state
        .engine
        .store
        .run(move |s| s.delete_binding(&i, &b))
        .await
        .map(|_| ())
        .map_err(|e| store_error(state, meta, iid, "unbind", &e))
}

fn require_2_14(meta: &RequestMeta) -> Result<(), ApiError> {
    if meta.api_minor < 14 {
        return Err(ApiError::new(
            StatusCode::PRECONDITION_FAILED,
            "get binding endpoint only supported starting with OSB version 2.14",
        ));
    }
    Ok(())
}

/// `GET .../service_bindings/{binding_id}`.
pub async fn fetch(
    state: web::Data<AppState>,
    path: BindingPath,
    meta: web::ReqData<RequestMeta>,
) -> Result<HttpResponse, ApiError> {
    require_2_14(&meta)?;
    let (instance_id, binding_id) = path.into_inner();
    let Some(record) = binding(&state, &meta, &instance_id, &binding_id, "fetch")
        .await?
        .filter(|b| !b.is_pending())
    else {
        return Err(ApiError::not_found(format!(
            "binding {binding_id} does not exist"
        )));
    };
    let mut body = record.response.as_object().cloned().unwrap_or_default();
    body.insert("parameters".into(), record.request["parameters"].clone());
    Ok(HttpResponse::Ok().json(Value::Object(body)))
}

/// `GET .../service_bindings/{binding_id}/last_operation`: bindings are synchronous, so an
/// existing binding's last operation has succeeded.
pub async fn last_operation(
    state: web::Data<AppState>,
    path: BindingPath,
    meta: web::ReqData<RequestMeta>,
) -> Result<HttpResponse, ApiError> {
    require_2_14(&meta)?;
    let (instance_id, binding_id) = path.into_inner();
    match binding(&state, &meta, &instance_id, &binding_id, "fetch")
        .await?
        .filter(|b| !b.is_pending())
    {
        Some(_) => Ok(HttpResponse::Ok()
            .json(json!({"state": "succeeded", "description": "binding created"}))),
        None => Err(ApiError::not_found(format!(
            "binding {binding_id} does not exist"
        ))),
    }
}

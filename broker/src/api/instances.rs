//! Service instance endpoints: provision, update, deprovision, fetch and last operation.
//! Each handler parses the request, calls its use case and renders the outcome.

use super::bodies::{OsbBody, ProvisionBody, UpdateBody};
use super::error::ApiError;
use super::extract::InstancePath;
use super::middleware::RequestMeta;
use super::support::*;
use super::AppState;
use crate::ids::OperationId;
use crate::service::{Accepted, Provisioned};
use crate::store::{OperationKind, OperationState};
use actix_web::{web, HttpResponse};
use serde_json::{json, Map, Value};
use std::collections::HashMap;

type Query = web::Query<HashMap<String, String>>;

/// The `202 Accepted` answer of an asynchronous operation: its id, and the dashboard URL and
/// labels when there are any.
fn render_accepted(accepted: &Accepted) -> HttpResponse {
    let mut body = Map::new();
    body.insert("operation".into(), json!(accepted.operation));
    if let Some(url) = &accepted.dashboard_url {
        body.insert("dashboard_url".into(), json!(url));
    }
    if let Some(labels) = accepted.labels.as_ref().filter(|l| !l.is_empty()) {
        body.insert("metadata".into(), json!({ "labels": labels }));
    }
    HttpResponse::Accepted().json(Value::Object(body))
}

/// An update's or a deprovision's answer: `202` as [`render_accepted`], or the OSB answer to
/// its error.
fn answer_accepted(
    state: &AppState, meta: &RequestMeta, outcome: crate::service::ServiceResult<Accepted>,
) -> Result<HttpResponse, ApiError> {
    outcome.map(|accepted| render_accepted(&accepted)).map_err(state.answer(meta))
}

/// `PUT /v2/service_instances/{id}`: provision (always asynchronous).
pub async fn provision(
    state: web::Data<AppState>, InstancePath(instance_id): InstancePath, query: Query,
    meta: web::ReqData<RequestMeta>, OsbBody(body): OsbBody<ProvisionBody>,
) -> Result<HttpResponse, ApiError> {
    let request = body.into_request(accepts_incomplete(&query));
    match state.broker.provision(meta.caller(), &instance_id, request).await {
        Ok(Provisioned::Accepted(accepted)) => Ok(render_accepted(&accepted)),
        Ok(Provisioned::AlreadyExists { dashboard_url }) => {
            let mut body = Map::new();
            if let Some(url) = dashboard_url {
                body.insert("dashboard_url".into(), json!(url));
            }
            Ok(HttpResponse::Ok().json(Value::Object(body)))
        }
        Err(e) => Err(state.answer(&meta)(e)),
    }
}

/// `PATCH /v2/service_instances/{id}`: update or upgrade (always asynchronous).
pub async fn update(
    state: web::Data<AppState>, InstancePath(instance_id): InstancePath, query: Query,
    meta: web::ReqData<RequestMeta>, OsbBody(body): OsbBody<UpdateBody>,
) -> Result<HttpResponse, ApiError> {
    let request = body.into_request(accepts_incomplete(&query));
    let outcome = state.broker.update(meta.caller(), &instance_id, request);
    answer_accepted(&state, &meta, outcome.await)
}

/// `DELETE /v2/service_instances/{id}`: deprovision (always asynchronous).
pub async fn deprovision(
    state: web::Data<AppState>, InstancePath(instance_id): InstancePath, query: Query,
    meta: web::ReqData<RequestMeta>,
) -> Result<HttpResponse, ApiError> {
    let request = deprovision_query(&query)?;
    let outcome = state.broker.deprovision(meta.caller(), &instance_id, request);
    answer_accepted(&state, &meta, outcome.await)
}

/// `GET /v2/service_instances/{id}`.
pub async fn fetch(
    state: web::Data<AppState>, InstancePath(instance_id): InstancePath,
    meta: web::ReqData<RequestMeta>,
) -> Result<HttpResponse, ApiError> {
    meta.require_2_14("get instance")?;
    let view = state.broker.fetch_instance(&instance_id).await.map_err(state.answer(&meta))?;
    let mut body = Map::new();
    body.insert("service_id".into(), json!(view.service_id));
    body.insert("plan_id".into(), json!(view.plan_id));
    if let Some(url) = &view.dashboard_url {
        body.insert("dashboard_url".into(), json!(url));
    }
    body.insert("parameters".into(), view.parameters);
    if let Some(mi) = &view.maintenance_info {
        body.insert("maintenance_info".into(), json!(mi));
    }
    body.insert("metadata".into(), json!({ "labels": view.labels, "attributes": {} }));
    Ok(HttpResponse::Ok().json(Value::Object(body)))
}

/// `GET /v2/service_instances/{id}/last_operation`.
pub async fn last_operation(
    state: web::Data<AppState>, InstancePath(instance_id): InstancePath, query: Query,
    meta: web::ReqData<RequestMeta>,
) -> Result<HttpResponse, ApiError> {
    let operation = match query.get("operation").filter(|o| !o.is_empty()) {
        Some(raw) => Some(OperationId::parse(raw).map_err(|e| {
            ApiError::bad_request(format!(
                "the query parameter operation {e}: send back the operation id the broker answered with"
            ))
        })?),
        None => None,
    };
    let view = state
        .broker
        .last_operation(meta.caller(), &instance_id, operation.as_ref())
        .await
        .map_err(state.answer(&meta))?;
    let mut body = Map::new();
    body.insert("state".into(), json!(view.state.as_str()));
    body.insert("description".into(), json!(view.description));
    if view.state == OperationState::Failed
        && matches!(view.kind, OperationKind::Update | OperationKind::Upgrade)
    {
        body.insert("instance_usable".into(), json!(true));
        body.insert("update_repeatable".into(), json!(true));
    }
    let mut resp = HttpResponse::Ok();
    if view.state == OperationState::InProgress {
        resp.insert_header(("Retry-After", "1"));
    }
    Ok(resp.json(Value::Object(body)))
}

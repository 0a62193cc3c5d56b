//! Service binding endpoints: bind, unbind, fetch and last operation. Each handler parses
//! the request, calls its use case and renders the outcome.

use super::bodies::{BindBody, OsbBody};
use super::error::ApiError;
use super::extract::BindingPath;
use super::middleware::RequestMeta;
use super::support::*;
use super::AppState;
use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use serde_json::json;
use std::collections::HashMap;

type Query = web::Query<HashMap<String, String>>;

/// `PUT .../service_bindings/{binding_id}`: bind (synchronous).
pub async fn bind(
    state: web::Data<AppState>, BindingPath(instance_id, binding_id): BindingPath,
    meta: web::ReqData<RequestMeta>, OsbBody(body): OsbBody<BindBody>,
) -> Result<HttpResponse, ApiError> {
    let request = body.into_request();
    let bound = state
        .broker
        .bind(meta.caller(), &instance_id, &binding_id, request)
        .await
        .map_err(state.answer(&meta))?;
    let status = if bound.created { StatusCode::CREATED } else { StatusCode::OK };
    Ok(HttpResponse::build(status).json(bound.response))
}

/// `DELETE .../service_bindings/{binding_id}`: unbind (synchronous).
pub async fn unbind(
    state: web::Data<AppState>, BindingPath(instance_id, binding_id): BindingPath, query: Query,
    meta: web::ReqData<RequestMeta>,
) -> Result<HttpResponse, ApiError> {
    let request = unbind_query(&query)?;
    state
        .broker
        .unbind(meta.caller(), &instance_id, &binding_id, request)
        .await
        .map_err(state.answer(&meta))?;
    Ok(HttpResponse::Ok().json(json!({})))
}

/// `GET .../service_bindings/{binding_id}`.
pub async fn fetch(
    state: web::Data<AppState>, BindingPath(instance_id, binding_id): BindingPath,
    meta: web::ReqData<RequestMeta>,
) -> Result<HttpResponse, ApiError> {
    meta.require_2_14("get binding")?;
    let body = state.broker.fetch_binding(&instance_id, &binding_id).await;
    state.ok_json(&meta, body)
}

/// `GET .../service_bindings/{binding_id}/last_operation`: bindings are synchronous, so an
/// existing binding's last operation has succeeded.
pub async fn last_operation(
    state: web::Data<AppState>, BindingPath(instance_id, binding_id): BindingPath,
    meta: web::ReqData<RequestMeta>,
) -> Result<HttpResponse, ApiError> {
    meta.require_2_14("get binding")?;
    state.broker.binding_exists(&instance_id, &binding_id).await.map_err(state.answer(&meta))?;
    Ok(HttpResponse::Ok().json(json!({"state": "succeeded", "description": "binding created"})))
}

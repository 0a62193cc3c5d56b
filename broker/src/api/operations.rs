//! Starting instance operations, shared by the OSB handlers (`instances`) and the management
//! API (`mgmt`): record the operation in the store, run its first stage, and undo the record
//! when that stage fails, so a failed request leaves no state behind.

use super::error::ApiError;
use super::middleware::RequestMeta;
use super::support::{engine_error, store_error};
use super::AppState;
use crate::engine::OperationRequest;
use crate::store::{
    now_rfc3339, InstanceRecord, InstanceState, OperationKind, OperationRecord, OperationState,
    Stage, StoreError,
};
use actix_web::HttpResponse;
use serde_json::{json, Map, Value};
use tokio::sync::OwnedMutexGuard;

/// The `202 Accepted` answer of an asynchronous operation: its id, and the dashboard URL and
/// labels when there are any.
pub fn accepted(op: &OperationRecord, dashboard_url: Option<&str>, labels: &Value) -> HttpResponse {
    let mut body = Map::new();
    body.insert("operation".into(), json!(op.id));
    if let Some(url) = dashboard_url {
        body.insert("dashboard_url".into(), json!(url));
    }
    if labels.as_object().is_some_and(|l| !l.is_empty()) {
        body.insert("metadata".into(), json!({ "labels": labels }));
    }
    HttpResponse::Accepted().json(Value::Object(body))
}

/// A new operation record in its first stage, with a fresh id.
pub fn new_operation(
    instance_id: &str,
    kind: OperationKind,
    request: &OperationRequest,
) -> OperationRecord {
    let now = now_rfc3339();
    OperationRecord {
        id: uuid::Uuid::new_v4().to_string(),
        instance_id: instance_id.to_string(),
        kind,
        state: OperationState::InProgress,
        stage: Stage::Pending,
        task_id: None,
        errand_index: 0,
        request: serde_json::to_value(request).unwrap_or(Value::Null),
        description: String::new(),
        error: String::new(),
        created_at: now.clone(),
        updated_at: now,
    }
}

/// The instance with this id (deleted tombstones included).
pub async fn load_instance(
    state: &AppState,
    meta: &RequestMeta,
    id: &str,
    op: &str,
) -> Result<Option<InstanceRecord>, ApiError> {
    let store = state.engine.store.clone();
    let id_owned = id.to_string();
    store
        .run(move |s| s.instance(&id_owned))
        .await
        .map_err(|e| store_error(state, meta, id, op, &e))
}

/// The newest operation of an instance.
pub async fn latest_operation(
    state: &AppState,
    meta: &RequestMeta,
    id: &str,
) -> Result<Option<OperationRecord>, ApiError> {
    let store = state.engine.store.clone();
    let id_owned = id.to_string();
    store
        .run(move |s| s.latest_operation(&id_owned))
        .await
        .map_err(|e| store_error(state, meta, id, "last_operation", &e))
}

/// Records an operation on an existing instance and runs its first stage; on failure the
/// record is removed again, so a failed request leaves no state behind. Returns the
/// operation as it stands after its first stage and the instance as stored then.
///
/// Another operation in flight on the instance is a 422 `ConcurrencyError`.
pub async fn begin_operation(
    state: &AppState,
    meta: &RequestMeta,
    instance: InstanceRecord,
    kind: OperationKind,
    request: OperationRequest,
    action: &str,
    quota_guard: Option<OwnedMutexGuard<()>>,
) -> Result<(OperationRecord, InstanceRecord), ApiError> {
    let op = new_operation(&instance.id, kind, &request);
    let engine = state.engine.clone();
    let _guard = engine.lock(&op.id).await;
    let new_state = if kind == OperationKind::Delete {
        InstanceState::Deprovisioning
    } else {
        InstanceState::Updating
    };
    let o = op.clone();
    // A binding younger than the adapter's timeout may still be in create-binding; older
    // pending rows are what a stopped broker left behind and do not block a delete.
    let grace = state.config.adapter.timeout + std::time::Duration::from_secs(30);
    match engine
        .store
        .run(move |s| s.begin_operation_with_grace(&o, new_state, grace))
        .await
    {
        Ok(()) => {}
        Err(StoreError::InFlight(_)) => {
            return Err(ApiError::concurrency(format!(
                "another operation is in progress for service instance {}: try again when it has finished",
                instance.id
            )))
        }
        Err(StoreError::BindingInProgress { binding, .. }) => {
            return Err(ApiError::concurrency(format!(
                "binding {binding} of service instance {} is being created: delete the instance when it has finished",
                instance.id
            )))
        }
        Err(e) => return Err(store_error(state, meta, &instance.id, kind.as_str(), &e)),
    }
    // Recorded: the quotas now count this operation, so other requests may check theirs.
    drop(quota_guard);
    tracing::info!(request_id = %meta.request_id, instance = %instance.id, operation = %op.id, kind = %kind, "operation recorded");
    match engine.advance_locked(&op.id).await {
        Ok(current) => {
            let stored = load_instance(state, meta, &instance.id, kind.as_str())
                .await?
                .unwrap_or(instance);
            Ok((current.unwrap_or(op), stored))
        }
        Err(err) => {
            let (op_id, iid, restore) = (op.id.clone(), instance.id.clone(), instance.state);
            if let Err(e) = engine
                .store
                .run(move |s| s.abandon_operation(&op_id, &iid, restore))
                .await
            {
                tracing::error!(instance = %instance.id, error = %e, "could not remove the failed operation's record");
            }
            Err(engine_error(
                state,
                meta,
                &instance.id,
                action,
                kind.as_str(),
                &err,
            ))
        }
    }
}

/// [`begin_operation`], answered as OSB does: `202` with the operation id (and, except for a
/// delete, the dashboard URL and labels).
pub async fn start_operation(
    state: &AppState,
    meta: &RequestMeta,
    instance: InstanceRecord,
    kind: OperationKind,
    request: OperationRequest,
    action: &str,
    quota_guard: Option<OwnedMutexGuard<()>>,
) -> Result<HttpResponse, ApiError> {
    let (op, stored) =
        begin_operation(state, meta, instance, kind, request, action, quota_guard).await?;
    if kind == OperationKind::Delete {
        return Ok(accepted(&op, None, &Value::Null));
    }
    Ok(accepted(
        &op,
        stored.dashboard_url.as_deref(),
        &stored.labels,
    ))
}

/// 422 when one more instance of `plan_id` would exceed a quota, counting the live instances
/// in the store; `moving_from` is the plan an updated instance leaves (it does not count
/// twice). Callers hold the engine's quota lock until the operation is recorded.
pub async fn check_quotas(
    state: &AppState,
    meta: &RequestMeta,
    instance_id: &str,
    plan_id: &str,
    moving_from: Option<&str>,
) -> Result<(), ApiError> {
    let instances = state
        .engine
        .store
        .run(|s| s.live_instances())
        .await
        .map_err(|e| store_error(state, meta, instance_id, "quota check", &e))?;
    let in_flight = state
        .engine
        .store
        .run(|s| s.in_flight_operations())
        .await
        .map_err(|e| store_error(state, meta, instance_id, "quota check", &e))?;
    let mut counts = crate::quotas::PlanCounts::of(&instances);
    // An instance in the middle of a plan change counts against both plans until it is done:
    // it may end on either.
    for op in &in_flight {
        let target = OperationRequest::of(op).plan_id;
        let moving = instances
            .iter()
            .any(|i| i.id == op.instance_id && !target.is_empty() && i.plan_id != target);
        if moving {
            counts.add_one(&target);
        }
    }
    if let Some(old) = moving_from {
        counts.remove_one(old);
    }
    crate::quotas::check(&state.config, &counts, plan_id).map_err(|e| {
        tracing::info!(request_id = %meta.request_id, instance = instance_id, plan = plan_id, "quota exceeded: {e}");
        ApiError::unprocessable(format!(
            "{e}: delete instances or ask the operator to raise the quota"
        ))
    })
}

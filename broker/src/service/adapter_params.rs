//! The request parameters the broker hands the adapter (`request_params` of
//! generate-manifest, create-binding and delete-binding), built from the parsed OSB request.
//!
//! The operator's adapter kit (`adapter check`, `adapter call`) builds its envelopes with the
//! same functions, so what it tries an adapter with is what the broker sends it.

use super::{BindRequest, ProvisionRequest, UpdateRequest};
use crate::ids::{PlanId, ServiceId};
use crate::store::InstanceRecord;
use serde_json::{json, Map, Value};

/// The instance as an update's `previous_values` describe it.
#[derive(Debug, Clone, Copy)]
pub struct Previous<'a> {
    /// The service id it was provisioned with.
    pub service_id: &'a ServiceId,
    /// The plan it is on before the update.
    pub plan_id: &'a PlanId,
    /// Its organization (`previous_values.organization_id`).
    pub organization_guid: &'a str,
    /// Its space (`previous_values.space_id`).
    pub space_guid: &'a str,
}

impl<'a> From<&'a InstanceRecord> for Previous<'a> {
    fn from(instance: &'a InstanceRecord) -> Self {
        Self {
            service_id: &instance.service_id,
            plan_id: &instance.plan_id,
            organization_guid: &instance.organization_guid,
            space_guid: &instance.space_guid,
        }
    }
}

/// Inserts `value` under `key` when there is one.
fn insert_some(params: &mut Map<String, Value>, key: &str, value: Option<&Value>) {
    if let Some(value) = value {
        params.insert(key.into(), value.clone());
    }
}

/// A provision: `service_id`, `plan_id`, `organization_guid`, `space_guid`, `context` and
/// `maintenance_info` when sent, `parameters` (always an object).
pub fn provision(r: &ProvisionRequest) -> Value {
    to_object(r)
}

/// An update to `new_plan` with the `parameters` in effect: `service_id`, `plan_id`,
/// `parameters`, `previous_values`, and `context` and `maintenance_info` when sent. (An
/// upgrade hands only `{"context": ...}`.)
pub fn update(
    r: &UpdateRequest, previous: Previous<'_>, new_plan: &PlanId, parameters: &Value,
) -> Value {
    let mut params = Map::new();
    params.insert("service_id".into(), json!(r.service_id));
    params.insert("plan_id".into(), json!(new_plan));
    params.insert("parameters".into(), parameters.clone());
    let mut before = Map::new();
    before.insert("plan_id".into(), json!(previous.plan_id));
    before.insert("service_id".into(), json!(previous.service_id));
    before.insert("organization_id".into(), json!(previous.organization_guid));
    before.insert("space_id".into(), json!(previous.space_guid));
    // A `null` inside the platform's document counts as not sent.
    insert_some(&mut before, "maintenance_info", r.previous_maintenance_info());
    params.insert("previous_values".into(), Value::Object(before));
    insert_some(&mut params, "context", r.context.as_ref());
    insert_some(&mut params, "maintenance_info", r.maintenance_info.as_ref());
    Value::Object(params)
}

/// A bind: `app_guid` when sent, `plan_id`, `service_id`, `bind_resource` and `context` when
/// sent, `parameters`.
pub fn bind(r: &BindRequest) -> Value {
    to_object(r)
}

/// A request as a JSON object of its fields.
fn to_object(request: &impl serde::Serialize) -> Value {
    // Ids, strings and JSON documents only: nothing that could fail to serialise.
    serde_json::to_value(request).unwrap_or_else(|_| Value::Object(Map::new()))
}

/// An unbind: exactly `{"plan_id", "service_id"}`.
pub fn unbind(service_id: &ServiceId, plan_id: &PlanId) -> Value {
    json!({"plan_id": plan_id, "service_id": service_id})
}

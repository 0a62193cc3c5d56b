//! Request bodies as a Cloud Foundry platform sends them, and unique ids for instances and
//! bindings.

use serde_json::{json, Value};
use std::sync::atomic::{AtomicU64, Ordering};

/// The organization GUID the body builders use.
pub const ORGANIZATION_GUID: &str = "org-guid-1";
/// The space GUID the body builders use.
pub const SPACE_GUID: &str = "space-guid-1";

/// A Cloud Foundry platform context object.
pub fn context() -> Value {
    json!({
        "platform": "cloudfoundry",
        "organization_guid": ORGANIZATION_GUID,
        "space_guid": SPACE_GUID,
        "organization_name": "test-org",
        "space_name": "test-space",
        "instance_name": "test-instance",
    })
}

/// Puts `parameters` into `body` unless it is `Value::Null`.
fn with_parameters(mut body: Value, parameters: Value) -> Value {
    if !parameters.is_null() {
        body["parameters"] = parameters;
    }
    body
}

/// A provision body: service and plan ids, organization and space GUIDs, context, and
/// `parameters` (left out when `Value::Null`).
pub fn provision_body(service_id: &str, plan_id: &str, parameters: Value) -> Value {
    with_parameters(
        json!({
            "service_id": service_id,
            "plan_id": plan_id,
            "organization_guid": ORGANIZATION_GUID,
            "space_guid": SPACE_GUID,
            "context": context(),
        }),
        parameters,
    )
}

/// An update body: service and plan ids, context, `previous_values` (with `previous_plan_id`
/// when given), and `parameters` (left out when `Value::Null`).
pub fn update_body(
    service_id: &str, plan_id: &str, parameters: Value, previous_plan_id: Option<&str>,
) -> Value {
    let mut previous = json!({
        "service_id": service_id,
        "organization_id": ORGANIZATION_GUID,
        "space_id": SPACE_GUID,
    });
    if let Some(previous_plan_id) = previous_plan_id {
        previous["plan_id"] = json!(previous_plan_id);
    }
    with_parameters(
        json!({
            "service_id": service_id,
            "plan_id": plan_id,
            "context": context(),
            "previous_values": previous,
        }),
        parameters,
    )
}

/// A bind body for an app: service and plan ids, `app_guid`, `bind_resource`, context, and
/// `parameters` (left out when `Value::Null`).
pub fn bind_body(service_id: &str, plan_id: &str, parameters: Value) -> Value {
    with_parameters(
        json!({
            "service_id": service_id,
            "plan_id": plan_id,
            "app_guid": "app-guid-1",
            "bind_resource": {"app_guid": "app-guid-1"},
            "context": context(),
        }),
        parameters,
    )
}

/// A fresh id, unique within the test process and across runs, that starts with `prefix`
/// (for example `unique_id("instance")` gives `instance-1f2e…-3`).
pub fn unique_id(prefix: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let count = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    format!("{prefix}-{:x}{:x}-{count}", std::process::id(), nanos)
}

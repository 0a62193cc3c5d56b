//! What an operation was asked to do (`operations.request`), stored with the operation so
//! that a restarted broker can run it again.
//!
//! It lives with the store's records, not in the engine: its JSON is a stored format that
//! every later broker must read back, so it is decoded once, where the row is read, and a
//! request that does not decode is an error naming the column instead of an empty request
//! the engine would act on. The fields that are documents the broker passes on without
//! looking inside (parameters, context, the adapter's request parameters) stay JSON, with
//! `None` for "not sent"; the stored text writes `None` as `null`, as it always has.

use super::MaintenanceInfo;
use crate::ids::PlanId;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// What an operation was asked to do; stored with it so that it can be re-run after a crash.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct OperationRequest {
    /// The plan to deploy; `None` (stored as `""`, as earlier brokers wrote it for some
    /// deletes): the instance's plan.
    #[serde(with = "empty_as_none")]
    pub plan_id: Option<PlanId>,
    /// The plan before this operation (update, upgrade); `None`: the instance's plan.
    #[serde(default)]
    pub previous_plan_id: Option<PlanId>,
    /// Arbitrary parameters of the request (a JSON object), when it has any.
    #[serde(default)]
    pub parameters: Option<Value>,
    /// The platform context sent with the request.
    #[serde(default)]
    pub context: Option<Value>,
    /// The maintenance info the instance moves to.
    #[serde(default)]
    pub maintenance_info: Option<MaintenanceInfo>,
    /// The request-parameters map handed to the adapter (none for a delete).
    #[serde(default)]
    pub request_params: Option<Value>,
    /// Whether a delete is forced.
    #[serde(default)]
    pub force: bool,
    /// What makes a re-sent request identical: service id, plan id, parameters.
    #[serde(default)]
    pub fingerprint: Option<Value>,
}

impl OperationRequest {
    /// A request for `plan_id` with nothing else: no parameters, context, maintenance info
    /// or adapter parameters, not forced.
    pub fn new(plan_id: PlanId) -> Self {
        Self {
            plan_id: Some(plan_id),
            previous_plan_id: None,
            parameters: None,
            context: None,
            maintenance_info: None,
            request_params: None,
            force: false,
            fingerprint: None,
        }
    }
}

/// A plan id stored as text, `""` for none; a stored id that breaks the catalog id rule does
/// not decode (the row is an error naming its column).
mod empty_as_none {
    use crate::ids::PlanId;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(id: &Option<PlanId>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(id.as_ref().map_or("", |id| id.as_str()))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<PlanId>, D::Error> {
        let text = String::deserialize(d)?;
        if text.is_empty() {
            return Ok(None);
        }
        PlanId::parse(&text)
            .map(Some)
            .map_err(|e| serde::de::Error::custom(format!("plan_id '{}' {e}", text.escape_debug())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_stored_plan_id_is_the_instances_plan_and_is_written_back_as_it_was() {
        let request: OperationRequest = serde_json::from_str(r#"{"plan_id": ""}"#).unwrap();
        assert_eq!(request.plan_id, None);
        let text = serde_json::to_value(&request).unwrap();
        assert_eq!(text["plan_id"], "");
        let request = OperationRequest::new(crate::ids::parsed("p1"));
        assert_eq!(serde_json::to_value(&request).unwrap()["plan_id"], "p1");
    }

    #[test]
    fn a_stored_plan_id_that_breaks_the_catalog_id_rule_does_not_decode() {
        let long = format!(r#"{{"plan_id": "{}"}}"#, "p".repeat(256));
        for bad in [r#"{"plan_id": "a\u0007b"}"#, long.as_str()] {
            let err = serde_json::from_str::<OperationRequest>(bad).unwrap_err();
            assert!(err.to_string().contains("plan_id"), "{bad}: {err}");
        }
    }
}

//! What an operation was asked to do, stored with the operation so that a restarted broker
//! can run it again.

use crate::store::OperationRecord;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// What an operation was asked to do; stored with it so that it can be re-run after a crash.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct OperationRequest {
    /// The plan to deploy (the instance's plan for delete).
    pub plan_id: String,
    /// The plan before this operation (update, upgrade).
    pub previous_plan_id: Option<String>,
    /// Arbitrary parameters of the request (a JSON object).
    pub parameters: Value,
    /// The platform context sent with the request.
    pub context: Value,
    /// The maintenance info the instance moves to (`null` when none).
    pub maintenance_info: Value,
    /// The request-parameters map handed to the adapter.
    pub request_params: Value,
    /// Whether a delete is forced.
    pub force: bool,
    /// What makes a re-sent request identical: service id, plan id, parameters.
    pub fingerprint: Value,
}

impl OperationRequest {
    /// Reads the request stored with an operation.
    pub fn of(op: &OperationRecord) -> Self {
        serde_json::from_value(op.request.clone()).unwrap_or_default()
    }
}

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
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// What an operation was asked to do; stored with it so that it can be re-run after a crash.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct OperationRequest {
    /// The plan to deploy (the instance's plan for delete).
    pub plan_id: String,
    /// The plan before this operation (update, upgrade).
    #[serde(default)]
    pub previous_plan_id: Option<String>,
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
    pub fn new(plan_id: impl Into<String>) -> Self {
        Self {
            plan_id: plan_id.into(),
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

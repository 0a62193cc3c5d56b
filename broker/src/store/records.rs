//! Row types of the store, decoded from their columns once (see `columns`).

use super::columns::{record_columns, string_enum};
use super::{OperationRequest, Timestamp};
use crate::ids::{BindingId, InstanceId, OperationId, PlanId, ServiceId};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

string_enum!(
    /// Where an instance is in its life.
    InstanceState, "instance state" {
        /// Its create operation is running.
        Provisioning = "provisioning",
        /// Deployed; no operation running.
        Ready = "ready",
        /// Its create failed; it can be deleted or updated.
        Failed = "failed",
        /// An update, upgrade or recreate is running.
        Updating = "updating",
        /// Its delete is running.
        Deprovisioning = "deprovisioning",
        /// Deleted; kept as a tombstone so the delete's last operation can still be answered.
        Deleted = "deleted",
    }
);

string_enum!(
    /// What an operation does.
    OperationKind, "operation kind" {
        /// Provision.
        Create = "create",
        /// Update (plan change or parameters).
        Update = "update",
        /// Upgrade to the catalog's current releases and maintenance info.
        Upgrade = "upgrade",
        /// Recreate every VM.
        Recreate = "recreate",
        /// Deprovision.
        Delete = "delete",
    }
);

string_enum!(
    /// The OSB state of an operation.
    OperationState, "operation state" {
        /// Still running.
        InProgress = "in progress",
        /// Finished successfully.
        Succeeded = "succeeded",
        /// Finished with an error.
        Failed = "failed",
    }
);

string_enum!(
    /// How far an operation has got; each stage is re-entrant, so recovery re-runs it.
    Stage, "operation stage" {
        /// Recorded, nothing submitted to the director yet.
        Pending = "pending",
        /// A deploy task has been submitted.
        Deploying = "deploying",
        /// Running the lifecycle errand at `errand_index`.
        Errand = "errand",
        /// A delete task has been submitted.
        Deleting = "deleting",
        /// Terminal.
        Done = "done",
    }
);

/// The maintenance info an instance is at, or that an operation moves it to: the version of
/// its plan's `maintenance_info` (stored as `{"version": "..."}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MaintenanceInfo {
    /// The version; never empty.
    pub version: String,
}

/// One service instance.
#[derive(Debug, Clone, PartialEq)]
pub struct InstanceRecord {
    /// The OSB instance id.
    pub id: InstanceId,
    /// The catalog service id.
    pub service_id: ServiceId,
    /// The current plan id.
    pub plan_id: PlanId,
    /// The organization the platform provisioned it in.
    pub organization_guid: String,
    /// The space the platform provisioned it in.
    pub space_guid: String,
    /// The platform context object, when the platform sent one.
    pub context: Option<Value>,
    /// The arbitrary parameters in effect (JSON object).
    pub parameters: Value,
    /// The maintenance info the instance is at, when its plan has one.
    pub maintenance_info: Option<MaintenanceInfo>,
    /// The dashboard URL, if the adapter gave one.
    pub dashboard_url: Option<String>,
    /// Labels from generate-manifest, when it gave any.
    pub labels: Option<BTreeMap<String, String>>,
    /// BOSH configs (type → content) from the last generate-manifest; `None` before the
    /// first deploy.
    pub configs: Option<BTreeMap<String, String>>,
    /// Life-cycle state.
    pub state: InstanceState,
    /// The BOSH deployment name.
    pub deployment_name: String,
    /// When it was created.
    pub created_at: Timestamp,
    /// When it was last changed.
    pub updated_at: Timestamp,
}

record_columns!(InstanceRecord in "instances" => INSTANCE_COLUMNS {
    id, service_id, plan_id, organization_guid, space_guid, context: Json,
    parameters: Sealed(open_instance_parameters),
    maintenance_info: Json, dashboard_url, labels: Json, configs: Json, state, deployment_name,
    created_at, updated_at,
});

/// One asynchronous instance operation.
#[derive(Debug, Clone, PartialEq)]
pub struct OperationRecord {
    /// The operation id, returned to the platform as `operation`.
    pub id: OperationId,
    /// The instance it acts on.
    pub instance_id: InstanceId,
    /// What it does.
    pub kind: OperationKind,
    /// Its OSB state.
    pub state: OperationState,
    /// How far it has got.
    pub stage: Stage,
    /// The director task being waited on.
    pub task_id: Option<i64>,
    /// Index of the lifecycle errand being run, in [`Stage::Errand`].
    pub errand_index: i64,
    /// Everything needed to (re-)run the operation: plan, parameters, context.
    pub request: OperationRequest,
    /// User-facing description of the outcome.
    pub description: String,
    /// Operator-facing detail of a failure.
    pub error: String,
    /// When it started.
    pub created_at: Timestamp,
    /// When it last changed.
    pub updated_at: Timestamp,
    /// The fencing epoch of the operation's lease when this record was read (0: never
    /// leased). Saving the record succeeds only while that is still the operation's epoch:
    /// once another replica has taken the operation over, nothing read before can be written
    /// back (see `Store::take_lease`).
    pub lease_epoch: i64,
}

record_columns!(OperationRecord in "operations" => OPERATION_COLUMNS {
    id, instance_id, kind, state, stage, task_id, errand_index,
    request: Sealed(open_operation_request), description,
    error, created_at, updated_at, lease_epoch,
});

/// One service binding.
#[derive(Debug, Clone, PartialEq)]
pub struct BindingRecord {
    /// The instance it belongs to.
    pub instance_id: InstanceId,
    /// The OSB binding id.
    pub id: BindingId,
    /// The service id of the bind request.
    pub service_id: ServiceId,
    /// The plan id of the bind request.
    pub plan_id: PlanId,
    /// The parts of the bind request that decide whether a re-bind is identical (JSON).
    pub request: Value,
    /// The bind response body: credentials and URLs (JSON); `None` while create-binding
    /// runs.
    pub response: Option<Value>,
    /// When it was created.
    pub created_at: Timestamp,
}

impl BindingRecord {
    /// True while create-binding has not answered: the binding was recorded before the
    /// adapter ran, and the broker stopped before it could store the answer.
    pub fn is_pending(&self) -> bool {
        self.response.is_none()
    }
}

record_columns!(BindingRecord in "bindings" => BINDING_COLUMNS {
    instance_id, id, service_id, plan_id, request: Sealed(open_binding_request),
    response: Sealed(open_binding_response), created_at,
});

//! Row types of the store and their mapping to and from SQLite columns.

use super::{StoreError, StoreResult};
use serde_json::Value;

fn json_column(
    row: &rusqlite::Row<'_>,
    idx: usize,
    column: &'static str,
) -> rusqlite::Result<StoreResult<Value>> {
    let text: String = row.get(idx)?;
    Ok(super::json::decode(column, &text))
}

macro_rules! string_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum $name { $($(#[$vmeta])* $variant),+ }
        impl $name {
            /// The text stored in the database.
            pub fn as_str(self) -> &'static str {
                match self { $(Self::$variant => $text),+ }
            }
            /// Parses the stored text.
            pub fn parse(s: &str) -> Option<Self> {
                match s { $($text => Some(Self::$variant),)+ _ => None }
            }
        }
        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

string_enum!(
    /// Where an instance is in its life.
    InstanceState {
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
    OperationKind {
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
    OperationState {
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
    Stage {
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

pub(super) const INSTANCE_COLUMNS: &str = "id, service_id, plan_id, organization_guid, space_guid, context, parameters, maintenance_info, dashboard_url, labels, state, deployment_name, created_at, updated_at, configs";

/// One service instance.
#[derive(Debug, Clone, PartialEq)]
pub struct InstanceRecord {
    /// The OSB instance id.
    pub id: String,
    /// The catalog service id.
    pub service_id: String,
    /// The current plan id.
    pub plan_id: String,
    /// The organization the platform provisioned it in.
    pub organization_guid: String,
    /// The space the platform provisioned it in.
    pub space_guid: String,
    /// The platform context object (JSON `null` when none).
    pub context: Value,
    /// The arbitrary parameters in effect (JSON object).
    pub parameters: Value,
    /// The maintenance info the instance is at (JSON `null` when none).
    pub maintenance_info: Value,
    /// The dashboard URL, if the adapter gave one.
    pub dashboard_url: Option<String>,
    /// Labels from generate-manifest (JSON object or `null`).
    pub labels: Value,
    /// BOSH configs from the last generate-manifest (JSON object or `null`).
    pub configs: Value,
    /// Life-cycle state.
    pub state: InstanceState,
    /// The BOSH deployment name.
    pub deployment_name: String,
    /// When it was created.
    pub created_at: String,
    /// When it was last changed.
    pub updated_at: String,
}

impl InstanceRecord {
    pub(super) fn from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<StoreResult<Self>> {
        let state: String = row.get(10)?;
        let Some(state) = InstanceState::parse(&state) else {
            return Ok(Err(StoreError::Task(format!(
                "unknown instance state '{state}'"
            ))));
        };
        let context = json_column(row, 5, "instances.context")?;
        let parameters = json_column(row, 6, "instances.parameters")?;
        let mi = json_column(row, 7, "instances.maintenance_info")?;
        let labels = json_column(row, 9, "instances.labels")?;
        let configs = json_column(row, 14, "instances.configs")?;
        let build = || -> StoreResult<Self> {
            Ok(Self {
                id: row.get(0)?,
                service_id: row.get(1)?,
                plan_id: row.get(2)?,
                organization_guid: row.get(3)?,
                space_guid: row.get(4)?,
                context: context?,
                parameters: parameters?,
                maintenance_info: mi?,
                dashboard_url: row.get(8)?,
                labels: labels?,
                configs: configs?,
                state,
                deployment_name: row.get(11)?,
                created_at: row.get(12)?,
                updated_at: row.get(13)?,
            })
        };
        Ok(build())
    }
}

pub(super) const OPERATION_COLUMNS: &str =
    "id, instance_id, kind, state, stage, task_id, errand_index, request, description, error, created_at, updated_at";

/// One asynchronous instance operation.
#[derive(Debug, Clone, PartialEq)]
pub struct OperationRecord {
    /// The operation id, returned to the platform as `operation`.
    pub id: String,
    /// The instance it acts on.
    pub instance_id: String,
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
    /// Everything needed to (re-)run the operation: plan, parameters, context (JSON).
    pub request: Value,
    /// User-facing description of the outcome.
    pub description: String,
    /// Operator-facing detail of a failure.
    pub error: String,
    /// When it started.
    pub created_at: String,
    /// When it last changed.
    pub updated_at: String,
}

impl OperationRecord {
    pub(super) fn from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<StoreResult<Self>> {
        let kind: String = row.get(2)?;
        let state: String = row.get(3)?;
        let stage: String = row.get(4)?;
        let (Some(kind), Some(state), Some(stage)) = (
            OperationKind::parse(&kind),
            OperationState::parse(&state),
            Stage::parse(&stage),
        ) else {
            return Ok(Err(StoreError::Task(format!(
                "unknown operation kind/state/stage '{kind}'/'{state}'/'{stage}'"
            ))));
        };
        let request = json_column(row, 7, "operations.request")?;
        let build = || -> StoreResult<Self> {
            Ok(Self {
                id: row.get(0)?,
                instance_id: row.get(1)?,
                kind,
                state,
                stage,
                task_id: row.get(5)?,
                errand_index: row.get(6)?,
                request: request?,
                description: row.get(8)?,
                error: row.get(9)?,
                created_at: row.get(10)?,
                updated_at: row.get(11)?,
            })
        };
        Ok(build())
    }
}

pub(super) const BINDING_COLUMNS: &str =
    "instance_id, id, service_id, plan_id, request, response, created_at";

/// One service binding.
#[derive(Debug, Clone, PartialEq)]
pub struct BindingRecord {
    /// The instance it belongs to.
    pub instance_id: String,
    /// The OSB binding id.
    pub id: String,
    /// The service id of the bind request.
    pub service_id: String,
    /// The plan id of the bind request.
    pub plan_id: String,
    /// The parts of the bind request that decide whether a re-bind is identical (JSON).
    pub request: Value,
    /// The bind response body: credentials and URLs (JSON); `null` while create-binding runs.
    pub response: Value,
    /// When it was created.
    pub created_at: String,
}

impl BindingRecord {
    /// True while create-binding has not answered: the binding was recorded before the
    /// adapter ran, and the broker stopped before it could store the answer.
    pub fn is_pending(&self) -> bool {
        self.response.is_null()
    }

    pub(super) fn from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<StoreResult<Self>> {
        let request = json_column(row, 4, "bindings.request")?;
        let response = json_column(row, 5, "bindings.response")?;
        let build = || -> StoreResult<Self> {
            Ok(Self {
                instance_id: row.get(0)?,
                id: row.get(1)?,
                service_id: row.get(2)?,
                plan_id: row.get(3)?,
                request: request?,
                response: response?,
                created_at: row.get(6)?,
            })
        };
        Ok(build())
    }
}

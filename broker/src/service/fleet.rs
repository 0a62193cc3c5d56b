//! The fleet as the operator console shows it: every live instance with its plan name, state,
//! last operation and whether an upgrade is pending, failed and in-flight instances first;
//! and one instance with its bindings and history.

use super::{Broker, HistoryEntry, ListedBinding, ServiceError, ServiceResult};
use crate::ids::{InstanceId, PlanId};
use crate::store::{InstanceRecord, InstanceState, OperationRecord, OperationState};

/// One instance of the fleet.
#[derive(Debug, Clone, PartialEq)]
pub struct FleetRow {
    /// Its id.
    pub id: InstanceId,
    /// Its plan id.
    pub plan_id: PlanId,
    /// Its plan's name (the id when the plan left the catalog).
    pub plan_name: String,
    /// Where it is in its life.
    pub state: InstanceState,
    /// Its newest operation: (kind, state).
    pub last_operation: Option<(&'static str, OperationState)>,
    /// Whether the plan is at a maintenance version the instance is not at.
    pub upgrade_pending: bool,
}

impl FleetRow {
    /// Failed and in-flight instances come first.
    fn needs_attention(&self) -> bool {
        matches!(self.state, InstanceState::Failed)
            || self.last_operation.is_some_and(|(_, s)| s != OperationState::Succeeded)
            || matches!(
                self.state,
                InstanceState::Provisioning
                    | InstanceState::Updating
                    | InstanceState::Deprovisioning
            )
    }
}

/// One instance with what the console shows of it.
#[derive(Debug, Clone, PartialEq)]
pub struct InstanceDetail {
    /// The fleet row.
    pub row: FleetRow,
    /// Its bindings (ids only).
    pub bindings: Vec<ListedBinding>,
    /// Its operations, binds and unbinds, newest first, with their steps.
    pub history: Vec<HistoryEntry>,
}

impl Broker {
    fn fleet_row(&self, instance: InstanceRecord, op: Option<OperationRecord>) -> FleetRow {
        let target = self
            .config
            .plan(&instance.plan_id)
            .and_then(|p| crate::catalog::plan_maintenance_version(&self.config, p));
        let at = instance.maintenance_info.map(|m| m.version);
        FleetRow {
            plan_name: self.config.plan_name(&instance.plan_id),
            upgrade_pending: target.is_some() && at.is_some() && target != at,
            id: instance.id,
            plan_id: instance.plan_id,
            state: instance.state,
            last_operation: op.map(|op| (op.kind.as_str(), op.state)),
        }
    }

    /// Every live instance, failed and in-flight first, then by id.
    pub async fn fleet(&self) -> ServiceResult<Vec<FleetRow>> {
        let listed =
            self.stored("-", "console", |s| s.live_instances_with_latest_operation()).await?;
        let mut rows: Vec<FleetRow> =
            listed.into_iter().map(|(i, op)| self.fleet_row(i, op)).collect();
        rows.sort_by(|a, b| {
            b.needs_attention().cmp(&a.needs_attention()).then_with(|| a.id.cmp(&b.id))
        });
        Ok(rows)
    }

    /// One instance (deleted ones too, while their history lasts) for the console.
    pub async fn instance_detail(&self, id: &InstanceId) -> ServiceResult<InstanceDetail> {
        let owned = id.clone();
        let found = self
            .stored(id, "console", move |s| Ok((s.instance(&owned)?, s.latest_operation(&owned)?)))
            .await?;
        let (Some(instance), op) = found else {
            return Err(ServiceError::NotFound(format!("service instance {id} does not exist")));
        };
        let row = self.fleet_row(instance, op);
        let bindings = if row.state == InstanceState::Deleted {
            Vec::new()
        } else {
            self.list_bindings(id).await?
        };
        let history = match self.history(id).await {
            Ok(h) => h,
            Err(ServiceError::NotFound(_)) => Vec::new(),
            Err(e) => return Err(e),
        };
        Ok(InstanceDetail { row, bindings, history })
    }
}

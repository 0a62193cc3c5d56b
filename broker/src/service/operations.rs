//! Starting instance operations, shared by the OSB use cases and the management ones: record
//! the operation in the store, run its first stage, and undo the record when that stage
//! fails, so a failed request leaves no state behind. Also the quota check that guards them.

use super::{Broker, Caller, ServiceError, ServiceResult};
use crate::ids::{InstanceId, OperationId, PlanId};
use crate::store::{
    InstanceRecord, InstanceState, OperationKind, OperationRecord, OperationRequest,
    OperationState, Stage, StoreError, Timestamp,
};
use std::collections::BTreeMap;
use tokio::sync::OwnedMutexGuard;

/// The quota check of a request that adds an instance to a plan: the in-process lock that
/// orders this broker's requests, and the rule the store checks again when it records the
/// operation (which orders every replica's).
pub(super) struct QuotaHold {
    /// Held until the operation is recorded.
    pub guard: OwnedMutexGuard<()>,
    /// Checked in the recording transaction.
    pub admission: crate::store::Admission,
}

/// The engine lock key that serialises quota checks with the records they count.
pub(super) const QUOTA_LOCK: &str = "quotas";

/// An asynchronous operation the broker accepted: its id, and the instance's dashboard URL
/// and labels when there are any.
#[derive(Debug, Clone, PartialEq)]
pub struct Accepted {
    /// The operation id platforms poll with.
    pub operation: OperationId,
    /// The instance's dashboard URL.
    pub dashboard_url: Option<String>,
    /// The instance's labels, when it has any.
    pub labels: Option<BTreeMap<String, String>>,
}

impl Accepted {
    /// The answer for `op` on `instance`.
    pub(super) fn of(op: &OperationRecord, instance: Option<&InstanceRecord>) -> Self {
        Self {
            operation: op.id.clone(),
            dashboard_url: instance.and_then(|i| i.dashboard_url.clone()),
            labels: instance.and_then(|i| i.labels.clone()),
        }
    }
}

/// A new operation record in its first stage, with a fresh id.
pub(super) fn new_operation(
    instance_id: &InstanceId, kind: OperationKind, request: OperationRequest,
) -> OperationRecord {
    let now = Timestamp::now();
    OperationRecord {
        id: OperationId::new_random(),
        instance_id: instance_id.clone(),
        kind,
        state: OperationState::InProgress,
        stage: Stage::Pending,
        task_id: None,
        errand_index: 0,
        request,
        description: String::new(),
        error: String::new(),
        created_at: now,
        updated_at: now,
        lease_epoch: 0,
    }
}

impl Broker {
    /// Records an operation on an existing instance and runs its first stage; on failure the
    /// record is removed again, so a failed request leaves no state behind. Returns the
    /// operation as it stands after its first stage and the instance as stored then.
    ///
    /// Another operation in flight on the instance, or a binding being created for a delete,
    /// is a [`ServiceError::Concurrency`].
    pub(super) async fn begin_operation(
        &self, caller: Caller<'_>, instance: InstanceRecord, kind: OperationKind,
        request: OperationRequest, action: &'static str, quota: Option<QuotaHold>,
    ) -> ServiceResult<(OperationRecord, InstanceRecord)> {
        let op = new_operation(&instance.id, kind, request);
        let engine = self.engine.clone();
        let _guard = engine.lock(&op.id).await;
        let new_state = if kind == OperationKind::Delete {
            InstanceState::Deprovisioning
        } else {
            InstanceState::Updating
        };
        let o = op.clone();
        // A binding younger than the adapter's timeout may still be in create-binding; older
        // pending rows are what a stopped broker left behind and do not block a delete.
        let grace = self.config.adapter.timeout + std::time::Duration::from_secs(30);
        let (quota_guard, admission) = match quota {
            Some(hold) => (Some(hold.guard), Some(hold.admission)),
            None => (None, None),
        };
        match engine
            .store()
            .run(move |s| s.begin_operation_admitted(&o, new_state, grace, admission.as_ref()))
            .await
        {
            Ok(()) => {}
            Err(StoreError::Refused(reason)) => return Err(ServiceError::Unprocessable(reason)),
            Err(StoreError::InFlight(_)) => {
                return Err(ServiceError::Concurrency(format!(
                    "another operation is in progress for service instance {}: try again when it has finished",
                    instance.id
                )))
            }
            Err(StoreError::BindingInProgress { binding, .. }) => {
                return Err(ServiceError::Concurrency(format!(
                    "binding {binding} of service instance {} is being created: delete the instance when it has finished",
                    instance.id
                )))
            }
            Err(e) => return Err(ServiceError::store(&instance.id, kind.as_str(), e)),
        }
        // Recorded: the quotas now count this operation, so other requests may check theirs.
        drop(quota_guard);
        tracing::info!(request_id = %caller.request_id, instance = %instance.id, operation = %op.id, kind = %kind, "operation recorded");
        match engine.advance_locked(&op.id).await {
            Ok(current) => {
                let id = instance.id.clone();
                let stored = engine
                    .store()
                    .run(move |s| s.instance(&id))
                    .await
                    .map_err(|e| ServiceError::store(&instance.id, kind.as_str(), e))?
                    .unwrap_or(instance);
                Ok((current.unwrap_or(op), stored))
            }
            // Another replica took the operation over while this one was paused: it goes on
            // there, so its records stay and the platform polls it as accepted.
            Err(err) if err.is_lease_lost() => Ok((op, instance)),
            Err(err) => {
                let (op_id, iid, restore) = (op.id.clone(), instance.id.clone(), instance.state);
                let owner = engine.replica().to_string();
                match engine
                    .store()
                    .run(move |s| s.abandon_operation(&op_id, &iid, restore, &owner))
                    .await
                {
                    Ok(()) => {}
                    // Another replica took it over while this one was paused: it goes on
                    // there.
                    Err(StoreError::LeaseLost { .. }) => return Ok((op, instance)),
                    Err(e) => {
                        tracing::error!(instance = %instance.id, error = %e, "could not remove the failed operation's record")
                    }
                }
                Err(ServiceError::engine(&instance.id, action, kind.as_str(), err))
            }
        }
    }

    /// [`Broker::begin_operation`], answered as OSB does: the operation id and, except for a
    /// delete, the dashboard URL and labels.
    pub(super) async fn start_operation(
        &self, caller: Caller<'_>, instance: InstanceRecord, kind: OperationKind,
        request: OperationRequest, action: &'static str, quota: Option<QuotaHold>,
    ) -> ServiceResult<Accepted> {
        let (op, stored) =
            self.begin_operation(caller, instance, kind, request, action, quota).await?;
        if kind == OperationKind::Delete {
            return Ok(Accepted::of(&op, None));
        }
        Ok(Accepted::of(&op, Some(&stored)))
    }

    /// Checks the quotas for one more instance of `plan_id` (moving from `moving_from`, for
    /// a plan change), as a quick answer before anything is recorded; the same rule runs
    /// again, authoritatively, in the transaction that records the operation
    /// ([`Broker::quota_admission`]).
    pub(super) async fn check_quotas(
        &self, caller: Caller<'_>, instance_id: &str, plan_id: &PlanId,
        moving_from: Option<&PlanId>,
    ) -> ServiceResult<()> {
        let instances = self.stored(instance_id, "quota check", |s| s.live_instances()).await?;
        let in_flight =
            self.stored(instance_id, "quota check", |s| s.in_flight_operations()).await?;
        quota_verdict(&self.config, &instances, &in_flight, plan_id, moving_from).map_err(|e| {
            tracing::info!(request_id = %caller.request_id, instance = instance_id, plan = %plan_id, "quota exceeded: {e}");
            ServiceError::Unprocessable(e)
        })
    }

    /// The quota rule for one more instance of `plan_id`, for the store to check in the
    /// transaction that records the operation, so that replicas on one database cannot
    /// both take the last place.
    pub(super) fn quota_admission(
        &self, plan_id: &PlanId, moving_from: Option<&PlanId>,
    ) -> crate::store::Admission {
        let config = self.config.clone();
        let plan_id = plan_id.clone();
        let moving_from = moving_from.cloned();
        std::sync::Arc::new(move |instances, in_flight| {
            quota_verdict(&config, instances, in_flight, &plan_id, moving_from.as_ref())
        })
    }
}

/// Whether one more instance of `plan_id` (moving from `moving_from`) fits the quotas, given
/// the live instances and in-flight operations; the answer's text when it does not.
fn quota_verdict(
    config: &crate::config::Config, instances: &[InstanceRecord], in_flight: &[OperationRecord],
    plan_id: &PlanId, moving_from: Option<&PlanId>,
) -> Result<(), String> {
    let mut counts = crate::quotas::PlanCounts::of(instances);
    // An instance in the middle of a plan change counts against both plans until it is
    // done: it may end on either.
    for op in in_flight {
        let Some(target) = &op.request.plan_id else {
            continue;
        };
        let moving = instances.iter().any(|i| i.id == op.instance_id && i.plan_id != *target);
        if moving {
            counts.add_one(target);
        }
    }
    if let Some(old) = moving_from {
        counts.remove_one(old);
    }
    crate::quotas::check(config, &counts, plan_id)
        .map_err(|e| format!("{e}: delete instances or ask the operator to raise the quota"))
}

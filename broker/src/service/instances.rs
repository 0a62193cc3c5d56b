//! Instance use cases: provision, update or upgrade, deprovision, fetch, and last operation.

use super::adapter_params;
use super::operations::{new_operation, Accepted, QuotaHold, QUOTA_LOCK};
use super::{maintenance_version, Broker, Caller, ServiceError, ServiceResult};
use crate::engine::in_progress_text;
use crate::ids::{InstanceId, OperationId, PlanId, ServiceId};
use crate::schemas::SchemaKind;
use crate::store::{
    InstanceRecord, InstanceState, MaintenanceInfo, OperationKind, OperationRecord,
    OperationRequest, OperationState, StoreError, Timestamp,
};
use serde::Serialize;
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// A provision request, parsed (its fields in the order of the OSB provision body). As the
/// adapter's `request_params` it serialises to the body's fields as sent.
#[derive(Debug, Clone, Serialize)]
pub struct ProvisionRequest {
    /// The catalog service id.
    pub service_id: ServiceId,
    /// The plan id.
    pub plan_id: PlanId,
    /// The platform context, when sent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub context: Option<Value>,
    /// The platform's organization.
    pub organization_guid: String,
    /// The platform's space.
    pub space_guid: String,
    /// Arbitrary parameters (an object, `{}` when none).
    pub parameters: Value,
    /// The maintenance info the platform asked for, when sent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub maintenance_info: Option<Value>,
    /// Whether the platform accepts an asynchronous answer (a query parameter).
    #[serde(skip)]
    pub accepts_incomplete: bool,
}

/// What a provision did.
#[derive(Debug, Clone, PartialEq)]
pub enum Provisioned {
    /// The provision was accepted (or an identical one is still running): poll its operation.
    Accepted(Accepted),
    /// An identical instance exists already.
    AlreadyExists {
        /// Its dashboard URL.
        dashboard_url: Option<String>,
    },
}

/// An update request, parsed.
#[derive(Debug, Clone)]
pub struct UpdateRequest {
    /// The catalog service id.
    pub service_id: ServiceId,
    /// The new plan id, when the plan changes.
    pub plan_id: Option<PlanId>,
    /// Arbitrary parameters, when sent.
    pub parameters: Option<Value>,
    /// The platform context, when sent.
    pub context: Option<Value>,
    /// `previous_values`, when sent.
    pub previous_values: Option<Value>,
    /// The maintenance info the platform asked for, when sent.
    pub maintenance_info: Option<Value>,
    /// Whether the platform accepts an asynchronous answer.
    pub accepts_incomplete: bool,
}

/// A deprovision request, parsed.
#[derive(Debug, Clone)]
pub struct DeprovisionRequest {
    /// The catalog service id.
    pub service_id: ServiceId,
    /// The plan id the platform believes the instance has.
    pub plan_id: PlanId,
    /// Whether the platform accepts an asynchronous answer.
    pub accepts_incomplete: bool,
    /// Whether failing pre-delete errands may be skipped.
    pub force: bool,
}

/// An instance as `GET` shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct InstanceView {
    /// The catalog service id.
    pub service_id: ServiceId,
    /// The plan id.
    pub plan_id: PlanId,
    /// The dashboard URL.
    pub dashboard_url: Option<String>,
    /// Parameters in effect.
    pub parameters: Value,
    /// The maintenance info, when the instance has one.
    pub maintenance_info: Option<MaintenanceInfo>,
    /// Labels (empty when none).
    pub labels: BTreeMap<String, String>,
}

/// An operation as `last_operation` shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct OperationView {
    /// What it does.
    pub kind: OperationKind,
    /// Where it is.
    pub state: OperationState,
    /// What it says.
    pub description: String,
}

/// What makes two provision requests the same request.
struct ProvisionIdentity<'a>(&'a ProvisionRequest);

impl ProvisionIdentity<'_> {
    fn matches(&self, existing: &InstanceRecord) -> bool {
        let r = self.0;
        existing.service_id == r.service_id
            && existing.plan_id == r.plan_id
            && existing.organization_guid == r.organization_guid
            && existing.space_guid == r.space_guid
            && existing.parameters == r.parameters
    }
}

impl UpdateRequest {
    /// `previous_values.maintenance_info`, unless absent or `null`.
    pub(super) fn previous_maintenance_info(&self) -> Option<&Value> {
        self.previous_values
            .as_ref()
            .and_then(|p| p.get("maintenance_info"))
            .filter(|m| !m.is_null())
    }
}

/// Whether an update is an upgrade, decided once from what the instance is at and what the
/// request asks for.
struct UpgradeDecision {
    /// The instance's maintenance version differs from the plan's.
    outdated: bool,
    /// The request named a maintenance version.
    asked_for_upgrade: bool,
    /// The instance's version, for messages.
    instance_version: Option<String>,
    /// The plan's version, for messages.
    target_version: Option<String>,
}

impl UpgradeDecision {
    fn new(r: &UpdateRequest, instance: &InstanceRecord, target: Option<&MaintenanceInfo>) -> Self {
        let instance_version = instance
            .maintenance_info
            .as_ref()
            .map(|mi| mi.version.clone())
            .filter(|v| !v.is_empty())
            .or_else(|| maintenance_version(r.previous_maintenance_info()));
        let target_version = target.map(|mi| mi.version.clone()).filter(|v| !v.is_empty());
        Self {
            outdated: instance_version.is_some()
                && target_version.is_some()
                && instance_version != target_version,
            asked_for_upgrade: maintenance_version(r.maintenance_info.as_ref()).is_some(),
            instance_version,
            target_version,
        }
    }

    /// An upgrade changes nothing but the maintenance version.
    fn is_upgrade(&self, same_plan: bool, parameters: &Value) -> bool {
        same_plan
            && parameters.as_object().is_none_or(|p| p.is_empty())
            && self.asked_for_upgrade
            && self.outdated
    }

    /// An outdated instance must be upgraded before anything else changes.
    fn refuse_update_of_outdated(&self) -> ServiceResult<()> {
        if self.outdated && !self.asked_for_upgrade {
            return Err(ServiceError::Unprocessable(format!(
                "service instance needs to be upgraded before updating: it is at maintenance_info version '{}', the plan is at '{}'; upgrade it first (send the catalog's maintenance_info with no other changes)",
                self.instance_version.clone().unwrap_or_default(),
                self.target_version.clone().unwrap_or_default()
            )));
        }
        Ok(())
    }
}

impl Broker {
    /// The maintenance info an operation moves the instance to: the plan's current version
    /// (`None` when the plan has none). `MaintenanceInfoConflict` when the request names a
    /// version the plan is not at.
    fn target_maintenance_info(
        &self, plan_id: &PlanId, requested: Option<&Value>,
    ) -> ServiceResult<Option<MaintenanceInfo>> {
        let plan = self.check_plan(plan_id)?;
        let current = crate::catalog::plan_maintenance_version(&self.config, plan);
        match (maintenance_version(requested), current) {
            (None, None) => Ok(None),
            (None, Some(version)) => Ok(Some(MaintenanceInfo { version })),
            (Some(_), None) => Err(ServiceError::MaintenanceInfoConflict(
                "maintenance_info was passed, but the broker catalog contains no maintenance_info".into(),
            )),
            (Some(asked), Some(v)) if asked != v => Err(ServiceError::MaintenanceInfoConflict(format!(
                "passed maintenance_info does not match the catalog maintenance_info: the plan is at version '{v}', the request asked for '{asked}'; fetch the catalog again"
            ))),
            (Some(_), Some(version)) => Ok(Some(MaintenanceInfo { version })),
        }
    }

    /// The answer to a provision of an instance that already exists (`None` when it does
    /// not, or only its deleted tombstone does): the same operation for an identical
    /// provision still in flight, "exists" for an identical one that completed, a conflict
    /// for a different one.
    async fn existing_answer(
        &self, instance_id: &InstanceId, request: &ProvisionRequest,
    ) -> ServiceResult<Option<Provisioned>> {
        let Some(existing) = self.load_instance(instance_id, "create").await? else {
            return Ok(None);
        };
        if existing.state == InstanceState::Deleted {
            return Ok(None);
        }
        let identical = ProvisionIdentity(request).matches(&existing);
        let latest = self.latest_operation(instance_id).await?;
        match (identical, existing.state, latest) {
            (true, InstanceState::Provisioning, Some(op)) if op.kind == OperationKind::Create => {
                Ok(Some(Provisioned::Accepted(Accepted::of(&op, Some(&existing)))))
            }
            (true, InstanceState::Ready | InstanceState::Updating, _) => {
                Ok(Some(Provisioned::AlreadyExists {
                    dashboard_url: existing.dashboard_url,
                }))
            }
            (_, InstanceState::Deprovisioning, _) => Err(ServiceError::Concurrency(format!(
                "service instance {instance_id} is being deleted: provision it again when the delete has finished"
            ))),
            (true, InstanceState::Failed, _) => Err(ServiceError::Conflict(format!(
                "service instance {instance_id} exists but its provisioning failed: delete it, then provision again"
            ))),
            _ => Err(ServiceError::Conflict(format!(
                "service instance {instance_id} already exists with a different service, plan, organization, space or parameters"
            ))),
        }
    }

    /// Provision: records the instance and its create operation, then generates the manifest
    /// and deploys it. A failure before the deploy leaves nothing behind.
    pub async fn provision(
        &self, caller: Caller<'_>, instance_id: &InstanceId, request: ProvisionRequest,
    ) -> ServiceResult<Provisioned> {
        self.check_service(&request.service_id)?;
        self.check_plan(&request.plan_id)?;
        if let Some(answer) = self.existing_answer(instance_id, &request).await? {
            return Ok(answer);
        }
        if !request.accepts_incomplete {
            return Err(ServiceError::AsyncRequired);
        }
        let maintenance_info =
            self.target_maintenance_info(&request.plan_id, request.maintenance_info.as_ref())?;
        self.validate_parameters(
            &request.plan_id,
            SchemaKind::InstanceCreate,
            &request.parameters,
        )?;
        // Checking the quotas and recording the instance happen under one short lock, so two
        // provisions at the same moment cannot both take the last place.
        let quota_guard = self.engine.lock(QUOTA_LOCK).await;
        // An identical provision may have been recorded while this one waited for the lock:
        // it gets the same answer as if it had come a moment later.
        if let Some(answer) = self.existing_answer(instance_id, &request).await? {
            return Ok(answer);
        }
        self.check_quotas(caller, instance_id, &request.plan_id, None).await?;

        let operation_request = OperationRequest {
            plan_id: Some(request.plan_id.clone()),
            previous_plan_id: None,
            parameters: Some(request.parameters.clone()),
            context: request.context.clone(),
            maintenance_info: maintenance_info.clone(),
            request_params: Some(adapter_params::provision(&request)),
            force: false,
            fingerprint: Some(json!({
                "service_id": request.service_id,
                "plan_id": request.plan_id,
                "parameters": request.parameters,
            })),
        };
        let op = new_operation(instance_id, OperationKind::Create, operation_request);
        let now = Timestamp::now();
        let instance = InstanceRecord {
            id: instance_id.clone(),
            service_id: request.service_id,
            plan_id: request.plan_id,
            organization_guid: request.organization_guid,
            space_guid: request.space_guid,
            context: request.context,
            parameters: request.parameters,
            maintenance_info,
            dashboard_url: None,
            labels: None,
            configs: None,
            state: InstanceState::Provisioning,
            deployment_name: instance_id.deployment_name(),
            created_at: now,
            updated_at: now,
        };
        let quota = QuotaHold {
            guard: quota_guard,
            admission: self.quota_admission(&instance.plan_id, None),
        };
        self.record_and_start_provision(caller, instance_id, instance, op, quota).await
    }

    async fn record_and_start_provision(
        &self, caller: Caller<'_>, instance_id: &InstanceId, instance: InstanceRecord,
        op: OperationRecord, quota: QuotaHold,
    ) -> ServiceResult<Provisioned> {
        let engine = self.engine.clone();
        let _guard = engine.lock(&op.id).await;
        let (inst, o) = (instance.clone(), op.clone());
        match engine
            .store()
            .run({
                let admission = quota.admission.clone();
                move |s| s.begin_provision_admitted(&inst, &o, Some(&admission))
            })
            .await
        {
            Ok(()) => {}
            Err(StoreError::Refused(reason)) => return Err(ServiceError::Unprocessable(reason)),
            Err(StoreError::AlreadyExists) => {
                return Err(ServiceError::Conflict(format!(
                    "service instance {instance_id} is being provisioned by another request"
                )))
            }
            Err(e) => return Err(ServiceError::store(instance_id, "create", e)),
        }
        drop(quota.guard);
        tracing::info!(request_id = %caller.request_id, instance = %instance_id, operation = %op.id, "provision recorded");
        match engine.advance_locked(&op.id).await {
            Ok(_) => {
                let stored = self.load_instance(instance_id, "create").await?.unwrap_or(instance);
                Ok(Provisioned::Accepted(Accepted::of(&op, Some(&stored))))
            }
            // Another replica took the provision over: it goes on there.
            Err(err) if err.is_lease_lost() => {
                Ok(Provisioned::Accepted(Accepted::of(&op, Some(&instance))))
            }
            Err(err) => {
                let (id, op_id, owner) =
                    (instance_id.clone(), op.id.clone(), engine.replica().to_string());
                match engine
                    .store()
                    .run(move |s| s.forget_failed_provision(&id, &op_id, &owner))
                    .await
                {
                    Ok(()) => {}
                    // Another replica took the provision over while this one was paused.
                    Err(StoreError::LeaseLost { .. }) => {
                        return Ok(Provisioned::Accepted(Accepted::of(&op, Some(&instance))))
                    }
                    Err(e) => {
                        tracing::error!(instance = %instance_id, error = %e, "could not remove the failed provision's records")
                    }
                }
                Err(ServiceError::engine(instance_id, "create", "create", err))
            }
        }
    }

    /// Update or upgrade: a plan change, new parameters or context, or a move to the
    /// catalog's maintenance info; an identical update still running gets its operation.
    pub async fn update(
        &self, caller: Caller<'_>, instance_id: &InstanceId, request: UpdateRequest,
    ) -> ServiceResult<Accepted> {
        self.check_service(&request.service_id)?;
        if let Some(p) = &request.plan_id {
            self.check_plan(p)?;
        }
        let parameters = request.parameters.clone().unwrap_or_else(|| json!({}));
        let Some(instance) = self.load_instance(instance_id, "update").await? else {
            return Err(ServiceError::NotFound(format!(
                "service instance {instance_id} does not exist"
            )));
        };
        if instance.state == InstanceState::Deleted {
            return Err(ServiceError::NotFound(format!(
                "service instance {instance_id} does not exist: it was deleted"
            )));
        }
        if !request.accepts_incomplete {
            return Err(ServiceError::AsyncRequired);
        }
        let new_plan = request.plan_id.clone().unwrap_or_else(|| instance.plan_id.clone());
        let fingerprint = json!({"service_id": request.service_id, "plan_id": new_plan, "parameters": parameters});
        if let Some(op) = self.latest_operation(instance_id).await? {
            if op.state == OperationState::InProgress {
                if matches!(op.kind, OperationKind::Update | OperationKind::Upgrade)
                    && op.request.fingerprint.as_ref() == Some(&fingerprint)
                {
                    return Ok(Accepted::of(&op, Some(&instance)));
                }
                return Err(ServiceError::Concurrency(format!(
                    "{} for service instance {instance_id}: try again when it has finished",
                    in_progress_text(op.kind)
                )));
            }
        }
        let plan_changes = new_plan != instance.plan_id;
        if plan_changes {
            self.check_plan_updatable(&new_plan)?;
        }
        let maintenance_info =
            self.target_maintenance_info(&new_plan, request.maintenance_info.as_ref())?;
        if request.parameters.is_some() {
            self.validate_parameters(&new_plan, SchemaKind::InstanceUpdate, &parameters)?;
        }
        let quota = if plan_changes {
            let guard = self.engine.lock(QUOTA_LOCK).await;
            self.check_quotas(caller, instance_id, &new_plan, Some(&instance.plan_id)).await?;
            Some(QuotaHold {
                guard,
                admission: self.quota_admission(&new_plan, Some(&instance.plan_id)),
            })
        } else {
            None
        };
        let decision = UpgradeDecision::new(&request, &instance, maintenance_info.as_ref());
        decision.refuse_update_of_outdated()?;
        let is_upgrade = decision.is_upgrade(!plan_changes, &parameters);
        let (kind, request_params) = if is_upgrade {
            (OperationKind::Upgrade, json!({ "context": request.context }))
        } else {
            (
                OperationKind::Update,
                adapter_params::update(&request, (&instance).into(), &new_plan, &parameters),
            )
        };
        let operation_request = OperationRequest {
            plan_id: new_plan.into(),
            previous_plan_id: Some(instance.plan_id.clone()),
            parameters: Some(parameters),
            context: request.context,
            maintenance_info,
            request_params: Some(request_params),
            force: false,
            fingerprint: Some(fingerprint),
        };
        self.start_operation(caller, instance, kind, operation_request, "update", quota).await
    }

    /// A plan change to `plan_id` must be allowed by the plan (or the catalog).
    fn check_plan_updatable(&self, plan_id: &PlanId) -> ServiceResult<()> {
        let plan = self.check_plan(plan_id)?;
        if !plan.plan_updatable.unwrap_or(self.config.catalog.plan_updatable) {
            return Err(ServiceError::Unprocessable(format!(
                "plan changes are not supported: the plan '{}' cannot be changed to from another plan; create a new instance instead",
                plan.name
            )));
        }
        Ok(())
    }

    /// Deprovision: runs the pre-delete errands and deletes the deployment; a delete still
    /// running gets its operation.
    pub async fn deprovision(
        &self, caller: Caller<'_>, instance_id: &InstanceId, request: DeprovisionRequest,
    ) -> ServiceResult<Accepted> {
        self.check_service(&request.service_id)?;
        let Some(instance) = self.load_instance(instance_id, "delete").await? else {
            return Err(ServiceError::Gone(None));
        };
        if instance.state == InstanceState::Deleted {
            return Err(ServiceError::Gone(None));
        }
        if !request.accepts_incomplete {
            return Err(ServiceError::AsyncRequired);
        }
        if let Some(op) = self.latest_operation(instance_id).await? {
            if op.state == OperationState::InProgress {
                if op.kind == OperationKind::Delete {
                    return Ok(Accepted::of(&op, None));
                }
                return Err(ServiceError::Concurrency(format!(
                    "{} for service instance {instance_id}: delete it when that has finished",
                    in_progress_text(op.kind)
                )));
            }
        }
        let operation_request = OperationRequest {
            force: request.force,
            ..OperationRequest::new(instance.plan_id.clone())
        };
        self.start_operation(
            caller,
            instance,
            OperationKind::Delete,
            operation_request,
            "delete",
            None,
        )
        .await
    }

    /// The instance as the platform may see it: not while it is being provisioned or updated.
    pub async fn fetch_instance(&self, instance_id: &InstanceId) -> ServiceResult<InstanceView> {
        let Some(instance) = self.load_instance(instance_id, "fetch").await? else {
            return Err(ServiceError::NotFound(format!(
                "service instance {instance_id} does not exist"
            )));
        };
        match instance.state {
            InstanceState::Deleted => {
                return Err(ServiceError::NotFound(format!(
                    "service instance {instance_id} does not exist: it was deleted"
                )))
            }
            InstanceState::Provisioning => {
                return Err(ServiceError::NotFound(format!(
                    "service instance {instance_id} is still being provisioned: poll last_operation"
                )))
            }
            InstanceState::Updating => {
                return Err(ServiceError::Concurrency(format!(
                    "service instance {instance_id} is being updated: fetch it when the update has finished"
                )))
            }
            _ => {}
        }
        Ok(InstanceView {
            service_id: instance.service_id,
            plan_id: instance.plan_id,
            dashboard_url: instance.dashboard_url,
            parameters: instance.parameters,
            maintenance_info: instance.maintenance_info,
            labels: instance.labels.unwrap_or_default(),
        })
    }

    /// The named operation of the instance (its newest when `operation` is `None` or not the
    /// instance's), refreshed from the director first while it runs.
    pub async fn last_operation(
        &self, caller: Caller<'_>, instance_id: &InstanceId, operation: Option<&OperationId>,
    ) -> ServiceResult<OperationView> {
        if self.load_instance(instance_id, "last_operation").await?.is_none() {
            return Err(ServiceError::NotFound(format!(
                "service instance {instance_id} does not exist"
            )));
        }
        let engine = &self.engine;
        let named = match operation {
            Some(op_id) => {
                let id = op_id.clone();
                engine
                    .store()
                    .run(move |s| s.operation(&id))
                    .await
                    .map_err(|e| ServiceError::store(instance_id, "last_operation", e))?
                    .filter(|op| op.instance_id == *instance_id)
            }
            None => None,
        };
        let op = match named {
            Some(op) => op,
            None => self.latest_operation(instance_id).await?.ok_or_else(|| {
                ServiceError::NotFound(format!("service instance {instance_id} has no operations"))
            })?,
        };
        let op = if op.state == OperationState::InProgress {
            match engine.refresh_shared(&op.id).await {
                Ok(Some(updated)) => updated,
                Ok(None) => op,
                Err(err) => {
                    tracing::warn!(request_id = %caller.request_id, operation = %op.id, error = %err, "could not refresh the operation");
                    op
                }
            }
        } else {
            op
        };
        let description = match op.state {
            OperationState::InProgress => in_progress_text(op.kind).to_string(),
            _ => op.description.clone(),
        };
        Ok(OperationView { kind: op.kind, state: op.state, description })
    }
}

/// What the decision tests need: the upgrade rule on its own.
#[cfg(test)]
pub(super) mod tests_support {
    use super::*;

    /// Whether an update of an instance at `instance` asking for `requested` on a plan at
    /// `target` is an upgrade.
    pub fn decide(
        instance: Option<&str>, requested: Option<&str>, target: Option<&str>, same_plan: bool,
        parameters: Value,
    ) -> bool {
        let version = |v: Option<&str>| v.map(|v| MaintenanceInfo { version: v.to_string() });
        let request = UpdateRequest {
            service_id: crate::ids::parsed("s"),
            plan_id: None,
            parameters: None,
            context: None,
            previous_values: None,
            maintenance_info: requested.map(|v| json!({ "version": v })),
            accepts_incomplete: true,
        };
        let record = InstanceRecord {
            id: crate::ids::parsed("i"),
            service_id: crate::ids::parsed("s"),
            plan_id: crate::ids::parsed("p"),
            organization_guid: String::new(),
            space_guid: String::new(),
            context: None,
            parameters: json!({}),
            maintenance_info: version(instance),
            dashboard_url: None,
            labels: None,
            configs: None,
            state: InstanceState::Ready,
            deployment_name: String::new(),
            created_at: Timestamp::now(),
            updated_at: Timestamp::now(),
        };
        UpgradeDecision::new(&request, &record, version(target).as_ref())
            .is_upgrade(same_plan, &parameters)
    }
}

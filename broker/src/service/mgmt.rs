//! Management use cases for operators: list instances and their bindings, find orphaned
//! deployments, count instances against quotas, and upgrade or recreate one instance.

use super::{Broker, Caller, ServiceError, ServiceResult};
use crate::engine::in_progress_text;
use crate::ids::{BindingId, InstanceId, OperationId, PlanId, ServiceId};
use crate::quotas::{self, PlanCounts};
use crate::store::{
    InstanceRecord, InstanceState, MaintenanceInfo, OperationKind, OperationRequest, OperationState,
};
use serde::Serialize;
use serde_json::{json, Value};
use std::collections::BTreeSet;

/// The last operation of an instance, as listed.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct LastOperationSummary {
    /// What it did.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// Where it is.
    pub state: &'static str,
    /// What it says.
    pub description: String,
}

/// One instance, as listed.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct InstanceSummary {
    /// Its id.
    pub service_instance_id: InstanceId,
    /// The catalog service id.
    pub service_id: ServiceId,
    /// Its plan id.
    pub plan_id: PlanId,
    /// Where it is in its life.
    pub state: &'static str,
    /// Its newest operation.
    pub last_operation: Option<LastOperationSummary>,
    /// Its BOSH deployment.
    pub deployment_name: String,
    /// The platform's space.
    pub space_guid: String,
    /// The platform's organization.
    pub organization_guid: String,
}

/// One binding, as listed (no credentials).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ListedBinding {
    /// Its id.
    pub binding_id: BindingId,
    /// The catalog service id.
    pub service_id: ServiceId,
    /// The plan id.
    pub plan_id: PlanId,
}

/// One metric of `GET /mgmt/metrics`.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Metric {
    /// Its key (`/on-demand-broker/<service>/<plan>/total_instances`, ...).
    pub key: String,
    /// Its value.
    pub value: u64,
    /// Always `count`.
    pub unit: &'static str,
}

impl Metric {
    fn count(key: String, value: u64) -> Self {
        Self { key, value, unit: "count" }
    }
}

/// A management operation the broker started.
#[derive(Debug, Clone, PartialEq)]
pub struct ManagementOperation {
    /// Its id.
    pub operation: OperationId,
    /// `upgrade` or `recreate`.
    pub kind: OperationKind,
}

impl Broker {
    async fn live_instances(&self) -> ServiceResult<Vec<InstanceRecord>> {
        self.stored("-", "mgmt", |s| s.live_instances()).await
    }

    /// Every live instance with its newest operation.
    pub async fn list_instances(&self) -> ServiceResult<Vec<InstanceSummary>> {
        let listed = self.stored("-", "mgmt", |s| s.live_instances_with_latest_operation()).await?;
        Ok(listed
            .into_iter()
            .map(|(i, op)| InstanceSummary {
                last_operation: op.map(|op| LastOperationSummary {
                    kind: op.kind.as_str(),
                    state: op.state.as_str(),
                    description: if op.state == OperationState::InProgress {
                        in_progress_text(op.kind).to_string()
                    } else {
                        op.description
                    },
                }),
                service_instance_id: i.id,
                service_id: i.service_id,
                plan_id: i.plan_id,
                state: i.state.as_str(),
                deployment_name: i.deployment_name,
                space_guid: i.space_guid,
                organization_guid: i.organization_guid,
            })
            .collect())
    }

    /// The bindings of a live instance (ids only).
    pub async fn list_bindings(&self, id: &InstanceId) -> ServiceResult<Vec<ListedBinding>> {
        match self.load_instance(id, "mgmt").await? {
            Some(i) if i.state != InstanceState::Deleted => {}
            _ => {
                return Err(ServiceError::NotFound(format!("service instance {id} does not exist")))
            }
        }
        let iid = id.clone();
        let bindings = self.stored(id, "mgmt", move |s| s.bindings_of(&iid)).await?;
        Ok(bindings
            .into_iter()
            .map(|b| ListedBinding {
                binding_id: b.id,
                service_id: b.service_id,
                plan_id: b.plan_id,
            })
            .collect())
    }

    /// Director deployments named `service-instance_<id>` whose instance is not live.
    pub async fn orphan_deployments(&self, caller: Caller<'_>) -> ServiceResult<Vec<String>> {
        let live: BTreeSet<String> =
            self.live_instances().await?.into_iter().map(|i| i.id.to_string()).collect();
        let deployments = self.engine.director().deployments().await.map_err(|e| {
            tracing::warn!(request_id = %caller.request_id, error = %e, "cannot list director deployments");
            ServiceError::Unavailable(format!(
                "cannot list the director's deployments: {e}; check that the director is reachable"
            ))
        })?;
        Ok(deployments
            .into_iter()
            .filter(|d| {
                d.strip_prefix(crate::ids::DEPLOYMENT_PREFIX).is_some_and(|id| !live.contains(id))
            })
            .collect())
    }

    /// Instance counts against quotas, per plan and for the whole service.
    pub async fn quota_metrics(&self) -> ServiceResult<Vec<Metric>> {
        let instances = self.live_instances().await?;
        Ok(compute_metrics(&self.config, &PlanCounts::of(&instances)))
    }

    /// For the Prometheus endpoint: live instances by (plan name, state), operations in
    /// flight, and quota use and limits by (plan name or `_all`, quota).
    pub async fn metric_gauges(&self) -> ServiceResult<crate::metrics::Gauges> {
        let instances = self.live_instances().await?;
        let in_flight =
            self.stored("-", "metrics", |s| s.in_flight_operations()).await?.len() as u64;
        let mut gauges = crate::metrics::Gauges { in_flight, ..Default::default() };
        for i in &instances {
            let plan = self.config.plan_name(&i.plan_id);
            *gauges.instances.entry((plan, i.state.as_str().to_string())).or_insert(0) += 1;
        }
        let counts = PlanCounts::of(&instances);
        let mut quota = |plan: &str, name: &str, used: u64, limit: u64| {
            let key = (plan.to_string(), name.to_string());
            gauges.quota_used.insert(key.clone(), used);
            gauges.quota_limit.insert(key, limit);
        };
        for plan in &self.config.catalog.plans {
            let Some(q) = &plan.quotas else { continue };
            if let Some(limit) = q.service_instance_limit {
                quota(&plan.name, "instances", counts.plan(&plan.plan_id), limit);
            }
            for (name, resource) in &q.resources {
                let used = quotas::plan_resource_used(plan, &counts, name);
                quota(&plan.name, name, used, resource.limit);
            }
        }
        if let Some(q) = &self.config.catalog.global_quotas {
            if let Some(limit) = q.service_instance_limit {
                quota("_all", "instances", counts.total(), limit);
            }
            for (name, resource) in &q.resources {
                let used = quotas::global_resource_used(&self.config, &counts, name);
                quota("_all", name, used, resource.limit);
            }
        }
        Ok(gauges)
    }

    /// Upgrade (a new manifest from the instance's current plan) or recreate (every VM) one
    /// instance. `context`, when given, replaces the stored platform context for an upgrade.
    pub async fn start_management_operation(
        &self, caller: Caller<'_>, id: &InstanceId, kind: OperationKind, context: Option<Value>,
    ) -> ServiceResult<ManagementOperation> {
        let gone = || ServiceError::Gone(Some(format!("service instance {id} does not exist")));
        let instance = match self.load_instance(id, kind.as_str()).await? {
            Some(i) if i.state != InstanceState::Deleted => i,
            _ => return Err(gone()),
        };
        if let Some(op) = self.latest_operation(id).await? {
            if op.state == OperationState::InProgress {
                return Err(ServiceError::Conflict(format!(
                    "{} for service instance {id} (operation {}): try again when it has finished",
                    in_progress_text(op.kind),
                    op.id
                )));
            }
        }
        let deployment = id.deployment_name();
        match self.engine.director().manifest(&deployment).await {
            Ok(Some(_)) => {}
            Ok(None) => {
                return Err(ServiceError::Gone(Some(format!(
                    "service instance {id} has no deployment '{deployment}': nothing to {kind}"
                ))))
            }
            Err(e) => {
                tracing::warn!(request_id = %caller.request_id, instance = %id, error = %e, "cannot fetch the manifest");
                return Err(ServiceError::Unavailable(format!(
                    "Currently unable to {kind} service instance {id}, please try again later"
                )));
            }
        }
        let context = context.or_else(|| instance.context.clone());
        let request = self.management_request(&instance, kind, context);
        let (op, _) = self
            .begin_operation(caller, instance, kind, request, kind.as_str(), None)
            .await
            .map_err(|e| match e {
                // The management API answers a busy instance with 409.
                ServiceError::Concurrency(message) => ServiceError::Conflict(message),
                other => other,
            })?;
        Ok(ManagementOperation { operation: op.id, kind })
    }

    /// What an upgrade or recreate does: the instance's current plan, the request parameters
    /// an upgrade hands the adapter (`{"context": ...}`), and, for an upgrade, the catalog's
    /// current maintenance info, which the instance moves to.
    fn management_request(
        &self, instance: &InstanceRecord, kind: OperationKind, context: Option<Value>,
    ) -> OperationRequest {
        let maintenance_info = match kind {
            OperationKind::Upgrade => self
                .config
                .plan(&instance.plan_id)
                .and_then(|p| crate::catalog::plan_maintenance_version(&self.config, p))
                .map(|version| MaintenanceInfo { version }),
            _ => None,
        };
        OperationRequest {
            plan_id: Some(instance.plan_id.clone()),
            previous_plan_id: Some(instance.plan_id.clone()),
            parameters: Some(json!({})),
            request_params: Some(json!({ "context": context })),
            context,
            maintenance_info,
            force: false,
            fingerprint: Some(json!({
                "service_id": instance.service_id,
                "plan_id": instance.plan_id,
                "parameters": {},
                "management": kind.as_str(),
            })),
        }
    }
}

/// The `/mgmt/metrics` entries for `counts`.
fn compute_metrics(config: &crate::config::Config, counts: &PlanCounts) -> Vec<Metric> {
    let service = &config.catalog.service_name;
    let mut out = Vec::new();
    for plan in &config.catalog.plans {
        let prefix = format!("/on-demand-broker/{service}/{}", plan.name);
        let count = counts.plan(&plan.plan_id);
        out.push(Metric::count(format!("{prefix}/total_instances"), count));
        let Some(q) = &plan.quotas else { continue };
        if let Some(limit) = q.service_instance_limit {
            out.push(Metric::count(
                format!("{prefix}/quota_remaining"),
                limit.saturating_sub(count),
            ));
        }
        for (name, quota) in &q.resources {
            let used = quotas::plan_resource_used(plan, counts, name);
            out.push(Metric::count(format!("{prefix}/{name}/used"), used));
            if quota.limit != 0 {
                out.push(Metric::count(
                    format!("{prefix}/{name}/remaining"),
                    quota.limit.saturating_sub(used),
                ));
            }
        }
    }
    let prefix = format!("/on-demand-broker/{service}");
    out.push(Metric::count(format!("{prefix}/total_instances"), counts.total()));
    if let Some(q) = &config.catalog.global_quotas {
        if let Some(limit) = q.service_instance_limit {
            out.push(Metric::count(
                format!("{prefix}/quota_remaining"),
                limit.saturating_sub(counts.total()),
            ));
        }
        for (name, quota) in &q.resources {
            let used = quotas::global_resource_used(config, counts, name);
            out.push(Metric::count(format!("{prefix}/{name}/used"), used));
            out.push(Metric::count(
                format!("{prefix}/{name}/remaining"),
                quota.limit.saturating_sub(used),
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Timestamp;

    #[test]
    fn metrics_count_per_plan_and_globally() {
        let config = crate::config::load(None, &Default::default()).unwrap().config;
        let first = config.catalog.plans[0].clone();
        let counts = PlanCounts::of(&[InstanceRecord {
            id: crate::ids::parsed("x"),
            service_id: config.catalog.id.clone(),
            plan_id: first.plan_id.clone(),
            organization_guid: String::new(),
            space_guid: String::new(),
            context: None,
            parameters: json!({}),
            maintenance_info: None,
            dashboard_url: None,
            labels: None,
            configs: None,
            state: InstanceState::Ready,
            deployment_name: "service-instance_x".into(),
            created_at: Timestamp::now(),
            updated_at: Timestamp::now(),
        }]);
        let metrics = compute_metrics(&config, &counts);
        let service = &config.catalog.service_name;
        assert!(metrics.contains(&Metric::count(
            format!("/on-demand-broker/{service}/{}/total_instances", first.name),
            1
        )));
        assert!(metrics
            .contains(&Metric::count(format!("/on-demand-broker/{service}/total_instances"), 1)));
    }
}

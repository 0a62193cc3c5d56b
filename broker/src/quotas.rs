//! Service instance quotas: the global and per-plan `service_instance_limit`, and resource
//! quotas (`resources: {name: {limit, cost}}`), checked on provision and on plan change, and
//! reported by the management API's metrics.
//!
//! Counts come from the store: every instance that is not deleted counts against its plan.
//! Global resource usage is Σ over plans of (the plan's cost × that plan's instance count);
//! the Go broker multiplied every plan's cost by the *requested* plan's count, which is not
//! copied here.

use crate::config::{Config, PlanConfig};
use crate::ids::PlanId;
use crate::store::InstanceRecord;
use std::collections::BTreeMap;

/// Instances per plan id.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PlanCounts(BTreeMap<PlanId, u64>);

impl PlanCounts {
    /// Counts `instances` (callers pass the live ones) by plan.
    pub fn of<'a>(instances: impl IntoIterator<Item = &'a InstanceRecord>) -> Self {
        let mut counts = BTreeMap::new();
        for i in instances {
            *counts.entry(i.plan_id.clone()).or_insert(0) += 1;
        }
        Self(counts)
    }

    /// Instances of one plan.
    pub fn plan(&self, plan_id: &PlanId) -> u64 {
        self.0.get(plan_id).copied().unwrap_or(0)
    }

    /// Instances of every plan.
    pub fn total(&self) -> u64 {
        self.0.values().sum()
    }

    /// Adds one instance to a plan's count (an instance moving onto the plan).
    pub fn add_one(&mut self, plan_id: &PlanId) {
        *self.0.entry(plan_id.clone()).or_insert(0) += 1;
    }

    /// Takes one instance off a plan's count (an instance leaving the plan on a plan change).
    pub fn remove_one(&mut self, plan_id: &PlanId) {
        if let Some(c) = self.0.get_mut(plan_id) {
            *c = c.saturating_sub(1);
        }
    }
}

/// The cost of one instance of `plan` in `resource` (0 when the plan names no cost).
fn cost(plan: &PlanConfig, resource: &str) -> u64 {
    plan.quotas.as_ref().and_then(|q| q.resources.get(resource)).map(|r| r.cost).unwrap_or(0)
}

/// Global usage of `resource`: Σ over plans of cost × instances of that plan.
pub fn global_resource_used(config: &Config, counts: &PlanCounts, resource: &str) -> u64 {
    config
        .catalog
        .plans
        .iter()
        .map(|p| cost(p, resource).saturating_mul(counts.plan(&p.plan_id)))
        .sum()
}

/// Usage of `resource` by the instances of `plan`.
pub fn plan_resource_used(plan: &PlanConfig, counts: &PlanCounts, resource: &str) -> u64 {
    cost(plan, resource).saturating_mul(counts.plan(&plan.plan_id))
}

/// The quotas one more instance of a plan would exceed; the message lists each of them.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", .0.join(", "))]
pub struct QuotaExceeded(pub Vec<String>);

/// Checks that one more instance of `plan_id` fits every quota, given the current `counts`
/// (for a plan change, without the instance that moves).
pub fn check(config: &Config, counts: &PlanCounts, plan_id: &PlanId) -> Result<(), QuotaExceeded> {
    let Some(plan) = config.plan(plan_id) else {
        return Ok(());
    };
    let mut exceeded = Vec::new();
    let plan_quotas = plan.quotas.clone().unwrap_or_default();
    let global = config.catalog.global_quotas.clone().unwrap_or_default();

    if let Some(limit) = plan_quotas.service_instance_limit {
        let current = counts.plan(plan_id);
        if current >= limit {
            exceeded.push(format!(
                "plan instance limit exceeded for plan '{}': limit {limit}, current instances {current}",
                plan.name
            ));
        }
    }
    if let Some(limit) = global.service_instance_limit {
        let current = counts.total();
        if current >= limit {
            exceeded.push(format!(
                "global instance limit exceeded for service '{}': limit {limit}, current instances {current}",
                config.catalog.service_name
            ));
        }
    }
    let over: Vec<String> = global
        .resources
        .iter()
        .filter_map(|(name, quota)| {
            let requires = cost(plan, name);
            let used = global_resource_used(config, counts, name);
            (requires > 0 && used.saturating_add(requires) > quota.limit).then(|| {
                format!("{name}: (limit {}, used {used}, requires {requires})", quota.limit)
            })
        })
        .collect();
    if !over.is_empty() {
        exceeded.push(format!(
            "global quotas [{}] would be exceeded by this deployment",
            over.join(", ")
        ));
    }
    let over: Vec<String> = plan_quotas
        .resources
        .iter()
        .filter(|(_, quota)| quota.limit != 0)
        .filter_map(|(name, quota)| {
            let used = plan_resource_used(plan, counts, name);
            (used.saturating_add(quota.cost) > quota.limit).then(|| {
                format!("{name}: (limit {}, used {used}, requires {})", quota.limit, quota.cost)
            })
        })
        .collect();
    if !over.is_empty() {
        exceeded.push(format!(
            "plan quotas for plan '{}' [{}] would be exceeded by this deployment",
            plan.name,
            over.join(", ")
        ));
    }
    if exceeded.is_empty() {
        Ok(())
    } else {
        Err(QuotaExceeded(exceeded))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Quotas, ResourceQuota};

    fn config() -> Config {
        let mut config = crate::config::load(None, &Default::default())
            .expect("the embedded default loads")
            .config;
        let template = config.catalog.plans[0].clone();
        let plan = |plan_id: &str, name: &str, quotas: Quotas| PlanConfig {
            plan_id: id(plan_id),
            name: name.into(),
            quotas: Some(quotas),
            ..template.clone()
        };
        let res = |limit, cost| ResourceQuota { limit, cost };
        config.catalog.plans = vec![
            plan(
                "a",
                "small",
                Quotas {
                    service_instance_limit: Some(2),
                    resources: [("memory".to_string(), res(0, 1))].into(),
                },
            ),
            plan(
                "b",
                "large",
                Quotas {
                    service_instance_limit: None,
                    resources: [("memory".to_string(), res(8, 4))].into(),
                },
            ),
        ];
        config.catalog.global_quotas = Some(Quotas {
            service_instance_limit: Some(4),
            resources: [("memory".to_string(), res(10, 0))].into(),
        });
        config
    }

    fn id(text: &str) -> PlanId {
        PlanId::parse(text).unwrap()
    }

    fn counts(pairs: &[(&str, u64)]) -> PlanCounts {
        PlanCounts(pairs.iter().map(|(p, c)| (id(p), *c)).collect())
    }

    #[test]
    fn within_every_quota_passes() {
        assert_eq!(check(&config(), &counts(&[]), &id("a")), Ok(()));
        assert_eq!(check(&config(), &counts(&[("a", 1), ("b", 1)]), &id("b")), Ok(()));
    }

    #[test]
    fn plan_limit_names_the_plan_its_limit_and_use() {
        let err = check(&config(), &counts(&[("a", 2)]), &id("a")).unwrap_err();
        assert_eq!(
            err.to_string(),
            "plan instance limit exceeded for plan 'small': limit 2, current instances 2"
        );
    }

    #[test]
    fn global_resource_usage_sums_cost_times_count_per_plan() {
        // used = 1×2 (small) + 4×1 (large) = 6; a large needs 4 more → 10 ≤ 10 passes.
        assert_eq!(check(&config(), &counts(&[("a", 2), ("b", 1)]), &id("b")), Ok(()));
        // used = 1×3 + 4×1 = 7; 7 + 4 > 10. (The Go bug would have computed (1+4)×1 = 5.)
        let err = check(&config(), &counts(&[("a", 3), ("b", 1)]), &id("b")).unwrap_err();
        assert!(err.0.contains(&"global quotas [memory: (limit 10, used 7, requires 4)] would be exceeded by this deployment".to_string()), "{err}");
    }

    #[test]
    fn every_exceeded_quota_is_listed() {
        let err = check(&config(), &counts(&[("a", 2), ("b", 2)]), &id("b")).unwrap_err();
        assert_eq!(
            err.to_string(),
            "global instance limit exceeded for service 'redis': limit 4, current instances 4, \
             global quotas [memory: (limit 10, used 10, requires 4)] would be exceeded by this deployment, \
             plan quotas for plan 'large' [memory: (limit 8, used 8, requires 4)] would be exceeded by this deployment"
                .replace("'redis'", &format!("'{}'", config().catalog.service_name))
        );
    }

    #[test]
    fn a_moving_instance_leaves_its_old_plan() {
        let mut c = counts(&[("a", 2)]);
        c.remove_one(&id("a"));
        assert_eq!(c.plan(&id("a")), 1);
        assert_eq!(check(&config(), &c, &id("a")), Ok(()));
    }
}

//! Turns configured plans into the adapter's `Plan` and `ServiceDeployment` wire types.

use crate::config::{Config, PlanConfig};
use service_adapter::{Plan, ServiceDeployment, ServiceRelease, Stemcell};

/// The plan as the adapter sees it: global properties merged under the plan's own.
pub fn adapter_plan(config: &Config, plan: &PlanConfig) -> Plan {
    let mut properties = config.catalog.global_properties.clone();
    for (k, v) in &plan.properties {
        properties.insert(k.clone(), v.clone());
    }
    Plan {
        properties,
        lifecycle_errands: plan.lifecycle_errands.clone().unwrap_or_default(),
        instance_groups: plan.instance_groups.clone(),
        update: plan.update.clone(),
    }
}

/// Releases and stemcells for a deployment.
pub fn service_deployment(config: &Config, deployment_name: &str) -> ServiceDeployment {
    ServiceDeployment {
        deployment_name: deployment_name.to_string(),
        releases: config
            .service_deployment
            .releases
            .iter()
            .map(|r| ServiceRelease {
                name: r.name.clone(),
                version: r.version.clone(),
                jobs: r.jobs.clone(),
            })
            .collect(),
        stemcells: config
            .service_deployment
            .stemcells
            .iter()
            .map(|s| Stemcell {
                os: s.os.clone(),
                version: s.version.clone(),
                name: Some(s.name.clone()).filter(|n| !n.is_empty()),
            })
            .collect(),
    }
}

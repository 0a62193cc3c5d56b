//! generate-manifest: the BOSH manifest of one Redis service instance.
//!
//! Each setting is resolved as: arbitrary parameter > the deployed (previous) manifest's
//! value > plan property > default. `maxmemory` is the exception: it sizes Redis to the
//! plan's VMs, so it always follows the plan's `maxmemory_mb`. The admin password is
//! generated once, on create, and always copied from the previous manifest afterwards
//! (bindings hold it). Changes that would lose data are refused: fewer `redis-server`
//! instances, persistence turned off, or an older release.

use std::cmp::Ordering;
use std::collections::BTreeMap;

use rand::distributions::Alphanumeric;
use rand::Rng;
use serde_json::{json, Value};
use service_adapter::bosh::{self, BoshManifest};
use service_adapter::{
    GenerateManifestOutput, GenerateManifestParams, MaxInFlight, Properties, ServiceDeployment,
};

use crate::parameters::InstanceParameters;
use crate::settings::{
    as_integer, default_maxmemory_policy, PlanProperties, PASSWORD_LENGTH, REDIS_PORT,
    REDIS_SERVER, SMOKE_TESTS, STEMCELL_ALIAS,
};
use service_adapter::generate_instance_groups_with_no_properties;
use service_adapter::AdapterError;

/// The watch time used when the plan has no `update` block.
pub const DEFAULT_WATCH_TIME: &str = "30000-240000";

/// The label added to every instance.
pub const SERVICE_LABEL: (&str, &str) = ("service", "redis-example");

/// Generates manifests for the Redis service.
#[derive(Debug, Clone, Copy, Default)]
pub struct RedisManifestGenerator;

/// A fresh admin password: [`PASSWORD_LENGTH`] random alphanumeric characters.
pub fn generate_password() -> String {
    rand::thread_rng()
        .sample_iter(&Alphanumeric)
        .take(PASSWORD_LENGTH)
        .map(char::from)
        .collect()
}

/// Builds the manifest, generating a password with [`generate_password`] when the
/// instance is new.
pub fn generate_manifest(
    params: &GenerateManifestParams,
) -> Result<GenerateManifestOutput, AdapterError> {
    generate_manifest_with(params, generate_password)
}

/// Builds the manifest; `new_password` is called only for a new instance (no previous
/// manifest).
pub fn generate_manifest_with(
    params: &GenerateManifestParams,
    new_password: impl FnOnce() -> String,
) -> Result<GenerateManifestOutput, AdapterError> {
    let plan = PlanProperties::from_plan(&params.plan)?;
    let requested = InstanceParameters::parse(&params.request_params.arbitrary_params(), &plan)?;
    let deployment = &params.service_deployment;
    let stemcell = deployment.stemcells.first().ok_or_else(|| {
        AdapterError::other(
            "no stemcell provided: add one under service_deployment.stemcells in the broker configuration",
        )
    })?;
    let Some(server_group) = params
        .plan
        .instance_groups
        .iter()
        .find(|g| g.name == REDIS_SERVER)
    else {
        return Err(AdapterError::other(format!(
            "the plan has no {REDIS_SERVER} instance group: every plan of this service needs one"
        )));
    };
    let previous = params.previous_manifest.as_ref().map(Previous::read);

    if let Some(previous) = &previous {
        check_release_versions(deployment, previous)?;
        if let Some(old) = previous.instances {
            if server_group.instances < old {
                return Err(AdapterError::other(format!(
                    "cannot reduce {REDIS_SERVER} from {old} to {} instances: data would be lost. \
                     Create a new instance with the smaller plan and migrate your data instead.",
                    server_group.instances
                )));
            }
        }
    }
    let settings = resolve_settings(&requested, previous.as_ref(), &plan)?;
    let password = match &previous {
        None => new_password(),
        Some(previous) => previous.password.clone().ok_or_else(|| {
            AdapterError::other(format!(
                "the deployed manifest has no redis.password for the {REDIS_SERVER} job, and a \
                 new password would lock out every existing binding; restore the deployment's \
                 manifest or recreate the instance"
            ))
        })?,
    };

    let mut group_to_jobs = BTreeMap::new();
    group_to_jobs.insert(REDIS_SERVER.to_string(), vec![REDIS_SERVER.to_string()]);
    group_to_jobs.insert(SMOKE_TESTS.to_string(), vec![SMOKE_TESTS.to_string()]);
    let mut instance_groups = generate_instance_groups_with_no_properties(
        &params.plan.instance_groups,
        &deployment.releases,
        STEMCELL_ALIAS,
        &group_to_jobs,
    )
    .map_err(|e| AdapterError::other(format!("error gathering jobs: {e}")))?;
    for group in &mut instance_groups {
        if group.name == SMOKE_TESTS {
            group.lifecycle = "errand".to_string();
        }
        for job in &mut group.jobs {
            if job.name == REDIS_SERVER {
                job.properties = settings.job_properties(&password);
            }
        }
    }

    let manifest = BoshManifest {
        name: deployment.deployment_name.clone(),
        releases: used_releases(deployment, &instance_groups),
        stemcells: vec![bosh::Stemcell {
            alias: STEMCELL_ALIAS.to_string(),
            os: stemcell.os.clone(),
            version: stemcell.version.clone(),
            name: stemcell.name.clone().unwrap_or_default(),
        }],
        instance_groups,
        update: Some(update_block(params.plan.update.as_ref())),
        ..BoshManifest::default()
    };
    Ok(GenerateManifestOutput {
        manifest,
        odb_managed_secrets: None,
        configs: None,
        labels: BTreeMap::from([(SERVICE_LABEL.0.to_string(), SERVICE_LABEL.1.to_string())]),
    })
}

/// The Redis settings that go into the `redis` job properties.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Settings {
    maxclients: i64,
    maxmemory_mb: i64,
    maxmemory_policy: String,
    persistence: bool,
}

impl Settings {
    fn job_properties(&self, password: &str) -> Properties {
        let redis = json!({
            "port": REDIS_PORT,
            "maxclients": self.maxclients,
            "maxmemory": format!("{}mb", self.maxmemory_mb),
            "maxmemory_policy": self.maxmemory_policy,
            "persistence": if self.persistence { "yes" } else { "no" },
            "password": password,
        });
        Properties::from_iter([("redis".to_string(), redis)])
    }
}

fn resolve_settings(
    requested: &InstanceParameters,
    previous: Option<&Previous>,
    plan: &PlanProperties,
) -> Result<Settings, AdapterError> {
    let had_persistence = previous.and_then(|p| p.persistence).unwrap_or(false);
    let persistence = requested
        .persistence
        .or(previous.and_then(|p| p.persistence))
        .unwrap_or(plan.persistence);
    if had_persistence && !persistence {
        return Err(AdapterError::other(
            "cannot turn persistence off on an instance that has it: its data would no longer \
             survive a restart. Create a new instance without persistence and migrate your data instead.",
        ));
    }
    if persistence && !plan.persistence {
        return Err(AdapterError::other(
            "this plan does not support persistence, which this instance has enabled: its data \
             would be lost. Choose a plan with persistence, or create a new instance with this \
             plan and migrate your data instead.",
        ));
    }
    let previous_maxclients = previous.and_then(|p| p.maxclients).map(|n| {
        if n > plan.max_clients {
            eprintln!(
                "[example-service-adapter] lowering maxclients from {n} to {}, the maximum of the new plan",
                plan.max_clients
            );
        }
        n.clamp(1, plan.max_clients)
    });
    let maxmemory_policy = requested
        .maxmemory_policy
        .clone()
        .or_else(|| previous.and_then(|p| p.maxmemory_policy.clone()))
        .unwrap_or_else(|| default_maxmemory_policy(persistence).to_string());
    Ok(Settings {
        maxclients: requested
            .maxclients
            .or(previous_maxclients)
            .unwrap_or(plan.max_clients),
        maxmemory_mb: plan.maxmemory_mb,
        maxmemory_policy,
        persistence,
    })
}

/// What this adapter needs from the deployed manifest.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Previous {
    instances: Option<i64>,
    password: Option<String>,
    maxclients: Option<i64>,
    maxmemory_policy: Option<String>,
    persistence: Option<bool>,
    release_versions: BTreeMap<String, String>,
}

impl Previous {
    fn read(manifest: &BoshManifest) -> Previous {
        let group = manifest
            .instance_groups
            .iter()
            .find(|g| g.name == REDIS_SERVER);
        let redis = redis_properties(manifest);
        let get = |key: &str| redis.and_then(|r| r.get(key));
        Previous {
            instances: group.map(|g| g.instances),
            password: get("password")
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .map(str::to_string),
            maxclients: get("maxclients").and_then(as_integer),
            maxmemory_policy: get("maxmemory_policy")
                .and_then(Value::as_str)
                .map(str::to_string),
            persistence: get("persistence").and_then(|v| match v {
                Value::Bool(b) => Some(*b),
                Value::String(s) => match s.as_str() {
                    "yes" => Some(true),
                    "no" => Some(false),
                    _ => None,
                },
                _ => None,
            }),
            release_versions: manifest
                .releases
                .iter()
                .map(|r| (r.name.clone(), r.version.clone()))
                .collect(),
        }
    }
}

/// The `redis` properties of the `redis-server` job in `manifest`, if any.
pub fn redis_properties(manifest: &BoshManifest) -> Option<&Properties> {
    manifest
        .instance_groups
        .iter()
        .filter(|g| g.name == REDIS_SERVER)
        .flat_map(|g| g.jobs.iter())
        .find(|j| j.name == REDIS_SERVER)
        .and_then(|j| j.properties.get("redis"))
        .and_then(Value::as_object)
}

fn check_release_versions(
    deployment: &ServiceDeployment,
    previous: &Previous,
) -> Result<(), AdapterError> {
    for release in &deployment.releases {
        if let Some(old) = previous.release_versions.get(&release.name) {
            if compare_versions(&release.version, old) == Ordering::Less {
                return Err(AdapterError::other(format!(
                    "error generating manifest: new release version {} is lower than existing \
                     release version {old} of release {}; configure a {} release at least as new \
                     as the deployed one",
                    release.version, release.name, release.name
                )));
            }
        }
    }
    Ok(())
}

/// Compares BOSH release versions such as `7.2.4`, `0+dev.3` or `1.10`: segments split at
/// `.`, `-` and `+` compare as numbers when both are numeric, otherwise as text.
pub fn compare_versions(a: &str, b: &str) -> Ordering {
    let split = |s: &str| -> Vec<String> { s.split(['.', '-', '+']).map(str::to_string).collect() };
    let (left, right) = (split(a), split(b));
    for (x, y) in left.iter().zip(&right) {
        let order = match (x.parse::<u64>(), y.parse::<u64>()) {
            (Ok(m), Ok(n)) => m.cmp(&n),
            _ => x.cmp(y),
        };
        if order != Ordering::Equal {
            return order;
        }
    }
    left.len().cmp(&right.len())
}

/// The releases that provide the jobs of `groups`, in the operator's order.
fn used_releases(
    deployment: &ServiceDeployment,
    groups: &[bosh::InstanceGroup],
) -> Vec<bosh::Release> {
    deployment
        .releases
        .iter()
        .filter(|r| {
            groups
                .iter()
                .flat_map(|g| &g.jobs)
                .any(|j| j.release == r.name)
        })
        .map(|r| bosh::Release {
            name: r.name.clone(),
            version: r.version.clone(),
        })
        .collect()
}

/// The plan's update block, or a cautious default: one canary, one instance at a time.
fn update_block(plan_update: Option<&service_adapter::Update>) -> bosh::Update {
    match plan_update {
        Some(u) => bosh::Update {
            canaries: u.canaries,
            canary_watch_time: u.canary_watch_time.clone(),
            update_watch_time: u.update_watch_time.clone(),
            max_in_flight: u.max_in_flight.clone(),
            serial: u.serial,
            vm_strategy: String::new(),
            initial_deploy_az_update_strategy: u
                .initial_deploy_az_update_strategy
                .clone()
                .unwrap_or_default(),
        },
        None => bosh::Update {
            canaries: 1,
            canary_watch_time: DEFAULT_WATCH_TIME.to_string(),
            update_watch_time: DEFAULT_WATCH_TIME.to_string(),
            max_in_flight: MaxInFlight::Count(1),
            ..bosh::Update::default()
        },
    }
}

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
    rand::thread_rng().sample_iter(&Alphanumeric).take(PASSWORD_LENGTH).map(char::from).collect()
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
    params: &GenerateManifestParams, new_password: impl FnOnce() -> String,
) -> Result<GenerateManifestOutput, AdapterError> {
    let plan = PlanProperties::from_plan(&params.plan)?;
    let requested = InstanceParameters::parse(&params.request_params.arbitrary_params(), &plan)?;
    let deployment = &params.service_deployment;
    let stemcell = deployment.stemcells.first().ok_or_else(|| {
        AdapterError::other(
            "no stemcell provided: add one under service_deployment.stemcells in the broker configuration",
        )
    })?;
    let Some(server_group) = params.plan.instance_groups.iter().find(|g| g.name == REDIS_SERVER)
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
        None if plan.secure_password => crate::settings::password_reference(),
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
        variables: password_variables(&password),
        ..BoshManifest::default()
    };
    Ok(GenerateManifestOutput {
        manifest,
        odb_managed_secrets: None,
        configs: None,
        labels: BTreeMap::from([(SERVICE_LABEL.0.to_string(), SERVICE_LABEL.1.to_string())]),
    })
}

/// The manifest's `variables:`: the admin password's, when the manifest refers to it (kept
/// on every later deploy, so the director keeps its value).
fn password_variables(password: &str) -> Vec<bosh::Variable> {
    if password == crate::settings::password_reference() {
        vec![bosh::Variable {
            name: crate::settings::PASSWORD_VARIABLE.to_string(),
            var_type: "password".to_string(),
            ..bosh::Variable::default()
        }]
    } else {
        Vec::new()
    }
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
    requested: &InstanceParameters, previous: Option<&Previous>, plan: &PlanProperties,
) -> Result<Settings, AdapterError> {
    let had_persistence = previous.and_then(|p| p.persistence).unwrap_or(false);
    let persistence =
        requested.persistence.or(previous.and_then(|p| p.persistence)).unwrap_or(plan.persistence);
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
        maxclients: requested.maxclients.or(previous_maxclients).unwrap_or(plan.max_clients),
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
        let group = manifest.instance_groups.iter().find(|g| g.name == REDIS_SERVER);
        let redis = redis_properties(manifest);
        let get = |key: &str| redis.and_then(|r| r.get(key));
        Previous {
            instances: group.map(|g| g.instances),
            password: get("password")
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .map(str::to_string),
            maxclients: get("maxclients").and_then(as_integer),
            maxmemory_policy: get("maxmemory_policy").and_then(Value::as_str).map(str::to_string),
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
    deployment: &ServiceDeployment, previous: &Previous,
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
    deployment: &ServiceDeployment, groups: &[bosh::InstanceGroup],
) -> Vec<bosh::Release> {
    deployment
        .releases
        .iter()
        .filter(|r| groups.iter().flat_map(|g| &g.jobs).any(|j| j.release == r.name))
        .map(|r| bosh::Release { name: r.name.clone(), version: r.version.clone() })
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use service_adapter::{Plan, RequestParameters};

    const CACHE_SMALL: &str = r#"{"properties":{"persistence":false,"maxmemory_mb":256,"max_clients":1000},
        "lifecycle_errands":{},"instance_groups":[{"name":"redis-server","vm_type":"small","instances":1,
        "networks":["default"],"azs":["z1"]}]}"#;
    const PERSISTENT: &str = r#"{"properties":{"persistence":true,"maxmemory_mb":1024,"max_clients":10000},
        "lifecycle_errands":{},"instance_groups":[{"name":"redis-server","vm_type":"medium","instances":3,
        "persistent_disk_type":"10GB","networks":["default"],"azs":["z1","z2","z3"]},
        {"name":"redis-smoke-tests","vm_type":"small","instances":1,"networks":["default"],"azs":["z1"]}],
        "update":{"canaries":1,"canary_watch_time":"30000-240000","update_watch_time":"30000-240000","max_in_flight":"25%"}}"#;

    fn deployment(version: &str) -> ServiceDeployment {
        ServiceDeployment::from_json(
            &json!({
                "deployment_name": "service-instance_abc",
                "releases": [{"name": "redis", "version": version, "jobs": ["redis-server", "redis-smoke-tests"]}],
                "stemcells": [{"stemcell_os": "ubuntu-jammy", "stemcell_version": "1.404"}],
            })
            .to_string(),
        )
        .unwrap()
    }

    fn params(
        plan: &str, arbitrary: Value, previous: Option<&BoshManifest>,
    ) -> GenerateManifestParams {
        let plan = Plan::from_json(plan).unwrap();
        GenerateManifestParams {
            service_deployment: deployment("7.2.4"),
            previous_plan: previous.map(|_| plan.clone()),
            plan,
            request_params: RequestParameters(
                json!({"service_id": "svc", "plan_id": "p", "parameters": arbitrary})
                    .as_object()
                    .unwrap()
                    .clone(),
            ),
            previous_manifest: previous.cloned(),
            ..GenerateManifestParams::default()
        }
    }

    fn create(plan: &str, arbitrary: Value) -> BoshManifest {
        generate_manifest_with(&params(plan, arbitrary, None), || "first-password".into())
            .unwrap()
            .manifest
    }

    fn update(
        plan: &str, arbitrary: Value, previous: &BoshManifest,
    ) -> Result<BoshManifest, String> {
        generate_manifest_with(&params(plan, arbitrary, Some(previous)), || {
            panic!("the password must never be regenerated on update")
        })
        .map(|o| o.manifest)
        .map_err(|e| e.to_string())
    }

    fn redis(manifest: &BoshManifest) -> Value {
        Value::Object(redis_properties(manifest).unwrap().clone())
    }

    const SECURE_SMALL: &str = r#"{"properties":{"persistence":false,"maxmemory_mb":256,"max_clients":1000,"secure_password":true},
        "lifecycle_errands":{},"instance_groups":[{"name":"redis-server","vm_type":"small","instances":1,
        "networks":["default"],"azs":["z1"]}]}"#;

    #[test]
    fn with_secure_password_the_manifest_holds_a_variable_not_a_password() {
        let created = generate_manifest(&params(SECURE_SMALL, json!({}), None)).unwrap().manifest;
        assert_eq!(redis(&created)["password"], "((admin_password))");
        assert_eq!(created.variables.len(), 1);
        assert_eq!(created.variables[0].name, "admin_password");
        assert_eq!(created.variables[0].var_type, "password");
        // Kept on update, with its declaration, so the director keeps the value.
        let updated = update(SECURE_SMALL, json!({"maxclients": 500}), &created).unwrap();
        assert_eq!(redis(&updated)["password"], "((admin_password))");
        assert_eq!(updated.variables, created.variables);
        // Plans without it are as before: a literal password and no variables.
        assert!(create(CACHE_SMALL, json!({})).variables.is_empty());
    }

    #[test]
    fn new_instance_takes_plan_properties_and_a_fresh_password() {
        let output = generate_manifest(&params(CACHE_SMALL, json!({}), None)).unwrap();
        let m = &output.manifest;
        assert_eq!(m.name, "service-instance_abc");
        assert_eq!(m.releases.len(), 1);
        assert_eq!(m.stemcells[0].alias, STEMCELL_ALIAS);
        assert_eq!(m.stemcells[0].version, "1.404");
        assert_eq!(m.instance_groups.len(), 1);
        let r = redis(m);
        assert_eq!(r["port"], 6379);
        assert_eq!(r["maxclients"], 1000);
        assert_eq!(r["maxmemory"], "256mb");
        assert_eq!(r["maxmemory_policy"], "allkeys-lru");
        assert_eq!(r["persistence"], "no");
        let password = r["password"].as_str().unwrap();
        assert_eq!(password.len(), 32);
        assert!(password.chars().all(|c| c.is_ascii_alphanumeric()));
        assert_eq!(output.odb_managed_secrets, None);
        assert_eq!(output.configs, None);
        assert_eq!(output.labels["service"], "redis-example");
        let second = generate_manifest(&params(CACHE_SMALL, json!({}), None)).unwrap();
        assert_ne!(redis(&second.manifest)["password"], r["password"]);
    }

    #[test]
    fn persistent_plan_gets_an_errand_group_and_the_plan_update_block() {
        let m = create(PERSISTENT, json!({}));
        let r = redis(&m);
        assert_eq!(r["persistence"], "yes");
        assert_eq!(r["maxmemory_policy"], "noeviction");
        assert_eq!(r["maxmemory"], "1024mb");
        assert_eq!(m.instance_groups[0].instances, 3);
        assert_eq!(m.instance_groups[0].persistent_disk_type, "10GB");
        let errand = &m.instance_groups[1];
        assert_eq!(errand.name, SMOKE_TESTS);
        assert_eq!(errand.lifecycle, "errand");
        assert_eq!(errand.jobs[0].name, SMOKE_TESTS);
        assert!(errand.jobs[0].properties.is_empty());
        let update = m.update.unwrap();
        assert_eq!(update.max_in_flight, MaxInFlight::Percent("25%".into()));
        assert_eq!(update.canaries, 1);
    }

    #[test]
    fn update_block_is_always_present() {
        let m = create(CACHE_SMALL, json!({}));
        assert_eq!(
            m.update,
            Some(bosh::Update {
                canaries: 1,
                canary_watch_time: DEFAULT_WATCH_TIME.into(),
                update_watch_time: DEFAULT_WATCH_TIME.into(),
                max_in_flight: MaxInFlight::Count(1),
                ..bosh::Update::default()
            })
        );
        assert!(m.to_yaml().unwrap().contains("\nupdate:\n  canaries: 1\n"));
    }

    #[test]
    fn yes_and_no_are_quoted_in_the_yaml() {
        let on = create(PERSISTENT, json!({})).to_yaml().unwrap();
        assert!(on.contains("        persistence: \"yes\"\n"), "{on}");
        let off = create(CACHE_SMALL, json!({})).to_yaml().unwrap();
        assert!(off.contains("        persistence: \"no\"\n"), "{off}");
        let parsed = BoshManifest::from_yaml(&on).unwrap().unwrap();
        assert_eq!(redis(&parsed)["persistence"], json!("yes"));
    }

    #[test]
    fn parameters_beat_the_previous_manifest_which_beats_the_plan() {
        let first =
            create(CACHE_SMALL, json!({"maxclients": 700, "maxmemory_policy": "volatile-ttl"}));
        assert_eq!(redis(&first)["maxclients"], 700);
        let kept = update(CACHE_SMALL, json!({}), &first).unwrap();
        assert_eq!(redis(&kept)["maxclients"], 700);
        assert_eq!(redis(&kept)["maxmemory_policy"], "volatile-ttl");
        let changed = update(CACHE_SMALL, json!({"maxclients": 800}), &kept).unwrap();
        assert_eq!(redis(&changed)["maxclients"], 800);
        assert_eq!(redis(&changed)["maxmemory_policy"], "volatile-ttl");
    }

    #[test]
    fn unchanged_update_reproduces_the_deployed_manifest() {
        let first = create(PERSISTENT, json!({"maxclients": 42}));
        assert_eq!(update(PERSISTENT, json!({}), &first).unwrap(), first);
    }

    #[test]
    fn password_is_kept_on_update_and_upgrade() {
        let first = create(CACHE_SMALL, json!({}));
        let updated = update(CACHE_SMALL, json!({"maxclients": 10}), &first).unwrap();
        assert_eq!(redis(&updated)["password"], "first-password");
        let mut upgrade = params(CACHE_SMALL, json!({}), Some(&first));
        upgrade.request_params =
            RequestParameters(json!({"context": null}).as_object().unwrap().clone());
        let upgraded = generate_manifest_with(&upgrade, || panic!("regenerated")).unwrap().manifest;
        assert_eq!(redis(&upgraded)["password"], "first-password");
    }

    #[test]
    fn previous_manifest_without_password_is_refused() {
        let mut first = create(CACHE_SMALL, json!({}));
        first.instance_groups[0].jobs[0].properties["redis"]
            .as_object_mut()
            .unwrap()
            .remove("password");
        let err = update(CACHE_SMALL, json!({}), &first).unwrap_err();
        assert!(err.contains("no redis.password"), "{err}");
    }

    #[test]
    fn scale_down_is_refused() {
        let first = create(PERSISTENT, json!({}));
        let fewer = PERSISTENT.replace(r#""instances":3"#, r#""instances":2"#);
        assert_eq!(
            update(&fewer, json!({}), &first).unwrap_err(),
            "cannot reduce redis-server from 3 to 2 instances: data would be lost. Create a new \
             instance with the smaller plan and migrate your data instead."
        );
        let err = update(CACHE_SMALL, json!({}), &first).unwrap_err();
        assert!(err.starts_with("cannot reduce redis-server from 3 to 1"), "{err}");
        let more = PERSISTENT.replace(r#""instances":3"#, r#""instances":5"#);
        assert!(update(&more, json!({}), &first).is_ok());
    }

    #[test]
    fn turning_persistence_off_is_refused() {
        let first = create(PERSISTENT, json!({}));
        let err = update(PERSISTENT, json!({"persistence": false}), &first).unwrap_err();
        assert!(err.starts_with("cannot turn persistence off"), "{err}");
        let three_small = CACHE_SMALL.replace(r#""instances":1"#, r#""instances":3"#);
        let err = update(&three_small, json!({}), &first).unwrap_err();
        assert!(err.starts_with("this plan does not support persistence"), "{err}");
        let cache_on_persistent_plan = create(PERSISTENT, json!({"persistence": false}));
        assert_eq!(redis(&cache_on_persistent_plan)["persistence"], "no");
        let turned_on =
            update(PERSISTENT, json!({"persistence": true}), &cache_on_persistent_plan).unwrap();
        assert_eq!(redis(&turned_on)["persistence"], "yes");
    }

    #[test]
    fn unknown_and_bad_parameters_are_refused() {
        let err =
            generate_manifest(&params(CACHE_SMALL, json!({"foo": 1, "bar": 2}), None)).unwrap_err();
        assert_eq!(
            err,
            AdapterError::other("unsupported parameter(s) for this service plan: bar, foo")
        );
        let err = generate_manifest(&params(CACHE_SMALL, json!({"maxclients": 5000}), None))
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("invalid value for parameter maxclients: 5000"), "{err}");
    }

    #[test]
    fn previous_maxclients_above_the_new_plan_is_lowered() {
        let mut first = create(CACHE_SMALL, json!({}));
        first.instance_groups[0].jobs[0].properties["redis"]["maxclients"] = json!(5000);
        let m = update(CACHE_SMALL, json!({}), &first).unwrap();
        assert_eq!(redis(&m)["maxclients"], 1000);
    }

    #[test]
    fn release_downgrade_is_refused() {
        let first = create(CACHE_SMALL, json!({}));
        let mut p = params(CACHE_SMALL, json!({}), Some(&first));
        p.service_deployment = deployment("7.2.3");
        let err = generate_manifest_with(&p, String::new).unwrap_err().to_string();
        assert!(
            err.starts_with(
                "error generating manifest: new release version 7.2.3 is lower than existing release version 7.2.4"
            ),
            "{err}"
        );
        p.service_deployment = deployment("7.10.0");
        assert!(generate_manifest_with(&p, String::new).is_ok());
    }

    #[test]
    fn operator_mistakes_are_explained() {
        let mut p = params(CACHE_SMALL, json!({}), None);
        p.service_deployment.stemcells.clear();
        let err = generate_manifest(&p).unwrap_err().to_string();
        assert!(err.starts_with("no stemcell provided"), "{err}");

        let mut p = params(CACHE_SMALL, json!({}), None);
        p.service_deployment.releases[0].jobs = vec!["other".into()];
        assert_eq!(
            generate_manifest(&p).unwrap_err().to_string(),
            "error gathering jobs: job 'redis-server' not provided"
        );

        let p = params(&CACHE_SMALL.replace("\"redis-server\"", "\"cache\""), json!({}), None);
        let err = generate_manifest(&p).unwrap_err().to_string();
        assert!(err.contains("no redis-server instance group"), "{err}");

        let p = params(&CACHE_SMALL.replace("256", "\"lots\""), json!({}), None);
        let err = generate_manifest(&p).unwrap_err().to_string();
        assert!(err.starts_with("invalid plan property maxmemory_mb"), "{err}");
    }

    #[test]
    fn versions_compare_numerically() {
        assert_eq!(compare_versions("7.10.0", "7.9.9"), Ordering::Greater);
        assert_eq!(compare_versions("7.2.4", "7.2.4"), Ordering::Equal);
        assert_eq!(compare_versions("0.0.9", "0.1.0"), Ordering::Less);
        assert_eq!(compare_versions("0+dev.10", "0+dev.9"), Ordering::Greater);
        assert_eq!(compare_versions("7.2", "7.2.1"), Ordering::Less);
    }
}

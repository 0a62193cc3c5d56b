//! [`BrokerConfig`]: a builder for the broker's YAML config file, with defaults that suit the
//! black-box tests (the test adapter, the simulated director with instant tasks, a database in a
//! temporary directory, two plans).

use serde_json::Value;
use serde_yaml::{Mapping, Value as Yaml};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tempfile::TempDir;

/// The catalog's service offering id.
pub const SERVICE_ID: &str = "test-service-id";
/// The catalog's service offering name.
pub const SERVICE_NAME: &str = "test-service";
/// The default small plan: one `redis-server` instance.
pub const PLAN_SMALL: &str = "plan-small";
/// The default large plan: three `redis-server` instances.
pub const PLAN_LARGE: &str = "plan-large";

/// One instance group of a plan in the broker config.
#[derive(Clone, Debug)]
pub struct InstanceGroupConfig {
    /// Instance group name (the default is `redis-server`).
    pub name: String,
    /// VM type.
    pub vm_type: String,
    /// Number of instances.
    pub instances: u32,
    /// Network names.
    pub networks: Vec<String>,
    /// Availability zones.
    pub azs: Vec<String>,
    /// Extra keys for the group (for example `lifecycle: errand`), merged over the others.
    pub extra: Mapping,
}

impl InstanceGroupConfig {
    /// A group with `vm_type: small`, network `default` and AZ `z1`.
    pub fn new(name: &str, instances: u32) -> Self {
        InstanceGroupConfig {
            name: name.into(),
            vm_type: "small".into(),
            instances,
            networks: vec!["default".into()],
            azs: vec!["z1".into()],
            extra: Mapping::new(),
        }
    }

    /// Renders the group as YAML.
    pub fn render(&self) -> Yaml {
        let mut group = Mapping::new();
        group.insert("name".into(), self.name.clone().into());
        group.insert("vm_type".into(), self.vm_type.clone().into());
        group.insert("instances".into(), self.instances.into());
        group.insert("networks".into(), strings(&self.networks));
        group.insert("azs".into(), strings(&self.azs));
        let mut group = Yaml::Mapping(group);
        merge(&mut group, &Yaml::Mapping(self.extra.clone()));
        group
    }
}

/// One plan of the service catalog in the broker config.
#[derive(Clone, Debug)]
pub struct PlanConfig {
    /// Plan id.
    pub plan_id: String,
    /// Plan name.
    pub name: String,
    /// Plan description.
    pub description: String,
    /// Plan properties, passed to the adapter (a JSON object).
    pub properties: Value,
    /// Instance groups.
    pub instance_groups: Vec<InstanceGroupConfig>,
    /// Extra keys for the plan (for example `lifecycle_errands`, `update`, `bindable`), merged
    /// over the others.
    pub extra: Mapping,
}

impl PlanConfig {
    /// A plan with one `redis-server` group of `instances` instances and no properties.
    pub fn new(plan_id: &str, name: &str, instances: u32) -> Self {
        PlanConfig {
            plan_id: plan_id.into(),
            name: name.into(),
            description: format!("a {name} plan"),
            properties: Value::Object(Default::default()),
            instance_groups: vec![InstanceGroupConfig::new("redis-server", instances)],
            extra: Mapping::new(),
        }
    }

    /// Renders the plan as YAML.
    pub fn render(&self) -> Yaml {
        let mut plan = Mapping::new();
        plan.insert("plan_id".into(), self.plan_id.clone().into());
        plan.insert("name".into(), self.name.clone().into());
        plan.insert("description".into(), self.description.clone().into());
        plan.insert("properties".into(), to_yaml(&self.properties));
        plan.insert(
            "instance_groups".into(),
            Yaml::Sequence(self.instance_groups.iter().map(InstanceGroupConfig::render).collect()),
        );
        let mut plan = Yaml::Mapping(plan);
        merge(&mut plan, &Yaml::Mapping(self.extra.clone()));
        plan
    }
}

/// Builder for the broker's YAML config; owns the temporary directory that holds the config file,
/// the database and the adapter's state directory.
///
/// Defaults: credentials `admin` / `password`, the test adapter with a 10 s timeout, the simulated
/// director with `task_seconds: 0`, service [`SERVICE_ID`] with plans [`PLAN_SMALL`] (1 instance)
/// and [`PLAN_LARGE`] (3 instances).
#[derive(Clone, Debug)]
pub struct BrokerConfig {
    dir: Arc<TempDir>,
    /// Basic-auth user name.
    pub username: String,
    /// Basic-auth password.
    pub password: String,
    /// Path of the service adapter executable.
    pub adapter_path: PathBuf,
    /// Adapter timeout in seconds.
    pub adapter_timeout_seconds: u64,
    /// How long the simulated director takes per task, in seconds.
    pub task_seconds: u64,
    /// Whether the service is bindable.
    pub bindable: bool,
    /// Whether plans can be changed by update.
    pub plan_updatable: bool,
    /// Catalog plans.
    pub plans: Vec<PlanConfig>,
    /// Keys deep-merged over the rendered config at the top level.
    pub extra_yaml: Yaml,
    /// A `bosh:` section that replaces `simulated_director` (see [`BrokerConfig::bosh`]).
    pub bosh: Option<Yaml>,
    /// A PostgreSQL database instead of the SQLite file (see [`BrokerConfig::postgres`]).
    pub database_url: Option<String>,
}

/// The environment variable that runs the black-box suite on PostgreSQL: with
/// `BROKER_TEST_DATABASE=postgres`, every [`BrokerConfig::new`] gets a fresh database on the
/// test process's throw-away cluster (see `crate::postgres`); without PostgreSQL installed
/// it stays on SQLite, unless `POSTGRES_REQUIRED=1` makes that a failure.
pub const DATABASE_VAR: &str = "BROKER_TEST_DATABASE";

/// The encryption key of brokers on PostgreSQL (which needs configured keys).
pub const POSTGRES_KEY_SECRET: &str = "a-test-key-secret-of-at-least-32-bytes";

/// True when this test process runs the suite on PostgreSQL ([`DATABASE_VAR`]).
pub fn suite_on_postgres() -> bool {
    std::env::var(DATABASE_VAR).as_deref() == Ok("postgres")
}

impl Default for BrokerConfig {
    fn default() -> Self {
        Self::new()
    }
}

impl BrokerConfig {
    /// The default config, in a new temporary directory.
    pub fn new() -> Self {
        let dir = tempfile::Builder::new()
            .prefix("broker-test-")
            .tempdir()
            .expect("cannot create a temporary directory");
        BrokerConfig {
            dir: Arc::new(dir),
            username: "admin".into(),
            password: "password".into(),
            adapter_path: crate::test_adapter_binary(),
            adapter_timeout_seconds: 10,
            task_seconds: 0,
            bindable: true,
            plan_updatable: true,
            plans: vec![
                PlanConfig::new(PLAN_SMALL, "small", 1),
                PlanConfig::new(PLAN_LARGE, "large", 3),
            ],
            extra_yaml: Yaml::Mapping(Mapping::new()),
            bosh: None,
            // Without PostgreSQL installed (and not required), the suite runs on SQLite
            // again; `crate::postgres::shared` has said why.
            database_url: suite_on_postgres()
                .then(|| crate::postgres::shared().map(|c| c.database()))
                .flatten(),
        }
    }

    /// The rows `sql` selects (one text per row, columns joined by `|`) when the broker keeps
    /// its state in PostgreSQL; `None` on SQLite (read the file with rusqlite then).
    pub fn postgres_query(&self, sql: &str) -> Option<Vec<String>> {
        let name = self.database_name()?;
        let cluster = crate::postgres::shared()?;
        let out = cluster.psql(&name, sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
        Some(out.lines().map(str::to_string).collect())
    }

    /// The name of the PostgreSQL database the broker keeps its state in, if it does.
    pub fn database_name(&self) -> Option<String> {
        let url = self.database_url.as_ref()?;
        Some(url.rsplit('/').next()?.split('?').next()?.to_string())
    }

    /// Keeps the state in the SQLite file whatever the suite runs on: for the tests of what
    /// the broker does with its files.
    pub fn sqlite(mut self) -> Self {
        self.database_url = None;
        self
    }

    /// Keeps the state in the PostgreSQL database `url` (several brokers started from this
    /// config share it: replicas).
    pub fn postgres(mut self, url: impl Into<String>) -> Self {
        self.database_url = Some(url.into());
        self
    }

    /// Deploys to a real (or fake) BOSH director: renders `bosh: <section>` instead of
    /// `simulated_director`.
    pub fn bosh(mut self, section: Yaml) -> Self {
        self.bosh = Some(section);
        self
    }

    /// The temporary directory that holds the config file and the database.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// A shared handle on the temporary directory (it is deleted when the last handle drops).
    pub fn dir_handle(&self) -> Arc<TempDir> {
        Arc::clone(&self.dir)
    }

    /// Where the broker's database lives.
    pub fn database_path(&self) -> PathBuf {
        self.dir().join("broker.db")
    }

    /// Where the config file is written.
    pub fn config_path(&self) -> PathBuf {
        self.dir().join("broker.yml")
    }

    /// The adapter's state directory (`<dir>/adapter-state`), used by
    /// [`BrokerConfig::with_adapter_state_dir`].
    pub fn adapter_state_dir(&self) -> PathBuf {
        self.dir().join("adapter-state")
    }

    /// Sets the basic-auth credentials.
    pub fn credentials(mut self, username: &str, password: &str) -> Self {
        self.username = username.into();
        self.password = password.into();
        self
    }

    /// Sets the adapter executable.
    pub fn adapter_path(mut self, path: impl Into<PathBuf>) -> Self {
        self.adapter_path = path.into();
        self
    }

    /// Sets the adapter timeout.
    pub fn adapter_timeout_seconds(mut self, seconds: u64) -> Self {
        self.adapter_timeout_seconds = seconds;
        self
    }

    /// Sets how long each simulated director task takes.
    pub fn task_seconds(mut self, seconds: u64) -> Self {
        self.task_seconds = seconds;
        self
    }

    /// Sets whether the service is bindable.
    pub fn bindable(mut self, bindable: bool) -> Self {
        self.bindable = bindable;
        self
    }

    /// Sets whether plans can be changed by update.
    pub fn plan_updatable(mut self, updatable: bool) -> Self {
        self.plan_updatable = updatable;
        self
    }

    /// Replaces the properties of plan `plan_id` (a JSON object). Panics if there is no such plan.
    pub fn plan_properties(mut self, plan_id: &str, properties: Value) -> Self {
        self.plan_mut(plan_id).properties = properties;
        self
    }

    /// Sets one property of plan `plan_id`. Panics if there is no such plan.
    pub fn plan_property(mut self, plan_id: &str, key: &str, value: Value) -> Self {
        set_key(&mut self.plan_mut(plan_id).properties, key, value);
        self
    }

    /// Sets one property on every plan.
    pub fn property_on_all_plans(mut self, key: &str, value: Value) -> Self {
        for plan in &mut self.plans {
            set_key(&mut plan.properties, key, value.clone());
        }
        self
    }

    /// Scripts the test adapter for plan `plan_id`: `script` is an `adapter_script` value, keyed by
    /// subcommand (`{"create-binding": {"exit_code": 49}}`).
    pub fn adapter_script(self, plan_id: &str, script: Value) -> Self {
        self.plan_property(plan_id, "adapter_script", script)
    }

    /// Makes the test adapter log every invocation to [`BrokerConfig::adapter_state_dir`] (on
    /// every plan); read the log with [`read_invocations`].
    pub fn with_adapter_state_dir(self) -> Self {
        let dir = self.adapter_state_dir();
        std::fs::create_dir_all(&dir).expect("cannot create the adapter state directory");
        let dir = dir.to_string_lossy().into_owned();
        self.property_on_all_plans("adapter_state_dir", Value::String(dir))
    }

    /// Adds a plan to the catalog.
    pub fn add_plan(mut self, plan: PlanConfig) -> Self {
        self.plans.push(plan);
        self
    }

    /// Deep-merges `extra` over the rendered config (mappings merge key by key; anything else
    /// replaces).
    pub fn extra_yaml(mut self, extra: Yaml) -> Self {
        merge(&mut self.extra_yaml, &extra);
        self
    }

    /// The plan with id `plan_id`. Panics if there is no such plan.
    pub fn plan_mut(&mut self, plan_id: &str) -> &mut PlanConfig {
        self.plans
            .iter_mut()
            .find(|p| p.plan_id == plan_id)
            .unwrap_or_else(|| panic!("no plan with id {plan_id} in the test config"))
    }

    /// Renders the config file contents as a YAML value (tests may tweak it before starting the
    /// broker with [`crate::BrokerProcess::start_with_yaml`]).
    pub fn render(&self) -> Yaml {
        let yaml = serde_json::json!({
            "broker": {
                "port": 8080,
                "username": self.username,
                "password": self.password,
            },
            "service_adapter": {
                "path": self.adapter_path.to_string_lossy(),
                "timeout_seconds": self.adapter_timeout_seconds,
            },
            "service_deployment": {
                "releases": [{"name": "redis", "version": "1.0.0", "jobs": ["redis-server"]}],
                "stemcells": [{"os": "ubuntu-jammy", "version": "1.404"}],
            },
            "database": match &self.database_url {
                Some(url) => serde_json::json!({
                    "url": url,
                    "encryption": {"keys": [{"label": "test", "secret": POSTGRES_KEY_SECRET, "primary": true}]},
                }),
                None => serde_json::json!({"path": self.database_path().to_string_lossy()}),
            },
            "simulated_director": {"task_seconds": self.task_seconds},
            "service_catalog": {
                "id": SERVICE_ID,
                "service_name": SERVICE_NAME,
                "service_description": "a test service",
                "bindable": self.bindable,
                "plan_updatable": self.plan_updatable,
            },
        });
        let mut yaml = to_yaml(&yaml);
        let plans = Yaml::Sequence(self.plans.iter().map(PlanConfig::render).collect());
        if let Some(catalog) = yaml.get_mut("service_catalog").and_then(Yaml::as_mapping_mut) {
            catalog.insert("plans".into(), plans);
        }
        if let (Some(bosh), Some(root)) = (&self.bosh, yaml.as_mapping_mut()) {
            root.remove("simulated_director");
            root.insert("bosh".into(), bosh.clone());
        }
        merge(&mut yaml, &self.extra_yaml);
        yaml
    }
}

/// Converts JSON to YAML.
fn to_yaml(value: &Value) -> Yaml {
    serde_yaml::to_value(value).expect("a JSON value always converts to YAML")
}

/// A YAML sequence of strings.
fn strings(items: &[String]) -> Yaml {
    Yaml::Sequence(items.iter().cloned().map(Yaml::from).collect())
}

/// Sets `key` in a JSON object, turning a non-object into an empty object first.
fn set_key(target: &mut Value, key: &str, value: Value) {
    if !target.is_object() {
        *target = Value::Object(Default::default());
    }
    if let Value::Object(map) = target {
        map.insert(key.into(), value);
    }
}

/// Deep-merges `extra` into `base`: mappings merge key by key, anything else replaces.
fn merge(base: &mut Yaml, extra: &Yaml) {
    match (base, extra) {
        (Yaml::Mapping(base), Yaml::Mapping(extra)) => {
            for (key, value) in extra {
                match base.get_mut(key) {
                    Some(existing) => merge(existing, value),
                    None => {
                        base.insert(key.clone(), value.clone());
                    }
                }
            }
        }
        (base, extra) => *base = extra.clone(),
    }
}

/// Reads the test adapter's invocation log (`<state_dir>/invocations.jsonl`), one JSON value per
/// invocation, oldest first; empty if the adapter has not run yet.
pub fn read_invocations(state_dir: &Path) -> Vec<Value> {
    read_lines(&state_dir.join("invocations.jsonl"))
        .iter()
        .map(|line| serde_json::from_str(line).expect("invocations.jsonl holds a bad line"))
        .collect()
}

/// Reads the pids of children spawned by scripted test-adapter runs (`spawn_child_sleep_seconds`).
pub fn read_child_pids(state_dir: &Path) -> Vec<u32> {
    read_lines(&state_dir.join("child_pids"))
        .iter()
        .filter_map(|line| line.trim().parse().ok())
        .collect()
}

/// The non-empty lines of a file, or nothing if it does not exist.
fn read_lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(str::to_string)
        .collect()
}

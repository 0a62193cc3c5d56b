//! Configuration types: the raw shape read from YAML, and the validated form the broker uses.

use crate::ids::{PlanId, ServiceId};
use serde::{Deserialize, Serialize};
use serde_json::Value as JsonValue;
use service_adapter::{InstanceGroup, LifecycleErrands, Properties, Update};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

/// The configuration file as written by the operator, before validation.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct RawConfig {
    /// `broker:` — listener, credentials and feature flags.
    pub broker: RawBroker,
    /// `service_adapter:` — the adapter executable.
    pub service_adapter: RawServiceAdapter,
    /// `service_deployment:` — releases and stemcells handed to the adapter.
    pub service_deployment: ServiceDeploymentConfig,
    /// `service_catalog:` — the one service offering and its plans.
    pub service_catalog: Option<ServiceCatalog>,
    /// `database:` — where the broker keeps its state.
    pub database: RawDatabase,
    /// `bosh:` — a real BOSH director.
    pub bosh: Option<BoshConfig>,
    /// `simulated_director:` — the built-in simulated director.
    pub simulated_director: Option<SimulatedDirectorConfig>,
    /// `cf:` — accepted for compatibility with Go broker configs; not used.
    pub cf: Option<serde_yaml::Value>,
    /// `credhub:` — the runtime CredHub that keeps binding credentials.
    pub credhub: Option<RawRuntimeCredhub>,
    /// `bosh_credhub:` — the director's CredHub, for secure manifests.
    pub bosh_credhub: Option<RawBoshCredhub>,
    /// `service_instances_api:` — accepted for compatibility; not used.
    pub service_instances_api: Option<serde_yaml::Value>,
    /// `logging:` — how the broker writes its log.
    pub logging: RawLogging,
}

/// `logging:` as written.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct RawLogging {
    /// `text` (default) or `json`.
    pub format: Option<String>,
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// Validated `logging:` settings.
#[derive(Debug, Clone, Default)]
pub struct LoggingSettings {
    /// The line format.
    pub format: LogFormat,
}

/// `broker:` as written.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct RawBroker {
    pub host: Option<String>,
    pub port: Option<u16>,
    pub username: Option<String>,
    pub password: Option<String>,
    pub disable_bosh_configs: bool,
    pub expose_operational_errors: bool,
    pub enable_plan_schemas: bool,
    pub use_stdin: Option<bool>,
    pub skip_check_for_pending_changes: bool,
    pub shutdown_timeout_in_seconds: Option<u64>,
    pub support_backup_agent_binding: bool,
    pub worker_interval_millis: Option<u64>,
    /// How long a replica's lease on an operation lasts without renewal.
    pub operation_lease_millis: Option<u64>,
    pub readiness_interval_millis: Option<u64>,
    /// Signed so that a negative value is reported by validation, naming the key.
    pub max_connections: Option<i64>,
    /// Signed for the same reason.
    pub http_workers: Option<i64>,
    /// Signed for the same reason.
    pub blocking_threads: Option<i64>,
    // Keys of the Go broker that are recognised and have no effect here.
    pub disable_ssl_cert_verification: Option<bool>,
    pub startup_banner: Option<bool>,
    pub disable_cf_startup_checks: Option<bool>,
    pub enable_secure_manifests: Option<bool>,
    pub enable_telemetry: Option<bool>,
    pub enable_optimised_upgrades: Option<bool>,
    pub tls: Option<TlsConfig>,
}

/// `broker.tls:` — serve HTTPS with this certificate and key (PEM files).
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(default)]
pub struct TlsConfig {
    /// The certificate chain, leaf first.
    pub cert_file: String,
    /// The private key.
    pub key_file: String,
}

/// `service_adapter:` as written.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct RawServiceAdapter {
    pub path: Option<String>,
    pub builtin: Option<String>,
    pub timeout_seconds: Option<f64>,
    pub max_output_bytes: Option<usize>,
    pub use_stdin: Option<bool>,
    /// Must be `true` for `use_stdin: false`: legacy argv mode puts manifests and binding
    /// documents, credentials included, on the adapter's command line.
    pub allow_secrets_on_argv: Option<bool>,
    pub mount_paths: Option<serde_yaml::Value>,
}

/// `database:` as written.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct RawDatabase {
    /// `database.path:` — the SQLite file (the default: `data/broker.db`).
    pub path: Option<String>,
    /// `database.url:` — a PostgreSQL database instead (`postgres://…`, `${ENV}` allowed),
    /// which several replicas can share.
    pub url: Option<String>,
    /// `database.encryption:` — the keys that seal the secrets in the database.
    pub encryption: Option<RawEncryption>,
}

/// `database.encryption:` as written.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct RawEncryption {
    /// `database.encryption.keys:` — the root keys; exactly one is primary.
    pub keys: Option<Vec<RawEncryptionKey>>,
}

/// One entry of `database.encryption.keys` as written. `secret` may be `${ENV_VAR}`.
#[derive(Clone, Default, Deserialize)]
#[serde(default)]
pub struct RawEncryptionKey {
    pub label: Option<String>,
    pub secret: Option<String>,
    pub primary: Option<bool>,
}

impl std::fmt::Debug for RawEncryptionKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RawEncryptionKey")
            .field("label", &self.label)
            .field("secret", &self.secret.as_ref().map(|_| "[redacted]"))
            .field("primary", &self.primary)
            .finish()
    }
}

/// `service_deployment:` — the releases and stemcells every instance is deployed with.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(default)]
pub struct ServiceDeploymentConfig {
    pub releases: Vec<ReleaseConfig>,
    pub stemcells: Vec<StemcellConfig>,
    /// Legacy single stemcell, as older configs wrote it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stemcell: Option<StemcellConfig>,
}

/// One BOSH release.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(default)]
pub struct ReleaseConfig {
    pub name: String,
    pub version: String,
    pub jobs: Vec<String>,
}

/// One stemcell.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(default)]
pub struct StemcellConfig {
    pub os: String,
    pub version: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub name: String,
}

/// A server the broker calls, as written (the Go broker's keys): `bosh:` and
/// `bosh_credhub:` have the same three keys and differ in how the broker may authenticate.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default)]
pub struct RawServer<A> {
    /// Its base URL.
    pub url: String,
    /// PEM certificate(s) trusted in addition to the system roots.
    pub root_ca_cert: Option<String>,
    /// How the broker authenticates to it.
    pub authentication: Option<A>,
}

impl<A> Default for RawServer<A> {
    fn default() -> Self {
        Self { url: String::new(), root_ca_cert: None, authentication: None }
    }
}

/// `bosh:` — a real director, as written.
pub type BoshConfig = RawServer<RawBoshAuthentication>;

/// `bosh.authentication:` as written: exactly one of `basic` and `uaa`.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct RawBoshAuthentication {
    pub basic: Option<RawBasicAuth>,
    pub uaa: Option<RawUaaAuth>,
}

/// `bosh.authentication.basic:` as written.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct RawBasicAuth {
    pub username: String,
    pub password: String,
}

/// `bosh.authentication.uaa:` as written. `url` is accepted for compatibility; the UAA URL is
/// always the one the director advertises in `/info`.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct RawUaaAuth {
    pub url: Option<String>,
    pub client_credentials: RawClientCredentials,
}

/// `bosh.authentication.uaa.client_credentials:` as written.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct RawClientCredentials {
    pub client_id: String,
    pub client_secret: String,
}

/// The validated `bosh:` section.
#[derive(Debug, Clone, PartialEq)]
pub struct BoshSettings {
    /// The director's base URL, without a trailing slash (`https://10.0.0.6:25555`).
    pub url: String,
    /// PEM certificate(s) trusted in addition to the system roots, for the director and UAA.
    pub root_ca_cert: Option<String>,
    /// How the broker authenticates to the director.
    pub auth: BoshAuth,
}

/// How the broker authenticates to the director. `Debug` never shows the secrets.
#[derive(Clone, PartialEq)]
pub enum BoshAuth {
    /// HTTP basic auth with a director user.
    Basic {
        /// The user name.
        username: String,
        /// The password.
        password: String,
    },
    /// A UAA client-credentials token from the UAA the director advertises.
    Uaa {
        /// The UAA client id.
        client_id: String,
        /// The UAA client secret.
        client_secret: String,
    },
}

impl BoshAuth {
    /// `basic` or `uaa`, for logs.
    pub fn mode(&self) -> &'static str {
        match self {
            Self::Basic { .. } => "basic",
            Self::Uaa { .. } => "uaa",
        }
    }
}

impl std::fmt::Debug for BoshAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Basic { username, .. } => f
                .debug_struct("Basic")
                .field("username", username)
                .field("password", &"<redacted>")
                .finish(),
            Self::Uaa { client_id, .. } => f
                .debug_struct("Uaa")
                .field("client_id", client_id)
                .field("client_secret", &"<redacted>")
                .finish(),
        }
    }
}

/// `bosh_credhub:` as written: the director's CredHub.
pub type RawBoshCredhub = RawServer<RawCredhubAuthentication>;

/// `bosh_credhub.authentication:` as written: UAA client credentials only.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct RawCredhubAuthentication {
    pub uaa: Option<RawUaaAuth>,
}

/// `credhub:` as written (the Go broker's keys): the runtime CredHub.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct RawRuntimeCredhub {
    pub api_url: String,
    pub ca_cert: Option<String>,
    pub client_id: String,
    pub client_secret: String,
    pub internal_uaa_ca_cert: Option<String>,
}

/// A validated CredHub section (`bosh_credhub:` or `credhub:`). `Debug` never shows the
/// secret.
#[derive(Clone, PartialEq)]
pub struct CredhubSettings {
    /// Which section it comes from (`bosh_credhub` or `credhub`), for messages.
    pub section: &'static str,
    /// CredHub's base URL, without a trailing slash.
    pub url: String,
    /// PEM certificate(s) trusted in addition to the system roots, for CredHub and its UAA.
    pub ca_certs: Vec<String>,
    /// The UAA client id.
    pub client_id: String,
    /// The UAA client secret.
    pub client_secret: String,
    /// The config key the client credentials are under, for messages.
    pub credentials_key: &'static str,
}

impl std::fmt::Debug for CredhubSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CredhubSettings")
            .field("section", &self.section)
            .field("url", &self.url)
            .field("ca_certs", &self.ca_certs.len())
            .field("client_id", &self.client_id)
            .field("client_secret", &"<redacted>")
            .finish()
    }
}

/// `simulated_director:` — the built-in stand-in for a BOSH director.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(default)]
pub struct SimulatedDirectorConfig {
    /// How long each simulated task takes, in seconds (0 allowed).
    pub task_seconds: f64,
}

/// `service_catalog:` — the service offering. Its id and its plans' ids are parsed here, under
/// the catalog id rule (`crate::ids`): a bad one is refused with the key that holds it.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
pub struct ServiceCatalog {
    /// `id`: the service id platforms send as `service_id`.
    pub id: ServiceId,
    #[serde(default)]
    pub service_name: String,
    #[serde(default)]
    pub service_description: String,
    #[serde(default)]
    pub bindable: bool,
    #[serde(default)]
    pub plan_updatable: bool,
    #[serde(default)]
    pub requires: Vec<String>,
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default)]
    pub metadata: Option<ServiceMetadata>,
    #[serde(default)]
    pub dashboard_client: Option<DashboardClient>,
    #[serde(default)]
    pub global_properties: Properties,
    #[serde(default)]
    pub global_quotas: Option<Quotas>,
    #[serde(default)]
    pub maintenance_info: Option<MaintenanceInfoConfig>,
    #[serde(default)]
    pub allow_context_updates: bool,
    #[serde(default)]
    pub plans: Vec<PlanConfig>,
}

/// Service metadata, published in camelCase as the catalog expects.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(default)]
pub struct ServiceMetadata {
    pub display_name: String,
    pub image_url: String,
    pub long_description: String,
    pub provider_display_name: String,
    pub documentation_url: String,
    pub support_url: String,
    pub shareable: bool,
    #[serde(flatten)]
    pub extra: BTreeMap<String, JsonValue>,
}

/// A dashboard OAuth client (Cloud Foundry extension).
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(default)]
pub struct DashboardClient {
    pub id: String,
    pub secret: String,
    pub redirect_uri: String,
}

/// Instance and resource quotas.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(default)]
pub struct Quotas {
    pub service_instance_limit: Option<u64>,
    pub resources: BTreeMap<String, ResourceQuota>,
}

/// One resource quota.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(default)]
pub struct ResourceQuota {
    pub limit: u64,
    pub cost: u64,
}

/// `maintenance_info` as configured (service- or plan-level).
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(default)]
pub struct MaintenanceInfoConfig {
    pub public: BTreeMap<String, String>,
    pub private: BTreeMap<String, String>,
    pub version: String,
    pub description: String,
}

/// One plan of the offering.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
pub struct PlanConfig {
    /// The plan id platforms send as `plan_id`.
    pub plan_id: PlanId,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub free: Option<bool>,
    #[serde(default)]
    pub bindable: Option<bool>,
    #[serde(default)]
    pub plan_updatable: Option<bool>,
    /// Whether bindings of this plan may be rotated (`predecessor_binding_id`, OSB 2.17).
    #[serde(default)]
    pub binding_rotatable: Option<bool>,
    /// How long platforms should poll an operation of this plan, in seconds (OSB 2.15).
    #[serde(default)]
    pub maximum_polling_duration: Option<u64>,
    #[serde(default)]
    pub metadata: Option<PlanMetadata>,
    #[serde(default)]
    pub quotas: Option<Quotas>,
    #[serde(default)]
    pub properties: Properties,
    #[serde(default)]
    pub instance_groups: Vec<InstanceGroup>,
    #[serde(default)]
    pub update: Option<Update>,
    #[serde(default)]
    pub lifecycle_errands: Option<LifecycleErrands>,
    #[serde(default)]
    pub maintenance_info: Option<MaintenanceInfoConfig>,
    #[serde(default)]
    pub binding_with_dns: Vec<BindingDnsConfig>,
}

/// Plan metadata, published in camelCase.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(default)]
pub struct PlanMetadata {
    pub display_name: String,
    pub bullets: Vec<String>,
    pub costs: Vec<JsonValue>,
    #[serde(flatten)]
    pub extra: BTreeMap<String, JsonValue>,
}

/// A DNS address to look up for bindings.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(default)]
pub struct BindingDnsConfig {
    pub name: String,
    pub link_provider: String,
    pub instance_group: String,
    pub properties: Option<serde_yaml::Value>,
}

/// The validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// Listener, credentials and flags.
    pub broker: BrokerSettings,
    /// How to run the service adapter.
    pub adapter: AdapterSettings,
    /// Releases and stemcells for every deployment.
    pub service_deployment: ServiceDeploymentConfig,
    /// The offering and its plans.
    pub catalog: ServiceCatalog,
    /// Where the broker keeps its state: a SQLite file or a PostgreSQL database.
    pub database: crate::store::Location,
    /// The keys that seal the secrets in the database (`database.encryption.keys`); `None`:
    /// the key file the broker generates beside the database.
    pub encryption: Option<crate::store::KeySet>,
    /// How the broker logs.
    pub logging: LoggingSettings,
    /// Which director to deploy to.
    pub director: DirectorSettings,
    /// `bosh_credhub:`: the director's CredHub, where secure manifests keep ODB-managed
    /// secrets and from where deployed variables are read.
    pub bosh_credhub: Option<CredhubSettings>,
    /// `credhub:`: the runtime CredHub that keeps binding credentials (secure bindings).
    pub credhub: Option<CredhubSettings>,
}

/// Validated `broker:` settings.
#[derive(Debug, Clone)]
pub struct BrokerSettings {
    pub host: String,
    pub port: u16,
    pub username: String,
    pub password: String,
    /// True when the credentials are the embedded defaults (a warning is logged).
    pub default_credentials: bool,
    pub disable_bosh_configs: bool,
    pub expose_operational_errors: bool,
    pub enable_plan_schemas: bool,
    pub skip_check_for_pending_changes: bool,
    pub support_backup_agent_binding: bool,
    /// `broker.enable_secure_manifests`: store ODB-managed secrets and resolve manifest
    /// variables for the adapter (default false, as in the Go broker).
    pub enable_secure_manifests: bool,
    pub shutdown_timeout: Duration,
    /// How often the background worker drives in-flight operations.
    pub worker_interval: Duration,
    /// How long a replica's lease on an operation it drives lasts without renewal
    /// (`broker.operation_lease_millis`, default 15 s): after that, another replica on the
    /// same database takes the operation over.
    pub operation_lease: Duration,
    /// How often the readiness checks run; the director must have answered within three.
    pub readiness_interval: Duration,
    /// The most client connections served at once (`broker.max_connections`, default 1024).
    pub max_connections: usize,
    /// HTTP worker threads, each with its own event loop (`broker.http_workers`, default:
    /// one per core).
    pub http_workers: usize,
    /// The most threads each event loop (every HTTP worker, and the one that drives
    /// operations) starts for blocking work such as database calls
    /// (`broker.blocking_threads`, default 2).
    pub blocking_threads: usize,
    /// Serve HTTPS with this certificate and key, when set.
    pub tls: Option<TlsFiles>,
}

/// Validated `broker.tls`.
#[derive(Debug, Clone, PartialEq)]
pub struct TlsFiles {
    /// The certificate chain (PEM).
    pub cert_file: PathBuf,
    /// The private key (PEM).
    pub key_file: PathBuf,
}

/// How the broker finds and runs its service adapter.
#[derive(Debug, Clone, PartialEq)]
pub enum AdapterCommand {
    /// An executable at this path, run as `<path> <subcommand>`.
    Executable(PathBuf),
    /// The example adapter built into the broker binary, run as a separate process:
    /// `<broker binary> example-adapter <subcommand>`.
    BuiltinExample,
}

/// Validated `service_adapter:` settings.
#[derive(Debug, Clone)]
pub struct AdapterSettings {
    pub command: AdapterCommand,
    pub timeout: Duration,
    pub max_output_bytes: usize,
    /// Send input on stdin (true) or as legacy positional arguments (false). False only
    /// when the operator also set `service_adapter.allow_secrets_on_argv: true`.
    pub use_stdin: bool,
}

/// Which director the broker deploys to.
#[derive(Debug, Clone, PartialEq)]
pub enum DirectorSettings {
    /// The built-in simulated director.
    Simulated {
        /// How long each task takes.
        task_duration: Duration,
    },
    /// A real BOSH director.
    Bosh(BoshSettings),
}

impl Config {
    /// The plan with this id.
    pub fn plan(&self, plan_id: &PlanId) -> Option<&PlanConfig> {
        self.catalog.plans.iter().find(|p| p.plan_id == *plan_id)
    }

    /// The name of the plan with this id; the id itself when the plan left the catalog.
    pub fn plan_name(&self, plan_id: &PlanId) -> String {
        self.plan(plan_id).map_or_else(|| plan_id.to_string(), |p| p.name.clone())
    }
}

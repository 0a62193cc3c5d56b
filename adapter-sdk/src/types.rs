//! Wire data types shared by the broker and adapters (other than the plan and the BOSH manifest).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::bosh::BoshManifest;
use crate::plan::{Checker, ValidationError};
use crate::serde_util::{is_none_or_empty, null_default};

/// A JSON object of arbitrary values (Go's `map[string]interface{}`).
pub type Properties = serde_json::Map<String, Value>;

/// Resolved secrets, keyed by the literal reference in the manifest (`((name))`, `((/abs/path))`).
pub type ManifestSecrets = BTreeMap<String, String>;

/// BOSH DNS addresses, keyed by the name the plan's `binding_with_dns` gives them.
pub type DnsAddresses = BTreeMap<String, String>;

/// BOSH configs: config type (such as `cloud`) to YAML content.
pub type BoshConfigs = BTreeMap<String, String>;

/// Secrets the broker stores in CredHub for the adapter; the manifest refers to each key
/// `K` as `((odb_secret:K))`.
pub type OdbManagedSecrets = serde_json::Map<String, Value>;

/// The prefix of manifest references to broker-managed secrets: `((odb_secret:K))`.
pub const ODB_SECRET_PREFIX: &str = "odb_secret";

/// Exit code of a successful run.
pub const SUCCESS_EXIT_CODE: i32 = 0;
/// Exit code of any failure that has no more specific code.
pub const ERROR_EXIT_CODE: i32 = 1;
/// Exit code when the adapter does not implement the subcommand.
pub const NOT_IMPLEMENTED_EXIT_CODE: i32 = 10;
/// Exit code of delete-binding when the binding does not exist.
pub const BINDING_NOT_FOUND_ERROR_EXIT_CODE: i32 = 41;
/// Exit code of create-binding when the request carries no app GUID and one is needed.
pub const APP_GUID_NOT_PROVIDED_ERROR_EXIT_CODE: i32 = 42;
/// Exit code of create-binding when the binding already exists.
pub const BINDING_ALREADY_EXISTS_ERROR_EXIT_CODE: i32 = 49;

/// What the broker is deploying: the deployment name plus the releases and stemcells
/// the operator configured.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceDeployment {
    /// The BOSH deployment name; the manifest's `name` must equal it.
    #[serde(default, deserialize_with = "null_default")]
    pub deployment_name: String,
    /// Releases available to the manifest.
    #[serde(default, deserialize_with = "null_default")]
    pub releases: Vec<ServiceRelease>,
    /// Stemcells available to the manifest.
    #[serde(default, deserialize_with = "null_default")]
    pub stemcells: Vec<Stemcell>,
}

impl ServiceDeployment {
    /// Parses and validates a service deployment the way the Go SDK does: the deployment
    /// name must be set and `releases`/`stemcells` must be present (they may be empty;
    /// their entries are not checked).
    pub fn from_json(text: &str) -> Result<ServiceDeployment, crate::PlanError> {
        let value = crate::gojson::parse(text.as_bytes()).map_err(crate::PlanError::Unmarshal)?;
        let deployment = crate::gojson::decode::<ServiceDeployment>(
            value.clone(),
            "serviceadapter.ServiceDeployment",
        )
        .map_err(crate::PlanError::Unmarshal)?;
        validate_service_deployment_json(&value)?;
        Ok(deployment)
    }
}

/// Validates a service deployment's raw JSON with Go validator semantics.
pub fn validate_service_deployment_json(value: &Value) -> Result<(), ValidationError> {
    let mut checker = Checker::default();
    checker.required_string(value, "deployment_name", "ServiceDeployment", "DeploymentName");
    checker.required_list(value, "releases", "ServiceDeployment", "Releases");
    checker.required_list(value, "stemcells", "ServiceDeployment", "Stemcells");
    checker.finish()
}

/// A BOSH release and the jobs from it that the adapter may use.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceRelease {
    /// Release name.
    #[serde(default, deserialize_with = "null_default")]
    pub name: String,
    /// Release version.
    #[serde(default, deserialize_with = "null_default")]
    pub version: String,
    /// Job names provided by this release.
    #[serde(default, deserialize_with = "null_default")]
    pub jobs: Vec<String>,
}

/// A stemcell the deployment may use (service side: `stemcell_os`/`stemcell_version`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stemcell {
    /// Operating system, such as `ubuntu-jammy`.
    #[serde(rename = "stemcell_os", default, deserialize_with = "null_default")]
    pub os: String,
    /// Stemcell version, such as `1.404`.
    #[serde(rename = "stemcell_version", default, deserialize_with = "null_default")]
    pub version: String,
    /// Optional stemcell name; omitted when empty.
    #[serde(rename = "stemcell_name", default, skip_serializing_if = "is_none_or_empty")]
    pub name: Option<String>,
}

/// The UAA client the broker created for a service instance, if any.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceInstanceUaaClient {
    /// Comma-separated authorities.
    #[serde(default, deserialize_with = "null_default")]
    pub authorities: String,
    /// Comma-separated grant types.
    #[serde(default, deserialize_with = "null_default")]
    pub authorized_grant_types: String,
    /// Client id.
    #[serde(default, deserialize_with = "null_default")]
    pub client_id: String,
    /// Client secret.
    #[serde(default, deserialize_with = "null_default")]
    pub client_secret: String,
    /// Client name.
    #[serde(default, deserialize_with = "null_default")]
    pub name: String,
    /// Comma-separated resource ids.
    #[serde(default, deserialize_with = "null_default")]
    pub resource_ids: String,
    /// Comma-separated scopes.
    #[serde(default, deserialize_with = "null_default")]
    pub scopes: String,
}

/// The result of create-binding.
///
/// `credentials` is always emitted (`null` when `None`); the URLs are omitted when empty.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Binding {
    /// Credentials handed to the application.
    #[serde(default)]
    pub credentials: Option<Value>,
    /// Syslog drain URL, if the service offers one.
    #[serde(default, deserialize_with = "null_default", skip_serializing_if = "String::is_empty")]
    pub syslog_drain_url: String,
    /// Route service URL, if the service is a route service.
    #[serde(default, deserialize_with = "null_default", skip_serializing_if = "String::is_empty")]
    pub route_service_url: String,
    /// Backup agent URL, for backup-agent bindings.
    #[serde(default, deserialize_with = "null_default", skip_serializing_if = "String::is_empty")]
    pub backup_agent_url: String,
}

/// The result of dashboard-url.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DashboardUrl {
    /// The dashboard address for the instance.
    #[serde(default, deserialize_with = "null_default")]
    pub dashboard_url: String,
}

/// The result of generate-plan-schemas: JSON schemas for the plan's parameters.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PlanSchema {
    /// Schemas for instance create and update parameters.
    #[serde(default, deserialize_with = "null_default")]
    pub service_instance: ServiceInstanceSchema,
    /// Schemas for binding create parameters.
    #[serde(default, deserialize_with = "null_default")]
    pub service_binding: ServiceBindingSchema,
}

/// Instance-side schemas.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ServiceInstanceSchema {
    /// Schema of provision parameters.
    #[serde(default, deserialize_with = "null_default")]
    pub create: JsonSchemas,
    /// Schema of update parameters.
    #[serde(default, deserialize_with = "null_default")]
    pub update: JsonSchemas,
}

/// Binding-side schemas.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ServiceBindingSchema {
    /// Schema of bind parameters.
    #[serde(default, deserialize_with = "null_default")]
    pub create: JsonSchemas,
}

/// One JSON schema slot; `parameters` is always emitted (`null` when unset).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct JsonSchemas {
    /// The JSON schema document.
    #[serde(default)]
    pub parameters: Option<Properties>,
}

/// What a manifest generator returns.
///
/// `odb_managed_secrets` and `configs` are `Option`s so that an adapter can say "none"
/// (`None`, written as `null`) apart from "an empty set" (`Some(empty)`, written as
/// `{}`), as the Go SDK does with nil versus empty maps. Empty `labels` are omitted.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GenerateManifestOutput {
    /// The BOSH manifest to deploy.
    pub manifest: BoshManifest,
    /// Secrets for the broker to store; referenced as `((odb_secret:KEY))`.
    pub odb_managed_secrets: Option<OdbManagedSecrets>,
    /// BOSH configs (type to YAML content) to apply alongside the deployment.
    pub configs: Option<BoshConfigs>,
    /// Instance metadata labels.
    pub labels: BTreeMap<String, String>,
}

/// The generate-manifest output as it travels on stdout in stdin mode:
/// `{"manifest":"<yaml>","secrets":...,"configs":...[,"labels":...]}`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MarshalledGenerateManifest {
    /// The manifest as YAML text.
    #[serde(default, deserialize_with = "null_default")]
    pub manifest: String,
    /// Broker-managed secrets, or `null`.
    #[serde(default)]
    pub secrets: Option<OdbManagedSecrets>,
    /// BOSH configs, or `null`.
    #[serde(default)]
    pub configs: Option<BoshConfigs>,
    /// Instance labels; omitted when absent or empty.
    #[serde(default, skip_serializing_if = "labels_empty")]
    pub labels: Option<BTreeMap<String, String>>,
}

fn labels_empty(labels: &Option<BTreeMap<String, String>>) -> bool {
    labels.as_ref().is_none_or(BTreeMap::is_empty)
}

impl GenerateManifestOutput {
    /// Renders the wire form: the manifest as YAML text plus secrets, configs and labels.
    pub fn to_marshalled(&self) -> Result<MarshalledGenerateManifest, crate::yaml::YamlError> {
        Ok(MarshalledGenerateManifest {
            manifest: self.manifest.to_yaml()?,
            secrets: self.odb_managed_secrets.clone(),
            configs: self.configs.clone(),
            labels: Some(self.labels.clone()).filter(|l| !l.is_empty()),
        })
    }
}

//! The BOSH deployment manifest an adapter generates, and the VMs BOSH reports.
//!
//! Field order is emission order. Fields marked "omitted when empty" are left out of the
//! YAML when empty, as in the Go SDK; the others are always written (`update: null`,
//! `releases: []`, ...). Decoding ignores unknown keys.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::max_in_flight::{self, MaxInFlight};
use crate::serde_util::{is_false, null_default};
use crate::yaml::YamlError;
use crate::Properties;

/// Instance group name to the IP addresses of its VMs.
pub type BoshVms = BTreeMap<String, Vec<String>>;

/// `initial_deploy_az_update_strategy` value: one AZ after another.
pub const SERIAL_UPDATE: &str = "serial";
/// `initial_deploy_az_update_strategy` value: all AZs at once.
pub const PARALLEL_UPDATE: &str = "parallel";

/// A BOSH deployment manifest.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BoshManifest {
    /// Runtime addons (omitted when empty).
    #[serde(default, deserialize_with = "null_default", skip_serializing_if = "Vec::is_empty")]
    pub addons: Vec<Addon>,
    /// Deployment name; must equal the service deployment's name.
    #[serde(default, deserialize_with = "null_default")]
    pub name: String,
    /// Releases used.
    #[serde(default, deserialize_with = "null_default")]
    pub releases: Vec<Release>,
    /// Stemcells used, by alias.
    #[serde(default, deserialize_with = "null_default")]
    pub stemcells: Vec<Stemcell>,
    /// Instance groups.
    #[serde(default, deserialize_with = "null_default")]
    pub instance_groups: Vec<InstanceGroup>,
    /// Update settings (always written, `null` when `None`).
    #[serde(default)]
    pub update: Option<Update>,
    /// Deprecated global properties (omitted when empty).
    #[serde(
        default,
        deserialize_with = "null_default",
        skip_serializing_if = "Properties::is_empty"
    )]
    pub properties: Properties,
    /// Variables for the config server (omitted when empty).
    #[serde(default, deserialize_with = "null_default", skip_serializing_if = "Vec::is_empty")]
    pub variables: Vec<Variable>,
    /// Deployment tags (omitted when empty).
    #[serde(
        default,
        deserialize_with = "null_default",
        skip_serializing_if = "Properties::is_empty"
    )]
    pub tags: Properties,
    /// Director features (omitted when all unset).
    #[serde(
        default,
        deserialize_with = "null_default",
        skip_serializing_if = "BoshFeatures::is_empty"
    )]
    pub features: BoshFeatures,
}

impl BoshManifest {
    /// Renders the manifest as YAML that Go (yaml.v2) and BOSH read back identically:
    /// strings that YAML 1.1 would take for booleans, nulls or numbers are quoted.
    ///
    /// Fails when an `update` block has an invalid `max_in_flight`.
    pub fn to_yaml(&self) -> Result<String, YamlError> {
        crate::yaml::to_yaml_string(self)
    }

    /// Parses a manifest. Empty text, `null`, `~` and `---` give `Ok(None)`. Unknown keys
    /// are ignored. An `update` block (top level or per instance group) without a valid
    /// `max_in_flight` is an error.
    pub fn from_yaml(text: &str) -> Result<Option<BoshManifest>, YamlError> {
        crate::yaml::manifest_from_yaml(text)
    }
}

/// Director feature flags. Unknown flags are kept in `extra` and written inline.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BoshFeatures {
    /// Use DNS addresses instead of IPs in links.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub use_dns_addresses: Option<bool>,
    /// Randomise AZ placement of new instances.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub randomize_az_placement: Option<bool>,
    /// Use short DNS addresses.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub use_short_dns_addresses: Option<bool>,
    /// Any other features, merged into the `features` mapping.
    #[serde(flatten)]
    pub extra: Properties,
}

impl BoshFeatures {
    /// True when no feature is set (the block is then omitted).
    pub fn is_empty(&self) -> bool {
        self.use_dns_addresses.is_none()
            && self.randomize_az_placement.is_none()
            && self.use_short_dns_addresses.is_none()
            && self.extra.is_empty()
    }
}

/// A release used by the manifest.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Release {
    /// Release name.
    #[serde(default, deserialize_with = "null_default")]
    pub name: String,
    /// Release version (never `latest` for the broker).
    #[serde(default, deserialize_with = "null_default")]
    pub version: String,
}

/// A stemcell used by the manifest.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stemcell {
    /// Alias that instance groups refer to.
    #[serde(default, deserialize_with = "null_default")]
    pub alias: String,
    /// Operating system.
    #[serde(default, deserialize_with = "null_default")]
    pub os: String,
    /// Version.
    #[serde(default, deserialize_with = "null_default")]
    pub version: String,
    /// Stemcell name (omitted when empty).
    #[serde(default, deserialize_with = "null_default", skip_serializing_if = "String::is_empty")]
    pub name: String,
}

/// An instance group of the manifest.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct InstanceGroup {
    /// Group name (omitted when empty).
    #[serde(default, deserialize_with = "null_default", skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// `service` or `errand` (omitted when empty).
    #[serde(default, deserialize_with = "null_default", skip_serializing_if = "String::is_empty")]
    pub lifecycle: String,
    /// Number of instances.
    #[serde(default, deserialize_with = "null_default")]
    pub instances: i64,
    /// Jobs (omitted when empty).
    #[serde(default, deserialize_with = "null_default", skip_serializing_if = "Vec::is_empty")]
    pub jobs: Vec<Job>,
    /// VM type.
    #[serde(default, deserialize_with = "null_default")]
    pub vm_type: String,
    /// VM extensions (omitted when empty).
    #[serde(default, deserialize_with = "null_default", skip_serializing_if = "Vec::is_empty")]
    pub vm_extensions: Vec<String>,
    /// Stemcell alias.
    #[serde(default, deserialize_with = "null_default")]
    pub stemcell: String,
    /// Persistent disk type (omitted when empty).
    #[serde(default, deserialize_with = "null_default", skip_serializing_if = "String::is_empty")]
    pub persistent_disk_type: String,
    /// Availability zones (omitted when empty).
    #[serde(default, deserialize_with = "null_default", skip_serializing_if = "Vec::is_empty")]
    pub azs: Vec<String>,
    /// Networks.
    #[serde(default, deserialize_with = "null_default")]
    pub networks: Vec<Network>,
    /// Deprecated instance-group properties (omitted when empty).
    #[serde(
        default,
        deserialize_with = "null_default",
        skip_serializing_if = "Properties::is_empty"
    )]
    pub properties: Properties,
    /// Groups this one was migrated from (omitted when empty).
    #[serde(default, deserialize_with = "null_default", skip_serializing_if = "Vec::is_empty")]
    pub migrated_from: Vec<Migration>,
    /// VM environment (omitted when empty).
    #[serde(
        default,
        deserialize_with = "null_default",
        skip_serializing_if = "Properties::is_empty"
    )]
    pub env: Properties,
    /// Per-group update settings (omitted when `None`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub update: Option<Update>,
}

/// A previous instance group name.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Migration {
    /// The old name.
    #[serde(default, deserialize_with = "null_default")]
    pub name: String,
}

/// A network attachment of an instance group.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Network {
    /// Network name from the cloud config.
    #[serde(default, deserialize_with = "null_default")]
    pub name: String,
    /// Static IPs (omitted when empty).
    #[serde(default, deserialize_with = "null_default", skip_serializing_if = "Vec::is_empty")]
    pub static_ips: Vec<String>,
    /// Default gateway/DNS roles, such as `["dns", "gateway"]` (omitted when empty).
    #[serde(default, deserialize_with = "null_default", skip_serializing_if = "Vec::is_empty")]
    pub default: Vec<String>,
}

/// BOSH update settings. Decoding fails unless `max_in_flight` is valid.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "RawUpdate")]
pub struct Update {
    /// Number of canary instances.
    pub canaries: i64,
    /// Canary watch time, such as `"30000-240000"`.
    pub canary_watch_time: String,
    /// Update watch time.
    pub update_watch_time: String,
    /// Maximum number of instances updated in parallel.
    pub max_in_flight: MaxInFlight,
    /// Whether instance groups are updated one after another (omitted when `None`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub serial: Option<bool>,
    /// `create-swap-delete` or `delete-create` (omitted when empty).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub vm_strategy: String,
    /// [`SERIAL_UPDATE`] or [`PARALLEL_UPDATE`] (omitted when empty).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub initial_deploy_az_update_strategy: String,
}

#[derive(Deserialize)]
struct RawUpdate {
    #[serde(default, deserialize_with = "null_default")]
    canaries: i64,
    #[serde(default, deserialize_with = "null_default")]
    canary_watch_time: String,
    #[serde(default, deserialize_with = "null_default")]
    update_watch_time: String,
    #[serde(default)]
    max_in_flight: Option<MaxInFlight>,
    #[serde(default)]
    serial: Option<bool>,
    #[serde(default, deserialize_with = "null_default")]
    vm_strategy: String,
    #[serde(default, deserialize_with = "null_default")]
    initial_deploy_az_update_strategy: String,
}

impl TryFrom<RawUpdate> for Update {
    type Error = String;

    fn try_from(raw: RawUpdate) -> Result<Self, String> {
        Ok(Update {
            canaries: raw.canaries,
            canary_watch_time: raw.canary_watch_time,
            update_watch_time: raw.update_watch_time,
            max_in_flight: max_in_flight::require(raw.max_in_flight)?,
            serial: raw.serial,
            vm_strategy: raw.vm_strategy,
            initial_deploy_az_update_strategy: raw.initial_deploy_az_update_strategy,
        })
    }
}

/// A config-server variable.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Variable {
    /// Variable name, referenced as `((name))`.
    #[serde(default, deserialize_with = "null_default")]
    pub name: String,
    /// Variable type: `password`, `certificate`, `ssh`, `rsa`, ...
    #[serde(rename = "type", default, deserialize_with = "null_default")]
    pub var_type: String,
    /// Update mode, such as `no-overwrite` (omitted when empty).
    #[serde(default, deserialize_with = "null_default", skip_serializing_if = "String::is_empty")]
    pub update_mode: String,
    /// Generation options (omitted when empty).
    #[serde(
        default,
        deserialize_with = "null_default",
        skip_serializing_if = "Properties::is_empty"
    )]
    pub options: Properties,
    /// Links consumed to fill in certificate names (omitted when `None`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consumes: Option<VariableConsumes>,
}

/// Links a certificate variable consumes.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct VariableConsumes {
    /// Link providing subject alternative names.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alternative_name: Option<VariableConsumesLink>,
    /// Link providing the common name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub common_name: Option<VariableConsumesLink>,
}

/// One link consumed by a variable.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct VariableConsumesLink {
    /// The link name.
    #[serde(default, deserialize_with = "null_default")]
    pub from: String,
    /// Link options such as `wildcard: true` (omitted when empty).
    #[serde(
        default,
        deserialize_with = "null_default",
        skip_serializing_if = "Properties::is_empty"
    )]
    pub properties: Properties,
}

/// A runtime addon.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Addon {
    /// Addon name.
    #[serde(default, deserialize_with = "null_default")]
    pub name: String,
    /// Jobs the addon colocates.
    #[serde(default, deserialize_with = "null_default")]
    pub jobs: Vec<Job>,
    /// Where to apply it (omitted when `None`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub include: Option<PlacementRule>,
    /// Where not to apply it (omitted when `None`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exclude: Option<PlacementRule>,
}

/// Addon placement rule; every list is omitted when empty.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PlacementRule {
    /// Stemcells by OS.
    #[serde(default, deserialize_with = "null_default", skip_serializing_if = "Vec::is_empty")]
    pub stemcell: Vec<PlacementRuleStemcell>,
    /// Deployment names.
    #[serde(default, deserialize_with = "null_default", skip_serializing_if = "Vec::is_empty")]
    pub deployments: Vec<String>,
    /// Jobs (by name and release).
    #[serde(default, deserialize_with = "null_default", skip_serializing_if = "Vec::is_empty")]
    pub jobs: Vec<Job>,
    /// Instance group names.
    #[serde(default, deserialize_with = "null_default", skip_serializing_if = "Vec::is_empty")]
    pub instance_groups: Vec<String>,
    /// Network names.
    #[serde(default, deserialize_with = "null_default", skip_serializing_if = "Vec::is_empty")]
    pub networks: Vec<String>,
    /// Team names.
    #[serde(default, deserialize_with = "null_default", skip_serializing_if = "Vec::is_empty")]
    pub teams: Vec<String>,
}

/// A stemcell OS in a placement rule.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlacementRuleStemcell {
    /// Operating system name.
    #[serde(default, deserialize_with = "null_default")]
    pub os: String,
}

/// A job colocated on an instance group.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Job {
    /// Job name.
    #[serde(default, deserialize_with = "null_default")]
    pub name: String,
    /// Release providing the job.
    #[serde(default, deserialize_with = "null_default")]
    pub release: String,
    /// Links provided (omitted when empty).
    #[serde(
        default,
        deserialize_with = "null_default",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub provides: BTreeMap<String, ProvidesLink>,
    /// Links consumed: a [`ConsumesLink`] object or the string `nil` (omitted when empty).
    #[serde(
        default,
        deserialize_with = "null_default",
        skip_serializing_if = "Properties::is_empty"
    )]
    pub consumes: Properties,
    /// Custom link providers (omitted when empty).
    #[serde(default, deserialize_with = "null_default", skip_serializing_if = "Vec::is_empty")]
    pub custom_provider_definitions: Vec<CustomProviderDefinition>,
    /// Job properties (omitted when empty).
    #[serde(
        default,
        deserialize_with = "null_default",
        skip_serializing_if = "Properties::is_empty"
    )]
    pub properties: Properties,
}

/// A provided link's settings.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProvidesLink {
    /// Name the link is provided as (omitted when empty).
    #[serde(
        rename = "as",
        default,
        deserialize_with = "null_default",
        skip_serializing_if = "String::is_empty"
    )]
    pub as_name: String,
    /// Whether other deployments may consume it (omitted when false).
    #[serde(default, deserialize_with = "null_default", skip_serializing_if = "is_false")]
    pub shared: bool,
    /// DNS aliases (omitted when empty).
    #[serde(default, deserialize_with = "null_default", skip_serializing_if = "Vec::is_empty")]
    pub aliases: Vec<Alias>,
}

/// A DNS alias of a provided link.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Alias {
    /// The alias domain.
    #[serde(default, deserialize_with = "null_default")]
    pub domain: String,
    /// `healthy`, `unhealthy`, `all` or `default` (omitted when empty).
    #[serde(default, deserialize_with = "null_default", skip_serializing_if = "String::is_empty")]
    pub health_filter: String,
    /// Initial health check mode (omitted when empty).
    #[serde(default, deserialize_with = "null_default", skip_serializing_if = "String::is_empty")]
    pub initial_health_check: String,
    /// Placeholder type, such as `uuid` (omitted when empty).
    #[serde(default, deserialize_with = "null_default", skip_serializing_if = "String::is_empty")]
    pub placeholder_type: String,
}

/// A consumed link's settings; every field is omitted when empty.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsumesLink {
    /// Name of the provided link.
    #[serde(default, deserialize_with = "null_default", skip_serializing_if = "String::is_empty")]
    pub from: String,
    /// Deployment providing it, for cross-deployment links.
    #[serde(default, deserialize_with = "null_default", skip_serializing_if = "String::is_empty")]
    pub deployment: String,
    /// Network to resolve addresses on.
    #[serde(default, deserialize_with = "null_default", skip_serializing_if = "String::is_empty")]
    pub network: String,
}

/// A custom link provider declared by a job.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CustomProviderDefinition {
    /// Link name.
    #[serde(default, deserialize_with = "null_default")]
    pub name: String,
    /// Link type.
    #[serde(rename = "type", default, deserialize_with = "null_default")]
    pub provider_type: String,
    /// Properties exposed on the link (omitted when empty).
    #[serde(default, deserialize_with = "null_default", skip_serializing_if = "Vec::is_empty")]
    pub properties: Vec<String>,
}

impl Job {
    /// Returns the job with `provides.<name>: {shared: true}`.
    pub fn add_shared_provides_link(mut self, name: &str) -> Job {
        self.provides.entry(name.to_string()).or_default().shared = true;
        self
    }

    /// Returns the job with the DNS aliases of `provides.<name>` set to `aliases`.
    pub fn add_provides_link_with_aliases(mut self, name: &str, aliases: Vec<Alias>) -> Job {
        self.provides.entry(name.to_string()).or_default().aliases = aliases;
        self
    }

    /// Returns the job with `consumes.<name>: {from: <from>}`.
    pub fn add_consumes_link(self, name: &str, from: &str) -> Job {
        self.with_consumes(name, ConsumesLink { from: from.to_string(), ..ConsumesLink::default() })
    }

    /// Returns the job with `consumes.<name>: {from: <from>, deployment: <deployment>}`.
    pub fn add_cross_deployment_consumes_link(
        self, name: &str, from: &str, deployment: &str,
    ) -> Job {
        self.with_consumes(
            name,
            ConsumesLink {
                from: from.to_string(),
                deployment: deployment.to_string(),
                ..ConsumesLink::default()
            },
        )
    }

    /// Returns the job with `consumes.<name>: nil`, which tells BOSH not to wire the link.
    pub fn add_nullified_consumes_link(mut self, name: &str) -> Job {
        self.consumes.insert(name.to_string(), Value::String("nil".to_string()));
        self
    }

    /// Returns the job with one more custom provider definition.
    pub fn add_custom_provider_definition(
        mut self, name: &str, provider_type: &str, properties: Vec<String>,
    ) -> Job {
        self.custom_provider_definitions.push(CustomProviderDefinition {
            name: name.to_string(),
            provider_type: provider_type.to_string(),
            properties,
        });
        self
    }

    fn with_consumes(mut self, name: &str, link: ConsumesLink) -> Job {
        let value = serde_json::to_value(link).unwrap_or(Value::Null);
        self.consumes.insert(name.to_string(), value);
        self
    }
}

//! The service plan handed to an adapter, and its validation.
//!
//! A typed [`Plan`] cannot tell a missing list from an empty one, but the Go SDK's
//! `required` rule can: `"networks": []` passes while a missing or `null` `networks`
//! fails. The SDK therefore validates the *raw JSON* of a plan while parsing it
//! ([`Plan::from_json`]), and [`Plan::validate`] on an already-typed plan treats every
//! list as present.

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::max_in_flight::{self, MaxInFlight};
use crate::serde_util::{is_none_or_empty, null_default};
use crate::Properties;

/// A service plan: properties, lifecycle errands, instance groups and an optional update block.
///
/// Serialises exactly as the Go broker sends a plan: `properties`, `lifecycle_errands`
/// and `instance_groups` are always present and `update` only when set. Deserialises
/// from JSON (the wire) and YAML (broker configuration files) with the same keys;
/// missing or `null` fields become empty.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    /// Plan properties: the broker merges global and plan properties, the plan winning.
    #[serde(default, deserialize_with = "null_default")]
    pub properties: Properties,
    /// Errands to run after deploys and before deletes.
    #[serde(default, deserialize_with = "null_default")]
    pub lifecycle_errands: LifecycleErrands,
    /// The instance groups of the plan (required).
    #[serde(default, deserialize_with = "null_default")]
    pub instance_groups: Vec<InstanceGroup>,
    /// Update settings for the deployment, when the plan configures them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub update: Option<Update>,
}

/// An instance group of a plan.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstanceGroup {
    /// Name of the group (required).
    #[serde(default, deserialize_with = "null_default")]
    pub name: String,
    /// VM type from the cloud config (required).
    #[serde(default, deserialize_with = "null_default")]
    pub vm_type: String,
    /// VM extensions from the cloud config.
    #[serde(default, deserialize_with = "null_default", skip_serializing_if = "Vec::is_empty")]
    pub vm_extensions: Vec<String>,
    /// Persistent disk type from the cloud config.
    #[serde(default, deserialize_with = "null_default", skip_serializing_if = "String::is_empty")]
    pub persistent_disk_type: String,
    /// Number of instances (at least 1).
    #[serde(default, deserialize_with = "null_default")]
    pub instances: i64,
    /// Network names (required, may be empty).
    #[serde(default, deserialize_with = "null_default")]
    pub networks: Vec<String>,
    /// Availability zones (at least one).
    #[serde(default, deserialize_with = "null_default")]
    pub azs: Vec<String>,
    /// `service` or `errand`; empty means the BOSH default.
    #[serde(default, deserialize_with = "null_default", skip_serializing_if = "String::is_empty")]
    pub lifecycle: String,
    /// Instance groups this one was migrated from.
    #[serde(default, deserialize_with = "null_default", skip_serializing_if = "Vec::is_empty")]
    pub migrated_from: Vec<Migration>,
}

/// A previous instance group name, for BOSH `migrated_from`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Migration {
    /// The old instance group name.
    #[serde(default, deserialize_with = "null_default")]
    pub name: String,
}

/// Errands the broker runs around deploys and deletes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LifecycleErrands {
    /// Errands run after every successful deploy.
    #[serde(default, deserialize_with = "null_default", skip_serializing_if = "Vec::is_empty")]
    pub post_deploy: Vec<Errand>,
    /// Errands run before a deployment is deleted.
    #[serde(default, deserialize_with = "null_default", skip_serializing_if = "Vec::is_empty")]
    pub pre_delete: Vec<Errand>,
}

/// A lifecycle errand.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Errand {
    /// Errand name.
    #[serde(default, deserialize_with = "null_default", skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// Instances to run it on, such as `"group/0"`; empty means the errand's default.
    #[serde(default, deserialize_with = "null_default", skip_serializing_if = "Vec::is_empty")]
    pub instances: Vec<String>,
}

/// The plan's update block. Decoding fails unless `max_in_flight` is valid.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "RawUpdate")]
pub struct Update {
    /// Number of canary instances.
    pub canaries: i64,
    /// Canary watch time, such as `"30000-240000"`.
    pub canary_watch_time: String,
    /// Update watch time, such as `"30000-240000"`.
    pub update_watch_time: String,
    /// Maximum number of instances updated in parallel.
    pub max_in_flight: MaxInFlight,
    /// Whether instance groups are updated one after another.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub serial: Option<bool>,
    /// `serial` or `parallel` for the first deploy across AZs.
    #[serde(skip_serializing_if = "is_none_or_empty")]
    pub initial_deploy_az_update_strategy: Option<String>,
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
    #[serde(default)]
    initial_deploy_az_update_strategy: Option<String>,
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
            initial_deploy_az_update_strategy: raw.initial_deploy_az_update_strategy,
        })
    }
}

/// Validation failures, one line per failing field, formatted like Go's validator:
/// `Key: 'Plan.InstanceGroups' Error:Field validation for 'InstanceGroups' failed on the 'required' tag`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidationError {
    /// The failing fields, in struct order.
    pub failures: Vec<FieldFailure>,
}

/// One failing field of a [`ValidationError`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldFailure {
    /// Namespaced key, such as `Plan.InstanceGroups[0].AZs`.
    pub key: String,
    /// The field name, such as `AZs`.
    pub field: String,
    /// The rule that failed: `required` or `min`.
    pub tag: String,
}

impl fmt::Display for ValidationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let lines: Vec<String> = self
            .failures
            .iter()
            .map(|x| {
                format!(
                    "Key: '{}' Error:Field validation for '{}' failed on the '{}' tag",
                    x.key, x.field, x.tag
                )
            })
            .collect();
        f.write_str(&lines.join("\n"))
    }
}

impl std::error::Error for ValidationError {}

/// Collects field failures while walking a raw JSON document.
#[derive(Default)]
pub(crate) struct Checker {
    failures: Vec<FieldFailure>,
}

impl Checker {
    pub(crate) fn fail(&mut self, prefix: &str, field: &str, tag: &str) {
        self.failures.push(FieldFailure {
            key: format!("{prefix}.{field}"),
            field: field.to_string(),
            tag: tag.to_string(),
        });
    }

    /// Go `required` on a string: present and non-empty.
    pub(crate) fn required_string(&mut self, obj: &Value, key: &str, prefix: &str, field: &str) {
        if obj.get(key).and_then(Value::as_str).is_none_or(str::is_empty) {
            self.fail(prefix, field, "required");
        }
    }

    /// Go `required` on a slice: present and not null (an empty list passes).
    /// Returns the list when present.
    pub(crate) fn required_list<'a>(
        &mut self, obj: &'a Value, key: &str, prefix: &str, field: &str,
    ) -> Option<&'a Vec<Value>> {
        match obj.get(key) {
            Some(Value::Array(items)) => Some(items),
            _ => {
                self.fail(prefix, field, "required");
                None
            }
        }
    }

    pub(crate) fn finish(self) -> Result<(), ValidationError> {
        if self.failures.is_empty() {
            Ok(())
        } else {
            Err(ValidationError { failures: self.failures })
        }
    }
}

/// Validates a plan's raw JSON with Go validator semantics (`required` slices may be
/// empty but not missing or null).
pub fn validate_plan_json(plan: &Value) -> Result<(), ValidationError> {
    let mut checker = Checker::default();
    if let Some(groups) = checker.required_list(plan, "instance_groups", "Plan", "InstanceGroups") {
        for (i, group) in groups.iter().enumerate() {
            let prefix = format!("Plan.InstanceGroups[{i}]");
            checker.required_string(group, "name", &prefix, "Name");
            checker.required_string(group, "vm_type", &prefix, "VMType");
            if group.get("instances").and_then(Value::as_i64).unwrap_or(0) < 1 {
                checker.fail(&prefix, "Instances", "min");
            }
            checker.required_list(group, "networks", &prefix, "Networks");
            if let Some(azs) = checker.required_list(group, "azs", &prefix, "AZs") {
                if azs.is_empty() {
                    checker.fail(&prefix, "AZs", "min");
                }
            }
        }
    }
    checker.finish()
}

/// Why a plan could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    /// The text is not JSON, or does not have the plan's shape.
    #[error("{0}")]
    Unmarshal(String),
    /// The plan decoded but breaks a validation rule.
    #[error("{0}")]
    Invalid(#[from] ValidationError),
}

impl Plan {
    /// Checks the plan's rules on the typed value: instance group name and VM type set,
    /// at least one instance and one AZ. Lists are always considered present here; see
    /// the module documentation for how missing lists are caught.
    pub fn validate(&self) -> Result<(), ValidationError> {
        let value = serde_json::to_value(self).unwrap_or(Value::Null);
        validate_plan_json(&value)
    }

    /// Parses a plan from JSON text and validates it, with Go-compatible messages.
    /// `null` parses to an empty plan, which then fails validation.
    pub fn from_json(text: &str) -> Result<Plan, PlanError> {
        let value = crate::gojson::parse(text.as_bytes()).map_err(PlanError::Unmarshal)?;
        let plan = crate::gojson::decode::<Plan>(value.clone(), "serviceadapter.Plan")
            .map_err(PlanError::Unmarshal)?;
        validate_plan_json(&value)?;
        Ok(plan)
    }
}

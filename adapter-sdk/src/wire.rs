//! The stdin envelope: one JSON object whose inner fields are all JSON *strings*
//! carrying JSON or YAML documents.
//!
//! Serialisation always writes every key (as the Go broker does). Use
//! [`InputParams::from_json`] to read an envelope with the Go SDK's rules: missing keys
//! are `""`, unknown keys are ignored, keys match case-insensitively, and a non-string
//! where a string is expected is an error worded like Go's.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::gojson;
use crate::serde_util::null_default;

/// The whole stdin document; only the key for the running subcommand is read.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct InputParams {
    /// Inputs of generate-manifest.
    #[serde(default, deserialize_with = "null_default")]
    pub generate_manifest: GenerateManifestJsonParams,
    /// Inputs of dashboard-url.
    #[serde(default, deserialize_with = "null_default")]
    pub dashboard_url: DashboardUrlJsonParams,
    /// Inputs of create-binding.
    #[serde(default, deserialize_with = "null_default")]
    pub create_binding: BindingJsonParams,
    /// Inputs of delete-binding.
    #[serde(default, deserialize_with = "null_default")]
    pub delete_binding: BindingJsonParams,
    /// Inputs of generate-plan-schemas.
    #[serde(default, deserialize_with = "null_default")]
    pub generate_plan_schemas: GeneratePlanSchemasJsonParams,
}

/// generate-manifest inputs, each an encoded document.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GenerateManifestJsonParams {
    /// ServiceDeployment JSON.
    #[serde(default, deserialize_with = "null_default")]
    pub service_deployment: String,
    /// Plan JSON.
    #[serde(default, deserialize_with = "null_default")]
    pub plan: String,
    /// Previous plan JSON, or `"null"` for a new instance.
    #[serde(default, deserialize_with = "null_default")]
    pub previous_plan: String,
    /// Previous manifest YAML, or `""` for a new instance.
    #[serde(default, deserialize_with = "null_default")]
    pub previous_manifest: String,
    /// Request parameters JSON object (or `"null"`).
    #[serde(default, deserialize_with = "null_default")]
    pub request_parameters: String,
    /// Previous secrets JSON object, or `"null"`.
    #[serde(default, deserialize_with = "null_default")]
    pub previous_secrets: String,
    /// Previous BOSH configs JSON object, or `"null"`.
    #[serde(default, deserialize_with = "null_default")]
    pub previous_configs: String,
    /// ServiceInstanceUaaClient JSON, or `"null"`.
    #[serde(default, deserialize_with = "null_default")]
    pub uaa_client: String,
}

/// dashboard-url inputs.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DashboardUrlJsonParams {
    /// The service instance id (plain string).
    #[serde(default, deserialize_with = "null_default")]
    pub instance_id: String,
    /// Plan JSON.
    #[serde(default, deserialize_with = "null_default")]
    pub plan: String,
    /// Manifest YAML (may be `""`).
    #[serde(default, deserialize_with = "null_default")]
    pub manifest: String,
}

/// create-binding and delete-binding inputs.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BindingJsonParams {
    /// The binding id (plain string).
    #[serde(default, deserialize_with = "null_default")]
    pub binding_id: String,
    /// BOSH VMs JSON object (group to IPs); never `""`.
    #[serde(default, deserialize_with = "null_default")]
    pub bosh_vms: String,
    /// Manifest YAML.
    #[serde(default, deserialize_with = "null_default")]
    pub manifest: String,
    /// Request parameters JSON object; never `""`.
    #[serde(default, deserialize_with = "null_default")]
    pub request_parameters: String,
    /// Resolved secrets JSON object, or `"null"`.
    #[serde(default, deserialize_with = "null_default")]
    pub secrets: String,
    /// DNS addresses JSON object, or `"null"`.
    #[serde(default, deserialize_with = "null_default")]
    pub dns_addresses: String,
}

/// generate-plan-schemas inputs.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GeneratePlanSchemasJsonParams {
    /// Plan JSON.
    #[serde(default, deserialize_with = "null_default")]
    pub plan: String,
}

/// Go type names of the envelope sections, for error messages.
const SECTIONS: &[(&str, &str)] = &[
    ("generate_manifest", "serviceadapter.GenerateManifestJSONParams"),
    ("dashboard_url", "serviceadapter.DashboardUrlJSONParams"),
    ("create_binding", "serviceadapter.BindingJSONParams"),
    ("delete_binding", "serviceadapter.BindingJSONParams"),
    ("generate_plan_schemas", "serviceadapter.GeneratePlanSchemasJSONParams"),
];

fn lowercase_keys(map: serde_json::Map<String, Value>) -> serde_json::Map<String, Value> {
    map.into_iter().map(|(k, v)| (k.to_lowercase(), v)).collect()
}

impl InputParams {
    /// Reads an envelope with the Go SDK's rules; errors are worded like Go's
    /// `encoding/json` (for example `unexpected end of JSON input`, or
    /// `json: cannot unmarshal object into Go struct field InputParams.generate_manifest.service_deployment of type string`).
    pub fn from_json(bytes: &[u8]) -> Result<InputParams, String> {
        let value = gojson::parse(bytes)?;
        let top = match value {
            Value::Null => return Ok(InputParams::default()),
            Value::Object(map) => lowercase_keys(map),
            other => {
                return Err(format!(
                    "json: cannot unmarshal {} into Go value of type serviceadapter.InputParams",
                    gojson::kind(&other)
                ))
            }
        };
        let mut normalised = serde_json::Map::new();
        for (section, go_type) in SECTIONS {
            match top.get(*section) {
                None | Some(Value::Null) => {}
                Some(Value::Object(fields)) => {
                    let fields = lowercase_keys(fields.clone());
                    for (name, field) in &fields {
                        if !matches!(field, Value::String(_) | Value::Null) {
                            return Err(format!(
                                "json: cannot unmarshal {} into Go struct field InputParams.{section}.{name} of type string",
                                gojson::kind(field)
                            ));
                        }
                    }
                    normalised.insert(section.to_string(), Value::Object(fields));
                }
                Some(other) => {
                    return Err(format!(
                        "json: cannot unmarshal {} into Go struct field InputParams.{section} of type {go_type}",
                        gojson::kind(other)
                    ))
                }
            }
        }
        serde_json::from_value(Value::Object(normalised)).map_err(|e| e.to_string())
    }
}

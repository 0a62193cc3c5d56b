//! OSB request parameters passed through to the adapter, and their accessors.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::serde_util::null_default;
use crate::Properties;

/// The request parameters of the OSB call that triggered the adapter: the request body
/// fields (`parameters`, `context`, `bind_resource`, `previous_values`, ...).
///
/// Serialises transparently as the JSON object. The accessors never panic: where the Go
/// SDK panics on a non-object `parameters` or `context`, they return an empty object
/// instead, so an adapter sees "no parameters" and can still answer with a clear error.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RequestParameters(pub Properties);

/// The OSB `bind_resource` object of a bind request.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BindResource {
    /// GUID of the application being bound.
    #[serde(default, deserialize_with = "null_default", skip_serializing_if = "String::is_empty")]
    pub app_guid: String,
    /// GUID of the space, for platform-bound credentials.
    #[serde(default, deserialize_with = "null_default", skip_serializing_if = "String::is_empty")]
    pub space_guid: String,
    /// Route, for route services.
    #[serde(default, deserialize_with = "null_default", skip_serializing_if = "String::is_empty")]
    pub route: String,
    /// Client id for credential clients.
    #[serde(default, deserialize_with = "null_default", skip_serializing_if = "String::is_empty")]
    pub credential_client_id: String,
    /// True for a backup-agent binding.
    #[serde(
        default,
        deserialize_with = "null_default",
        skip_serializing_if = "crate::serde_util::is_false"
    )]
    pub backup_agent: bool,
}

impl From<Properties> for RequestParameters {
    fn from(map: Properties) -> Self {
        RequestParameters(map)
    }
}

impl RequestParameters {
    fn object(&self, key: &str) -> Properties {
        match self.0.get(key) {
            Some(Value::Object(map)) => map.clone(),
            _ => Properties::new(),
        }
    }

    /// The user's arbitrary parameters (`parameters`); `{}` when missing, null or not an object.
    pub fn arbitrary_params(&self) -> Properties {
        self.object("parameters")
    }

    /// The platform context (`context`); `{}` when missing, null or not an object.
    pub fn arbitrary_context(&self) -> Properties {
        self.object("context")
    }

    /// `context.platform` (such as `cloudfoundry`), or `""`.
    pub fn platform(&self) -> String {
        self.arbitrary_context()
            .get("platform")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    }

    /// `bind_resource`, or the zero value when it is missing or malformed.
    pub fn bind_resource(&self) -> BindResource {
        self.0
            .get("bind_resource")
            .and_then(|v| serde_json::from_value(v.clone()).ok())
            .unwrap_or_default()
    }

    /// The app GUID: top-level `app_guid`, else `bind_resource.app_guid`; `None` if neither is set.
    pub fn app_guid(&self) -> Option<String> {
        self.0
            .get("app_guid")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .or_else(|| Some(self.bind_resource().app_guid).filter(|s| !s.is_empty()))
    }

    /// `previous_values` of an update request; `{}` when missing or not an object.
    pub fn previous_values(&self) -> Properties {
        self.object("previous_values")
    }

    /// `maintenance_info`, when present and an object.
    pub fn maintenance_info(&self) -> Option<Properties> {
        match self.0.get("maintenance_info") {
            Some(Value::Object(map)) => Some(map.clone()),
            _ => None,
        }
    }
}

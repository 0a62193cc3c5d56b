//! The director's JSON answers the broker reads, as types: decoded once, so the client never
//! indexes into untyped JSON. Fields the broker does not use are ignored; fields a director
//! version may leave out have defaults.

use serde::{Deserialize, Deserializer};
use serde_json::Value;

/// An id the director sends as a string or as a number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdText(pub String);

impl<'de> Deserialize<'de> for IdText {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match Value::deserialize(d)? {
            Value::String(s) => Ok(Self(s)),
            Value::Number(n) => Ok(Self(n.to_string())),
            other => Err(serde::de::Error::custom(format!(
                "expected an id (string or number), found {other}"
            ))),
        }
    }
}

/// `GET /deployments/<name>`.
#[derive(Debug, Deserialize)]
pub struct DeploymentAnswer {
    /// The manifest as deployed.
    #[serde(default)]
    pub manifest: String,
}

/// One entry of `GET /deployments` (only the name is read).
#[derive(Debug, Deserialize)]
pub struct DeploymentListEntry {
    /// The deployment's name.
    pub name: String,
}

/// One entry of `GET /deployments/<name>/instances`.
#[derive(Debug, Deserialize)]
pub struct InstanceAnswer {
    /// The instance group.
    pub job: Option<String>,
    /// Its index in the group.
    #[serde(default)]
    pub index: Option<i64>,
    /// Its addresses.
    #[serde(default)]
    pub ips: Vec<String>,
    /// False for instances without a VM (errand groups).
    #[serde(default)]
    pub expects_vm: Option<bool>,
}

impl InstanceAnswer {
    /// Whether the instance has (or is meant to have) a VM.
    pub fn has_vm(&self) -> bool {
        self.expects_vm != Some(false) || !self.ips.is_empty()
    }
}

/// One entry of `GET /configs`.
#[derive(Debug, Deserialize)]
pub struct ConfigAnswer {
    /// The config type (`cloud`, `runtime`, ...).
    #[serde(rename = "type")]
    pub kind: String,
}

/// One entry of `GET /link_providers?deployment=<name>`.
#[derive(Debug, Deserialize)]
pub struct LinkProvider {
    /// Its id.
    pub id: IdText,
    /// The link's name.
    #[serde(default)]
    pub name: String,
    /// Whether other deployments may consume it.
    #[serde(default)]
    pub shared: bool,
    /// Who provides it.
    #[serde(default)]
    pub owner_object: OwnerObject,
}

impl LinkProvider {
    /// The instance group that provides the link, when the director says.
    pub fn instance_group(&self) -> Option<&str> {
        self.owner_object.info.instance_group.as_deref()
    }
}

/// The provider's owner.
#[derive(Debug, Default, Deserialize)]
pub struct OwnerObject {
    /// Details of the owner.
    #[serde(default)]
    pub info: OwnerInfo,
}

/// Details of a link provider's owner.
#[derive(Debug, Default, Deserialize)]
pub struct OwnerInfo {
    /// The instance group.
    pub instance_group: Option<String>,
}

/// One line of an errand task's result (`GET /tasks/<id>/output?type=result`).
#[derive(Debug, Deserialize)]
pub struct ErrandResult {
    /// The errand's exit code, when the line reports one.
    #[serde(default)]
    pub exit_code: Option<i64>,
}

/// `POST /links`.
#[derive(Debug, Deserialize)]
pub struct LinkAnswer {
    /// The new link's id.
    pub id: IdText,
}

/// `GET /link_address?link_id=<id>`.
#[derive(Debug, Deserialize)]
pub struct LinkAddressAnswer {
    /// The DNS address.
    pub address: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_may_be_strings_or_numbers() {
        let link: LinkAnswer = serde_json::from_str(r#"{"id": 17}"#).unwrap();
        assert_eq!(link.id.0, "17");
        let link: LinkAnswer = serde_json::from_str(r#"{"id": "ab"}"#).unwrap();
        assert_eq!(link.id.0, "ab");
        assert!(serde_json::from_str::<LinkAnswer>(r#"{"id": [1]}"#).is_err());
    }

    #[test]
    fn providers_read_their_owner_group_and_default_the_rest() {
        let p: LinkProvider = serde_json::from_str(
            r#"{"id": "1", "name": "redis", "shared": true, "owner_object": {"name": "redis", "info": {"instance_group": "g"}}}"#,
        )
        .unwrap();
        assert_eq!(p.instance_group(), Some("g"));
        let bare: LinkProvider = serde_json::from_str(r#"{"id": 2}"#).unwrap();
        assert!(!bare.shared);
        assert_eq!(bare.instance_group(), None);
    }

    #[test]
    fn instances_without_vms_are_recognised() {
        let errand: InstanceAnswer =
            serde_json::from_str(r#"{"job": "e", "expects_vm": false, "ips": []}"#).unwrap();
        assert!(!errand.has_vm());
        let vm: InstanceAnswer =
            serde_json::from_str(r#"{"job": "g", "ips": ["10.0.0.1"]}"#).unwrap();
        assert!(vm.has_vm());
    }
}

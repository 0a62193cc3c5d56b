//! The config server: where the broker writes ODB-managed secrets before a deploy, and where
//! it reads back the values of the variables a deployed manifest references.
//!
//! Against a BOSH director this is the director's CredHub (`bosh_credhub:`); on the embedded
//! default the simulated director plays the part. Names are absolute credential paths
//! (`/odb/<service id>/<deployment>/<key>`, `/<director>/<deployment>/<variable>`); ids are the
//! config server's own ids of one version of a credential, as the director's
//! `GET /deployments/<name>/variables` lists them.

use crate::redacted::Redacted;
use async_trait::async_trait;
use serde_json::{Map, Value};

/// A value to store: a string as CredHub type `value`, a JSON object as type `json`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CredentialValue {
    /// CredHub type `value`.
    Value(String),
    /// CredHub type `json`.
    Json(Map<String, Value>),
}

impl CredentialValue {
    /// The stored form of a secret the adapter returned: strings and objects only, the Go
    /// broker's rule (anything else is "Unknown credential type").
    pub fn from_secret(value: &Value) -> Result<Self, ConfigServerError> {
        match value {
            Value::String(s) => Ok(Self::Value(s.clone())),
            Value::Object(map) => Ok(Self::Json(map.clone())),
            other => {
                Err(ConfigServerError::UnknownCredentialType(json_type_name(other).to_string()))
            }
        }
    }

    /// The CredHub type name.
    pub fn type_name(&self) -> &'static str {
        match self {
            Self::Value(_) => "value",
            Self::Json(_) => "json",
        }
    }

    /// The value as JSON, as CredHub carries it in a request body.
    pub fn to_json(&self) -> Value {
        match self {
            Self::Value(s) => Value::String(s.clone()),
            Self::Json(map) => Value::Object(map.clone()),
        }
    }
}

fn json_type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// One version of a stored credential.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credential {
    /// The config server's id of this version.
    pub id: String,
    /// Its absolute name.
    pub name: String,
    /// Its value: a string (types `value`, `password`), or an object (types `json`,
    /// `certificate` `{ca, certificate, private_key}`, `user`, `rsa`, `ssh`).
    pub value: Redacted<Value>,
}

/// Why a config-server call failed. Messages name the server and the credential, never a
/// value or a client secret.
#[derive(Debug, thiserror::Error)]
pub enum ConfigServerError {
    /// The server could not be reached (connection refused, TLS failure, timeout).
    #[error("config server {url} is unreachable: {reason}")]
    Unreachable {
        /// The URL that was called.
        url: String,
        /// What went wrong, without secrets.
        reason: String,
    },
    /// The server refused the credentials the broker authenticated with.
    #[error("config server {url} refused the broker's credentials: {reason}")]
    Unauthorized {
        /// The URL that was called.
        url: String,
        /// The server's message.
        reason: String,
    },
    /// The server answered with a status the call does not expect.
    #[error("config server {url} answered {status}: {message}")]
    UnexpectedStatus {
        /// The URL that was called.
        url: String,
        /// The HTTP status.
        status: u16,
        /// The server's error message, or an excerpt of its body.
        message: String,
    },
    /// The server's answer could not be read.
    #[error("config server {url} gave an answer that cannot be read: {reason}")]
    InvalidAnswer {
        /// The URL that was called.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The broker's settings for the config server cannot be used (a URL that is not one, an
    /// unusable CA certificate, a name that cannot be put in a URL).
    #[error("{0}")]
    Config(String),
    /// A secret of a type the config server cannot store.
    #[error("Unknown credential type: {0}")]
    UnknownCredentialType(String),
    /// The broker's own store (the simulated director keeps its values there).
    #[error("store: {0}")]
    Store(#[from] crate::store::StoreError),
}

impl ConfigServerError {
    /// True when retrying later may succeed (the operation stays resumable).
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Unreachable { .. } => true,
            Self::UnexpectedStatus { status, .. } => *status >= 500,
            _ => false,
        }
    }
}

/// What the broker needs from a config server.
#[async_trait]
pub trait ConfigServer: Send + Sync {
    /// Writes a new version of `name` (overwriting); returns it.
    async fn set(
        &self, name: &str, value: &CredentialValue,
    ) -> Result<Credential, ConfigServerError>;
    /// The latest version of `name`; `None` when there is none.
    async fn latest(&self, name: &str) -> Result<Option<Credential>, ConfigServerError>;
    /// The version with this id; `None` when there is none.
    async fn by_id(&self, id: &str) -> Result<Option<Credential>, ConfigServerError>;
    /// Names of credentials whose name contains `part` (case-insensitive).
    async fn find_by_partial_name(&self, part: &str) -> Result<Vec<String>, ConfigServerError>;
    /// Deletes every version of `name`; succeeds when there is none.
    async fn delete(&self, name: &str) -> Result<(), ConfigServerError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_and_objects_only() {
        assert_eq!(
            CredentialValue::from_secret(&Value::String("pw".into())).unwrap(),
            CredentialValue::Value("pw".into())
        );
        let object = serde_json::json!({"user": "u", "password": "p"});
        let stored = CredentialValue::from_secret(&object).unwrap();
        assert_eq!(stored.type_name(), "json");
        assert_eq!(stored.to_json(), object);
        for bad in [serde_json::json!(1), serde_json::json!([1]), Value::Null] {
            let err = CredentialValue::from_secret(&bad).unwrap_err();
            assert!(err.to_string().starts_with("Unknown credential type"));
        }
    }

    #[test]
    fn debug_never_shows_the_value() {
        let c = Credential {
            id: "1".into(),
            name: "/odb/s/d/k".into(),
            value: Value::String("hunter2".into()).into(),
        };
        assert!(!format!("{c:?}").contains("hunter2"));
    }
}

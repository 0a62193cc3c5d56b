//! The CredHub calls the broker makes, on top of [`Transport`], and the
//! [`ConfigServer`] implementation for the director's CredHub.
//!
//! | call | request |
//! |---|---|
//! | set | `PUT /api/v1/data` `{"name","type","value"}` (+ `"mode":"overwrite"` on CredHub 1.x) |
//! | latest by name | `GET /api/v1/data?name=<name>&current=true` |
//! | by id | `GET /api/v1/data/<id>` |
//! | find by partial name | `GET /api/v1/data?name-like=<text>` |
//! | delete | `DELETE /api/v1/data?name=<name>` (404 counts as done) |
//! | grant read | `POST /api/v2/permissions` (CredHub ≥ 2), `POST /api/v1/permissions` before |

use super::auth::ServerFacts;
use super::http::Transport;
use crate::config::CredhubSettings;
use crate::config_server::{ConfigServer, ConfigServerError, Credential, CredentialValue};
use crate::url_path::UrlPath;
use async_trait::async_trait;
use reqwest::{Method, StatusCode};
use serde::Deserialize;
use serde_json::{json, Value};

/// An operation a permission grants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Permission {
    /// Read the credential.
    Read,
}

impl Permission {
    fn as_str(self) -> &'static str {
        match self {
            Self::Read => "read",
        }
    }
}

/// A CredHub server.
pub struct CredhubClient {
    transport: Transport,
    section: &'static str,
}

#[derive(Deserialize)]
struct CredentialJson {
    #[serde(deserialize_with = "id_text")]
    id: String,
    name: String,
    #[serde(default)]
    value: Value,
}

impl From<CredentialJson> for Credential {
    fn from(c: CredentialJson) -> Self {
        Credential {
            id: c.id,
            name: c.name,
            value: c.value,
        }
    }
}

/// An id CredHub may send as a string or a number.
fn id_text<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::String(s) => s,
        other => other.to_string(),
    })
}

#[derive(Deserialize)]
struct DataJson {
    #[serde(default)]
    data: Vec<CredentialJson>,
}

#[derive(Deserialize)]
struct FoundJson {
    #[serde(default)]
    credentials: Vec<FoundName>,
}

#[derive(Deserialize)]
struct FoundName {
    name: String,
}

/// `/api/v1/data`.
fn data() -> UrlPath {
    UrlPath::root().segment("api").segment("v1").segment("data")
}

impl CredhubClient {
    /// A client for the CredHub `settings` describe. Makes no request.
    pub fn new(settings: &CredhubSettings) -> Result<Self, ConfigServerError> {
        Ok(Self {
            transport: Transport::new(settings)?,
            section: settings.section,
        })
    }

    /// CredHub's URL, without credentials.
    pub fn url(&self) -> &str {
        self.transport.url()
    }

    /// The config section it comes from (`bosh_credhub`, `credhub`).
    pub fn section(&self) -> &'static str {
        self.section
    }

    /// Start-up check: CredHub answers `/info`, its UAA grants the broker a token. Returns
    /// what `/info` told.
    pub async fn check(&self) -> Result<ServerFacts, ConfigServerError> {
        let facts = self.transport.facts().await?.clone();
        self.transport.token().await?;
        Ok(facts)
    }

    /// Grants `actor` (`mtls-app:<guid>`, `uaa-client:<id>`) `permission` on credential
    /// `name`. A grant that already exists (409) counts as done.
    pub async fn grant(
        &self,
        name: &str,
        actor: &str,
        permission: Permission,
    ) -> Result<(), ConfigServerError> {
        let v1 = self.transport.facts().await?.is_v1();
        let (path, body) = if v1 {
            (
                UrlPath::root()
                    .segment("api")
                    .segment("v1")
                    .segment("permissions"),
                json!({
                    "credential_name": name,
                    "permissions": [{"actor": actor, "operations": [permission.as_str()]}],
                }),
            )
        } else {
            (
                UrlPath::root()
                    .segment("api")
                    .segment("v2")
                    .segment("permissions"),
                json!({"path": name, "actor": actor, "operations": [permission.as_str()]}),
            )
        };
        let answer = self.transport.send(Method::POST, path, Some(&body)).await?;
        if answer.status.is_success() || answer.status == StatusCode::CONFLICT {
            Ok(())
        } else {
            Err(answer.error())
        }
    }
}

#[async_trait]
impl ConfigServer for CredhubClient {
    async fn set(
        &self,
        name: &str,
        value: &CredentialValue,
    ) -> Result<Credential, ConfigServerError> {
        let mut body = json!({
            "name": name,
            "type": value.type_name(),
            "value": value.to_json(),
        });
        if self.transport.facts().await?.is_v1() {
            body["mode"] = json!("overwrite");
        }
        let answer = self
            .transport
            .send(Method::PUT, data(), Some(&body))
            .await?;
        let credential: CredentialJson = answer.json()?;
        Ok(credential.into())
    }

    async fn latest(&self, name: &str) -> Result<Option<Credential>, ConfigServerError> {
        let answer = self
            .transport
            .send(
                Method::GET,
                data().query("name", name).query("current", "true"),
                None,
            )
            .await?;
        if answer.status == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        let found: DataJson = answer.json()?;
        Ok(found.data.into_iter().next().map(Credential::from))
    }

    async fn by_id(&self, id: &str) -> Result<Option<Credential>, ConfigServerError> {
        let answer = self
            .transport
            .send(Method::GET, data().segment(id), None)
            .await?;
        if answer.status == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        let credential: CredentialJson = answer.json()?;
        Ok(Some(credential.into()))
    }

    async fn find_by_partial_name(&self, part: &str) -> Result<Vec<String>, ConfigServerError> {
        let answer = self
            .transport
            .send(Method::GET, data().query("name-like", part), None)
            .await?;
        if answer.status == StatusCode::NOT_FOUND {
            return Ok(Vec::new());
        }
        let found: FoundJson = answer.json()?;
        Ok(found.credentials.into_iter().map(|c| c.name).collect())
    }

    async fn delete(&self, name: &str) -> Result<(), ConfigServerError> {
        let answer = self
            .transport
            .send(Method::DELETE, data().query("name", name), None)
            .await?;
        if answer.status.is_success() || answer.status == StatusCode::NOT_FOUND {
            Ok(())
        } else {
            Err(answer.error())
        }
    }
}

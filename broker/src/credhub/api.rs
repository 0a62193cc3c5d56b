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
        Credential { id: c.id, name: c.name, value: c.value.into() }
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
        Ok(Self { transport: Transport::new(settings)?, section: settings.section })
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
        &self, name: &str, actor: &str, permission: Permission,
    ) -> Result<(), ConfigServerError> {
        let v1 = self.transport.facts().await?.is_v1();
        let (path, body) = if v1 {
            (
                UrlPath::root().segment("api").segment("v1").segment("permissions"),
                json!({
                    "credential_name": name,
                    "permissions": [{"actor": actor, "operations": [permission.as_str()]}],
                }),
            )
        } else {
            (
                UrlPath::root().segment("api").segment("v2").segment("permissions"),
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
        &self, name: &str, value: &CredentialValue,
    ) -> Result<Credential, ConfigServerError> {
        let mut body = json!({
            "name": name,
            "type": value.type_name(),
            "value": value.to_json(),
        });
        if self.transport.facts().await?.is_v1() {
            body["mode"] = json!("overwrite");
        }
        let answer = self.transport.send(Method::PUT, data(), Some(&body)).await?;
        let credential: CredentialJson = answer.json()?;
        Ok(credential.into())
    }

    async fn latest(&self, name: &str) -> Result<Option<Credential>, ConfigServerError> {
        let answer = self
            .transport
            .send(Method::GET, data().query("name", name).query("current", "true"), None)
            .await?;
        if answer.status == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        let found: DataJson = answer.json()?;
        Ok(found.data.into_iter().next().map(Credential::from))
    }

    async fn by_id(&self, id: &str) -> Result<Option<Credential>, ConfigServerError> {
        let answer = self.transport.send(Method::GET, data().segment(id), None).await?;
        if answer.status == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        let credential: CredentialJson = answer.json()?;
        Ok(Some(credential.into()))
    }

    async fn find_by_partial_name(&self, part: &str) -> Result<Vec<String>, ConfigServerError> {
        let answer =
            self.transport.send(Method::GET, data().query("name-like", part), None).await?;
        if answer.status == StatusCode::NOT_FOUND {
            return Ok(Vec::new());
        }
        let found: FoundJson = answer.json()?;
        Ok(found.credentials.into_iter().map(|c| c.name).collect())
    }

    async fn delete(&self, name: &str) -> Result<(), ConfigServerError> {
        let answer = self.transport.send(Method::DELETE, data().query("name", name), None).await?;
        if answer.status.is_success() || answer.status == StatusCode::NOT_FOUND {
            Ok(())
        } else {
            Err(answer.error())
        }
    }
}

/// What CredHub receives: encoded paths, form-encoded names, the version-dependent details,
/// and the answers read as CredHub gives them.
#[cfg(test)]
mod wire_tests {
    use super::*;
    use crate::url_path::wire::{self, Answer, Recorded, Recorder};
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    fn settings(base: &str) -> CredhubSettings {
        CredhubSettings {
            section: "bosh_credhub",
            url: base.to_string(),
            ca_certs: vec![],
            client_id: "odb".into(),
            client_secret: "client-s3cret".into(),
            credentials_key: "bosh_credhub.authentication.uaa.client_credentials",
        }
    }

    /// A CredHub of `version` (with `/info` naming the recorder as its UAA) whose API answers
    /// with `api`.
    fn credhub(
        version: &'static str, api: impl Fn(&Recorded) -> Answer + Send + Sync + 'static,
    ) -> Recorder {
        let base = Arc::new(std::sync::Mutex::new(String::new()));
        let b = base.clone();
        let recorder = Recorder::start(move |req| match req.path() {
            "/info" => Answer::json(json!({
                "auth-server": {"url": *b.lock().unwrap()},
                "app": {"name": "CredHub", "version": version},
            })),
            "/oauth/token" => Answer::json(json!({"access_token": "tok", "expires_in": 3600})),
            _ => api(req),
        });
        *base.lock().unwrap() = recorder.base.clone();
        recorder
    }

    fn credential(name: &str) -> Value {
        json!({"id": "id-1", "name": name, "type": "value", "value": "v"})
    }

    fn api_calls(recorder: &Recorder) -> Vec<Recorded> {
        recorder.requests().into_iter().filter(|r| r.path().starts_with("/api/")).collect()
    }

    #[tokio::test]
    async fn every_call_on_the_wire() {
        let recorder = credhub("2.12.0", |req| match (req.method.as_str(), req.path()) {
            ("PUT", _) => Answer::json(credential("/odb/s/d/k")),
            ("GET", "/api/v1/data") if req.target.contains("name-like") => {
                Answer::json(json!({"credentials": [{"name": "/odb/s/d/k"}]}))
            }
            ("GET", "/api/v1/data") => Answer::json(json!({"data": [credential("/x")]})),
            ("GET", _) => Answer::status(
                404,
                r#"{"error":"The request could not be completed because the credential does not exist or you do not have sufficient authorization."}"#,
            ),
            ("DELETE", _) => Answer::status(404, r#"{"error":"missing"}"#),
            _ => Answer::status(201, "{}"),
        });
        let client = CredhubClient::new(&settings(&recorder.base)).unwrap();
        let hostile = "/odb/s/d/a&name=/other#x?y";
        let set = client.set(hostile, &CredentialValue::Value("v".into())).await.unwrap();
        assert_eq!(set.id, "id-1");
        assert_eq!(client.latest(hostile).await.unwrap().unwrap().name, "/x");
        assert!(client.by_id("../../info").await.unwrap().is_none());
        assert_eq!(client.find_by_partial_name("inst&x=1").await.unwrap(), ["/odb/s/d/k"]);
        client.delete(hostile).await.unwrap();
        client.grant("/c/s/i/b/credentials", "mtls-app:g", Permission::Read).await.unwrap();
        let calls = api_calls(&recorder);
        let seen: Vec<_> = calls.iter().map(Recorded::decoded).collect();
        assert_eq!(
            seen,
            vec![
                wire::expected("PUT", &["api", "v1", "data"], &[]),
                wire::expected(
                    "GET",
                    &["api", "v1", "data"],
                    &[("name", hostile), ("current", "true")]
                ),
                wire::expected("GET", &["api", "v1", "data", "../../info"], &[]),
                wire::expected("GET", &["api", "v1", "data"], &[("name-like", "inst&x=1")]),
                wire::expected("DELETE", &["api", "v1", "data"], &[("name", hostile)]),
                wire::expected("POST", &["api", "v2", "permissions"], &[]),
            ]
        );
        let body: Value = serde_json::from_str(&calls[0].body).unwrap();
        assert_eq!(body, json!({"name": hostile, "type": "value", "value": "v"}));
        let grant: Value = serde_json::from_str(&calls[5].body).unwrap();
        assert_eq!(
            grant,
            json!({"path": "/c/s/i/b/credentials", "actor": "mtls-app:g", "operations": ["read"]})
        );
    }

    #[tokio::test]
    async fn credhub_1_gets_overwrite_mode_and_v1_permissions() {
        let recorder = credhub("1.9.3", |req| match req.method.as_str() {
            "PUT" => Answer::json(credential("/n")),
            _ => Answer::status(201, "{}"),
        });
        let client = CredhubClient::new(&settings(&recorder.base)).unwrap();
        let mut object = serde_json::Map::new();
        object.insert("k".into(), json!(1));
        client.set("/n", &CredentialValue::Json(object)).await.unwrap();
        client.grant("/n", "uaa-client:c", Permission::Read).await.unwrap();
        let calls = api_calls(&recorder);
        let set: Value = serde_json::from_str(&calls[0].body).unwrap();
        assert_eq!(
            set,
            json!({"name": "/n", "type": "json", "value": {"k": 1}, "mode": "overwrite"})
        );
        assert_eq!(calls[1].path(), "/api/v1/permissions");
        let grant: Value = serde_json::from_str(&calls[1].body).unwrap();
        assert_eq!(
            grant,
            json!({"credential_name": "/n", "permissions": [{"actor": "uaa-client:c", "operations": ["read"]}]})
        );
    }

    #[tokio::test]
    async fn a_401_gets_one_new_token_and_one_retry() {
        let hits = Arc::new(AtomicUsize::new(0));
        let h = hits.clone();
        let recorder = credhub("2.0.0", move |_| {
            if h.fetch_add(1, Ordering::SeqCst) == 0 {
                Answer::status(401, r#"{"error":"invalid_token"}"#)
            } else {
                Answer::status(204, "")
            }
        });
        let client = CredhubClient::new(&settings(&recorder.base)).unwrap();
        client.delete("/n").await.unwrap();
        let tokens = recorder.requests().iter().filter(|r| r.path() == "/oauth/token").count();
        assert_eq!(tokens, 2);
        assert_eq!(hits.load(Ordering::SeqCst), 2);

        let always = credhub("2.0.0", |_| Answer::status(401, r#"{"error":"invalid_token"}"#));
        let client = CredhubClient::new(&settings(&always.base)).unwrap();
        let err = client.latest("/n").await.unwrap_err();
        assert!(matches!(err, ConfigServerError::Unauthorized { .. }), "{err}");
        assert!(!err.is_transient());
        assert_eq!(api_calls(&always).len(), 2, "one retry, no more");
    }

    #[tokio::test]
    async fn errors_name_the_url_never_a_value_or_the_secret() {
        let recorder = credhub("2.0.0", |req| match req.method.as_str() {
            "GET" => Answer::status(200, r#"{"data": "hunter2-value"}"#),
            _ => Answer::status(500, r#"{"error":"database down"}"#),
        });
        let client = CredhubClient::new(&settings(&recorder.base)).unwrap();
        let err = client.latest("/n").await.unwrap_err();
        let text = err.to_string();
        assert!(text.contains(&format!("{}/api/v1/data", recorder.base)), "{text}");
        assert!(!text.contains("hunter2") && !text.contains("client-s3cret"), "{text}");
        let err = client.delete("/n").await.unwrap_err();
        assert!(err.is_transient());
        assert!(err.to_string().contains("answered 500: database down"), "{err}");

        let down = CredhubClient::new(&settings("https://127.0.0.1:1")).unwrap();
        let err = down.check().await.unwrap_err();
        assert!(matches!(err, ConfigServerError::Unreachable { .. }) && err.is_transient());
        assert!(err.to_string().contains("https://127.0.0.1:1/info"), "{err}");
    }

    #[tokio::test]
    async fn the_version_comes_from_the_version_endpoint_when_info_has_none() {
        let base = Arc::new(std::sync::Mutex::new(String::new()));
        let b = base.clone();
        let recorder = Recorder::start(move |req| match req.path() {
            "/info" => Answer::json(json!({"auth-server": {"url": *b.lock().unwrap()}})),
            "/version" => Answer::json(json!({"version": "1.6.0"})),
            _ => Answer::json(json!({"access_token": "t", "expires_in": 60})),
        });
        *base.lock().unwrap() = recorder.base.clone();
        let client = CredhubClient::new(&settings(&recorder.base)).unwrap();
        let facts = client.check().await.unwrap();
        assert_eq!((facts.major, facts.is_v1()), (1, true));
    }
}

//! A blocking client for a running broker: the management API and the few OSB calls the
//! operator commands need (last operation, unbind, deprovision).
//!
//! Instance and binding ids come from the broker's own listing, but are still never put into a
//! URL as they are: every path is a [`UrlPath`] of encoded segments, so an id such as
//! `zz/../plain1` addresses that instance and not `plain1`.

use crate::url_path::{UrlPath, UrlPathError};
use reqwest::blocking::{Client, RequestBuilder};
use reqwest::{Method, StatusCode, Url};
use serde::Deserialize;
use serde_json::Value;
use std::time::Duration;

/// The OSB API version the commands send.
const API_VERSION: &str = "2.17";

/// Why a call to the broker failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The broker could not be reached, or the connection broke.
    #[error(
        "cannot reach the broker at {url}: {source}; check --broker-url and that the broker runs"
    )]
    Unreachable {
        /// The URL called.
        url: String,
        /// Why.
        source: reqwest::Error,
    },
    /// The broker refused the credentials.
    #[error("the broker refused the credentials (401): check --username/--password (BROKER_USERNAME/BROKER_PASSWORD)")]
    Unauthorized,
    /// The broker answered with an unexpected status.
    #[error("{method} {path} answered {status}: {description}")]
    Status {
        /// The method.
        method: &'static str,
        /// The path called.
        path: String,
        /// The status.
        status: u16,
        /// The body's `description`, or the body.
        description: String,
    },
    /// The body was not what the API documents.
    #[error("{path}: unexpected response body: {detail}")]
    Body {
        /// The path called.
        path: String,
        /// What was wrong.
        detail: String,
    },
    /// The HTTP client could not be built.
    #[error("cannot build the HTTP client: {0}")]
    Build(reqwest::Error),
    /// `--broker-url` is not a URL the client can call.
    #[error("--broker-url '{url}' is not usable: {reason}; write it as http(s)://<host>:<port>")]
    BrokerUrl {
        /// The URL given.
        url: String,
        /// Why.
        reason: String,
    },
    /// An id cannot be put into a URL without changing which resource is called.
    #[error("refusing to call the broker: {0}")]
    Path(#[from] UrlPathError),
}

/// How to reach the broker.
#[derive(Debug, Clone)]
pub struct BrokerClient {
    base_url: Url,
    username: String,
    password: String,
    http: Client,
}

/// One instance, as `GET /mgmt/service_instances` lists it.
#[derive(Debug, Clone, Deserialize)]
pub struct ListedInstance {
    /// The instance id.
    pub service_instance_id: String,
    /// The service id.
    #[serde(default)]
    pub service_id: String,
    /// The plan id.
    pub plan_id: String,
}

/// One binding, as `GET /mgmt/service_instances/{id}/bindings` lists it.
#[derive(Debug, Clone, Deserialize)]
pub struct ListedBinding {
    /// The binding id.
    pub binding_id: String,
}

/// What the broker said to a request that starts an operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Started {
    /// Accepted: the operation id.
    Operation(String),
    /// Another operation is in progress (409, or 422 `ConcurrencyError`).
    Busy(String),
    /// The instance (or its deployment) does not exist any more (404, 410).
    Gone,
    /// Finished synchronously (200): nothing to poll.
    Done,
    /// Refused for another reason.
    Rejected(u16, String),
}

/// The state of an operation, from `last_operation`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Progress {
    /// Still running.
    InProgress,
    /// Succeeded.
    Succeeded,
    /// Failed, with the broker's description.
    Failed(String),
    /// The instance is gone (404, 410).
    Gone,
}

fn description(text: &str) -> String {
    serde_json::from_str::<Value>(text)
        .ok()
        .and_then(|v| v.get("description").and_then(Value::as_str).map(str::to_string))
        .unwrap_or_else(|| text.trim().to_string())
}

/// The OSB `error` code of an error body (`ConcurrencyError`), if it has one.
fn error_code(text: &str) -> Option<String> {
    serde_json::from_str::<Value>(text).ok()?.get("error")?.as_str().map(str::to_string)
}

/// `/mgmt/service_instances`.
fn mgmt_instances() -> UrlPath {
    UrlPath::root().segment("mgmt").segment("service_instances")
}

/// `/v2/service_instances/<id>`.
fn osb_instance(instance_id: &str) -> UrlPath {
    UrlPath::root().segment("v2").segment("service_instances").segment(instance_id)
}

/// `base` without user name and password, for messages.
fn without_credentials(base: &Url) -> String {
    let mut shown = base.clone();
    let _ = shown.set_username("");
    let _ = shown.set_password(None);
    shown.to_string()
}

impl BrokerClient {
    /// A client for the broker at `base_url` with basic-auth credentials.
    pub fn new(base_url: &str, username: &str, password: &str) -> Result<Self, ClientError> {
        let unusable =
            |reason: String| ClientError::BrokerUrl { url: base_url.to_string(), reason };
        let parsed =
            Url::parse(base_url.trim_end_matches('/')).map_err(|e| unusable(e.to_string()))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(unusable(format!("'{}' is not http or https", parsed.scheme())));
        }
        let http = Client::builder()
            .timeout(Duration::from_secs(120))
            .build()
            .map_err(ClientError::Build)?;
        Ok(Self {
            base_url: parsed,
            username: username.to_string(),
            password: password.to_string(),
            http,
        })
    }

    /// `path` under the broker's base URL.
    fn url(&self, path: &UrlPath) -> Result<Url, ClientError> {
        Ok(path.to_url(&self.base_url)?)
    }

    fn request(&self, method: Method, path: &UrlPath) -> Result<RequestBuilder, ClientError> {
        Ok(self
            .http
            .request(method, self.url(path)?)
            .basic_auth(&self.username, Some(&self.password)))
    }

    fn osb(&self, method: Method, path: &UrlPath) -> Result<RequestBuilder, ClientError> {
        Ok(self.request(method, path)?.header("X-Broker-API-Version", API_VERSION))
    }

    fn send(
        &self, builder: RequestBuilder, path: &UrlPath,
    ) -> Result<(StatusCode, String), ClientError> {
        let url =
            format!("{}{}", without_credentials(&self.base_url).trim_end_matches('/'), path.path());
        let response = builder
            .send()
            .map_err(|source| ClientError::Unreachable { url: url.clone(), source })?;
        let status = response.status();
        let text = response.text().map_err(|source| ClientError::Unreachable { url, source })?;
        if status == StatusCode::UNAUTHORIZED {
            return Err(ClientError::Unauthorized);
        }
        Ok((status, text))
    }

    fn get_json<T: serde::de::DeserializeOwned>(&self, path: UrlPath) -> Result<T, ClientError> {
        let (status, text) = self.send(self.request(Method::GET, &path)?, &path)?;
        if status != StatusCode::OK {
            return Err(ClientError::Status {
                method: "GET",
                path: path.to_string(),
                status: status.as_u16(),
                description: description(&text),
            });
        }
        serde_json::from_str(&text)
            .map_err(|e| ClientError::Body { path: path.to_string(), detail: e.to_string() })
    }

    /// `GET /mgmt/service_instances`.
    pub fn instances(&self) -> Result<Vec<ListedInstance>, ClientError> {
        self.get_json(mgmt_instances())
    }

    /// `GET /mgmt/orphan_deployments`, as the broker sent it.
    pub fn orphan_deployments(&self) -> Result<Vec<Value>, ClientError> {
        self.get_json(UrlPath::root().segment("mgmt").segment("orphan_deployments"))
    }

    /// `GET /mgmt/service_instances/{id}/bindings`.
    pub fn bindings(&self, instance_id: &str) -> Result<Vec<ListedBinding>, ClientError> {
        self.get_json(mgmt_instances().segment(instance_id).segment("bindings"))
    }

    /// `GET /mgmt/service_instances/{id}/operations`: the instance's history.
    pub fn history(&self, instance_id: &str) -> Result<Vec<Value>, ClientError> {
        self.get_json(mgmt_instances().segment(instance_id).segment("operations"))
    }

    /// `PATCH /mgmt/service_instances/{id}?operation_type=...`.
    pub fn start(&self, instance_id: &str, operation_type: &str) -> Result<Started, ClientError> {
        let path = mgmt_instances().segment(instance_id).query("operation_type", operation_type);
        let (status, text) = self.send(self.request(Method::PATCH, &path)?, &path)?;
        Ok(started(status, &text))
    }

    /// `DELETE /v2/service_instances/{id}/service_bindings/{bid}`: true when unbound or
    /// already gone.
    pub fn unbind(
        &self, instance: &ListedInstance, binding_id: &str,
    ) -> Result<Result<(), String>, ClientError> {
        let path = osb_instance(&instance.service_instance_id)
            .segment("service_bindings")
            .segment(binding_id)
            .query("service_id", &instance.service_id)
            .query("plan_id", &instance.plan_id);
        let (status, text) = self.send(self.osb(Method::DELETE, &path)?, &path)?;
        Ok(match status.as_u16() {
            200 | 410 => Ok(()),
            s => Err(format!("unbind answered {s}: {}", description(&text))),
        })
    }

    /// `DELETE /v2/service_instances/{id}?accepts_incomplete=true`.
    pub fn deprovision(&self, instance: &ListedInstance) -> Result<Started, ClientError> {
        let path = osb_instance(&instance.service_instance_id)
            .query("accepts_incomplete", "true")
            .query("service_id", &instance.service_id)
            .query("plan_id", &instance.plan_id);
        let (status, text) = self.send(self.osb(Method::DELETE, &path)?, &path)?;
        Ok(started(status, &text))
    }

    /// `GET /v2/service_instances/{id}/last_operation?operation=...`.
    pub fn progress(&self, instance_id: &str, operation: &str) -> Result<Progress, ClientError> {
        let path =
            osb_instance(instance_id).segment("last_operation").query("operation", operation);
        let (status, text) = self.send(self.osb(Method::GET, &path)?, &path)?;
        match status.as_u16() {
            404 | 410 => Ok(Progress::Gone),
            200 => {
                let body: Value = serde_json::from_str(&text).map_err(|e| ClientError::Body {
                    path: path.to_string(),
                    detail: e.to_string(),
                })?;
                let desc = body["description"].as_str().unwrap_or("").to_string();
                match body["state"].as_str() {
                    Some("in progress") => Ok(Progress::InProgress),
                    Some("succeeded") => Ok(Progress::Succeeded),
                    Some("failed") => Ok(Progress::Failed(desc)),
                    other => Err(ClientError::Body {
                        path: path.to_string(),
                        detail: format!("unknown state {other:?}"),
                    }),
                }
            }
            s => Err(ClientError::Status {
                method: "GET",
                path: path.to_string(),
                status: s,
                description: description(&text),
            }),
        }
    }
}

fn started(status: StatusCode, text: &str) -> Started {
    match status.as_u16() {
        202 => serde_json::from_str::<Value>(text)
            .ok()
            .and_then(|v| v.get("operation").and_then(Value::as_str).map(str::to_string))
            .map(Started::Operation)
            .unwrap_or_else(|| {
                Started::Rejected(202, format!("no operation in the answer: {text}"))
            }),
        200 => Started::Done,
        409 => Started::Busy(description(text)),
        422 if error_code(text).as_deref() == Some("ConcurrencyError") => {
            Started::Busy(description(text))
        }
        404 | 410 => Started::Gone,
        s => Started::Rejected(s, description(text)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::url_path::wire::{self, Answer, Recorded, Recorder};
    use serde_json::json;

    /// Ids that would address another instance or binding if put into a URL as they are.
    const HOSTILE: &[&str] = &[
        "zz/../plain1",
        "zz%2F..%2Fplain1",
        "plain1#",
        "plain1?operation_type=recreate",
        "plain1/",
        "plain1/..",
        "%2e%2e",
        "a;b=c",
        "a b+c&d=e",
        "a\r\nX-Injected: 1",
        "a\0b",
        "a\\..\\plain1",
        "雪/../plain1",
    ];

    fn answer(req: &Recorded) -> Answer {
        match (req.method.as_str(), req.segments().last().map(String::as_str)) {
            ("GET", Some("bindings")) => Answer::json(json!([{"binding_id": "b"}])),
            ("GET", Some("last_operation")) => Answer::json(json!({"state": "succeeded"})),
            ("GET", _) => Answer::json(json!([])),
            ("DELETE", _) if req.segments().len() == 5 => Answer::json(json!({})),
            _ => {
                Answer { status: 202, location: None, body: json!({"operation": "op"}).to_string() }
            }
        }
    }

    #[test]
    fn a_hostile_id_stays_one_encoded_segment() {
        for id in HOSTILE {
            let recorder = Recorder::start(answer);
            let client = BrokerClient::new(&recorder.base, "admin", "secret").unwrap();
            let instance = ListedInstance {
                service_instance_id: id.to_string(),
                service_id: "svc&plan_id=x".to_string(),
                plan_id: "plan#1".to_string(),
            };
            let binding = format!("{id}/../../{id}");
            assert_eq!(client.bindings(id).unwrap().len(), 1);
            assert_eq!(client.start(id, "upgrade").unwrap(), Started::Operation("op".into()));
            assert_eq!(client.unbind(&instance, &binding).unwrap(), Ok(()));
            assert_eq!(client.deprovision(&instance).unwrap(), Started::Operation("op".into()));
            assert_eq!(client.progress(id, "op&operation=other#").unwrap(), Progress::Succeeded);
            let requests = recorder.requests();
            let seen: Vec<_> = requests.iter().map(Recorded::decoded).collect();
            assert_eq!(
                seen,
                vec![
                    wire::expected("GET", &["mgmt", "service_instances", id, "bindings"], &[]),
                    wire::expected(
                        "PATCH",
                        &["mgmt", "service_instances", id],
                        &[("operation_type", "upgrade")]
                    ),
                    wire::expected(
                        "DELETE",
                        &["v2", "service_instances", id, "service_bindings", &binding],
                        &[("service_id", "svc&plan_id=x"), ("plan_id", "plan#1")]
                    ),
                    wire::expected(
                        "DELETE",
                        &["v2", "service_instances", id],
                        &[
                            ("accepts_incomplete", "true"),
                            ("service_id", "svc&plan_id=x"),
                            ("plan_id", "plan#1")
                        ]
                    ),
                    wire::expected(
                        "GET",
                        &["v2", "service_instances", id, "last_operation"],
                        &[("operation", "op&operation=other#")]
                    ),
                ],
                "{id:?}"
            );
            // The upgrade of `zz/../plain1` is not an upgrade of `plain1`.
            assert!(requests
                .iter()
                .all(|r| !r.path().ends_with("/plain1") && !r.path().contains("/plain1/")));
        }
    }

    #[test]
    fn dot_and_empty_ids_are_refused_before_any_request() {
        let recorder = Recorder::start(answer);
        let client = BrokerClient::new(&recorder.base, "admin", "secret").unwrap();
        for id in ["", ".", ".."] {
            assert!(matches!(client.start(id, "recreate"), Err(ClientError::Path(_))));
            assert!(matches!(client.bindings(id), Err(ClientError::Path(_))));
            assert!(matches!(client.progress(id, "op"), Err(ClientError::Path(_))));
        }
        assert!(recorder.requests().is_empty());
    }

    #[test]
    fn the_broker_url_path_is_kept() {
        let recorder = Recorder::start(answer);
        let client =
            BrokerClient::new(&format!("{}/broker/", recorder.base), "admin", "secret").unwrap();
        client.start("zz/../plain1", "recreate").unwrap();
        let targets: Vec<String> = recorder.requests().into_iter().map(|r| r.target).collect();
        assert_eq!(
            targets,
            ["/broker/mgmt/service_instances/zz%2F..%2Fplain1?operation_type=recreate"]
        );
    }

    #[test]
    fn a_broker_url_that_cannot_be_called_is_refused() {
        for url in ["not a url", "ftp://broker", "mailto:ops@example.com"] {
            assert!(
                matches!(BrokerClient::new(url, "u", "p"), Err(ClientError::BrokerUrl { .. })),
                "{url}"
            );
        }
    }

    #[test]
    fn an_unreachable_broker_is_named_without_credentials() {
        let client = BrokerClient::new("http://ops:s3cret@127.0.0.1:1", "u", "p").unwrap();
        let e = client.instances().unwrap_err();
        let text = e.to_string();
        assert!(matches!(e, ClientError::Unreachable { .. }), "{text}");
        assert!(text.contains("http://127.0.0.1:1/mgmt/service_instances"), "{text}");
        assert!(!text.contains("s3cret"), "{text}");
    }

    #[test]
    fn only_the_concurrency_error_code_makes_a_422_busy() {
        let busy = json!({"error": "ConcurrencyError", "description": "in progress"}).to_string();
        assert_eq!(
            started(StatusCode::UNPROCESSABLE_ENTITY, &busy),
            Started::Busy("in progress".into())
        );
        let other =
            json!({"error": "MaintenanceInfoConflict", "description": "not a ConcurrencyError"})
                .to_string();
        assert_eq!(
            started(StatusCode::UNPROCESSABLE_ENTITY, &other),
            Started::Rejected(422, "not a ConcurrencyError".into())
        );
    }
}

//! A blocking client for a running broker: the management API and the few OSB calls the
//! operator commands need (last operation, unbind, deprovision).

use reqwest::blocking::{Client, RequestBuilder};
use reqwest::StatusCode;
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
}

/// How to reach the broker.
#[derive(Debug, Clone)]
pub struct BrokerClient {
    base_url: String,
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
        .and_then(|v| {
            v.get("description")
                .and_then(Value::as_str)
                .map(str::to_string)
        })
        .unwrap_or_else(|| text.trim().to_string())
}

impl BrokerClient {
    /// A client for the broker at `base_url` with basic-auth credentials.
    pub fn new(base_url: &str, username: &str, password: &str) -> Result<Self, ClientError> {
        let http = Client::builder()
            .timeout(Duration::from_secs(120))
            .build()
            .map_err(ClientError::Build)?;
        Ok(Self {
            base_url: base_url.trim_end_matches('/').to_string(),
            username: username.to_string(),
            password: password.to_string(),
            http,
        })
    }

    fn request(&self, method: reqwest::Method, path: &str) -> RequestBuilder {
        self.http
            .request(method, format!("{}{path}", self.base_url))
            .basic_auth(&self.username, Some(&self.password))
    }

    fn osb(&self, method: reqwest::Method, path: &str) -> RequestBuilder {
        self.request(method, path)
            .header("X-Broker-API-Version", API_VERSION)
    }

    fn send(
        &self,
        builder: RequestBuilder,
        path: &str,
    ) -> Result<(StatusCode, String), ClientError> {
        let url = format!("{}{path}", self.base_url);
        let response = builder.send().map_err(|source| ClientError::Unreachable {
            url: url.clone(),
            source,
        })?;
        let status = response.status();
        let text = response
            .text()
            .map_err(|source| ClientError::Unreachable { url, source })?;
        if status == StatusCode::UNAUTHORIZED {
            return Err(ClientError::Unauthorized);
        }
        Ok((status, text))
    }

    fn get_json<T: serde::de::DeserializeOwned>(&self, path: &str) -> Result<T, ClientError> {
        let (status, text) = self.send(self.request(reqwest::Method::GET, path), path)?;
        if status != StatusCode::OK {
            return Err(ClientError::Status {
                method: "GET",
                path: path.to_string(),
                status: status.as_u16(),
                description: description(&text),
            });
        }
        serde_json::from_str(&text).map_err(|e| ClientError::Body {
            path: path.to_string(),
            detail: e.to_string(),
        })
    }

    /// `GET /mgmt/service_instances`.
    pub fn instances(&self) -> Result<Vec<ListedInstance>, ClientError> {
        self.get_json("/mgmt/service_instances")
    }

    /// `GET /mgmt/orphan_deployments`, as the broker sent it.
    pub fn orphan_deployments(&self) -> Result<Vec<Value>, ClientError> {
        self.get_json("/mgmt/orphan_deployments")
    }

    /// `GET /mgmt/service_instances/{id}/bindings`.
    pub fn bindings(&self, instance_id: &str) -> Result<Vec<ListedBinding>, ClientError> {
        self.get_json(&format!("/mgmt/service_instances/{instance_id}/bindings"))
    }

    /// `PATCH /mgmt/service_instances/{id}?operation_type=...`.
    pub fn start(&self, instance_id: &str, operation_type: &str) -> Result<Started, ClientError> {
        let path = format!("/mgmt/service_instances/{instance_id}?operation_type={operation_type}");
        let (status, text) = self.send(self.request(reqwest::Method::PATCH, &path), &path)?;
        Ok(started(status, &text))
    }

    /// `DELETE /v2/service_instances/{id}/service_bindings/{bid}`: true when unbound or
    /// already gone.
    pub fn unbind(
        &self,
        instance: &ListedInstance,
        binding_id: &str,
    ) -> Result<Result<(), String>, ClientError> {
        let path = format!(
            "/v2/service_instances/{}/service_bindings/{binding_id}",
            instance.service_instance_id
        );
        let builder = self.osb(reqwest::Method::DELETE, &path).query(&[
            ("service_id", instance.service_id.as_str()),
            ("plan_id", instance.plan_id.as_str()),
        ]);
        let (status, text) = self.send(builder, &path)?;
        Ok(match status.as_u16() {
            200 | 410 => Ok(()),
            s => Err(format!("unbind answered {s}: {}", description(&text))),
        })
    }

    /// `DELETE /v2/service_instances/{id}?accepts_incomplete=true`.
    pub fn deprovision(&self, instance: &ListedInstance) -> Result<Started, ClientError> {
        let path = format!("/v2/service_instances/{}", instance.service_instance_id);
        let builder = self.osb(reqwest::Method::DELETE, &path).query(&[
            ("accepts_incomplete", "true"),
            ("service_id", instance.service_id.as_str()),
            ("plan_id", instance.plan_id.as_str()),
        ]);
        let (status, text) = self.send(builder, &path)?;
        Ok(started(status, &text))
    }

    /// `GET /v2/service_instances/{id}/last_operation?operation=...`.
    pub fn progress(&self, instance_id: &str, operation: &str) -> Result<Progress, ClientError> {
        let path = format!("/v2/service_instances/{instance_id}/last_operation");
        let builder = self
            .osb(reqwest::Method::GET, &path)
            .query(&[("operation", operation)]);
        let (status, text) = self.send(builder, &path)?;
        match status.as_u16() {
            404 | 410 => Ok(Progress::Gone),
            200 => {
                let body: Value = serde_json::from_str(&text).map_err(|e| ClientError::Body {
                    path: path.clone(),
                    detail: e.to_string(),
                })?;
                let desc = body["description"].as_str().unwrap_or("").to_string();
                match body["state"].as_str() {
                    Some("in progress") => Ok(Progress::InProgress),
                    Some("succeeded") => Ok(Progress::Succeeded),
                    Some("failed") => Ok(Progress::Failed(desc)),
                    other => Err(ClientError::Body {
                        path,
                        detail: format!("unknown state {other:?}"),
                    }),
                }
            }
            s => Err(ClientError::Status {
                method: "GET",
                path,
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
            .and_then(|v| {
                v.get("operation")
                    .and_then(Value::as_str)
                    .map(str::to_string)
            })
            .map(Started::Operation)
            .unwrap_or_else(|| {
                Started::Rejected(202, format!("no operation in the answer: {text}"))
            }),
        200 => Started::Done,
        409 => Started::Busy(description(text)),
        422 if text.contains("ConcurrencyError") => Started::Busy(description(text)),
        404 | 410 => Started::Gone,
        s => Started::Rejected(s, description(text)),
    }
}

//! [`OsbClient`]: a blocking Open Service Broker API client for the tests, with one helper per
//! endpoint and a raw [`OsbClient::request`] for tests of headers and authentication.

use reqwest::blocking::{Client, RequestBuilder};
use reqwest::header::HeaderMap;
use reqwest::Method;
use serde_json::Value;
use std::time::{Duration, Instant};

/// The `X-Broker-API-Version` the client sends by default.
pub const API_VERSION: &str = "2.17";

/// A broker response: status, headers, the body as text and, if it parses, as JSON.
#[derive(Clone, Debug)]
pub struct Response {
    /// HTTP status code.
    pub status: u16,
    /// Response headers.
    pub headers: HeaderMap,
    /// The body parsed as JSON; `Value::Null` if it is empty or not JSON.
    pub body: Value,
    /// The body as text.
    pub text: String,
}

impl Response {
    /// A header's value as text, if present and valid UTF-8.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// `body[key]` as a string, if it is one.
    pub fn str_field(&self, key: &str) -> Option<&str> {
        self.body.get(key).and_then(Value::as_str)
    }
}

/// A blocking OSB client with basic auth and `X-Broker-API-Version: 2.17` by default.
#[derive(Clone, Debug)]
pub struct OsbClient {
    base_url: String,
    username: String,
    password: String,
    api_version: Option<String>,
    http: Client,
}

impl OsbClient {
    /// A client for the broker at `base_url` (`http://127.0.0.1:<port>`).
    pub fn new(base_url: &str, username: &str, password: &str) -> Self {
        let http = Client::builder()
            .timeout(Duration::from_secs(120))
            .build()
            .expect("cannot build the HTTP client");
        OsbClient {
            base_url: base_url.trim_end_matches('/').to_string(),
            username: username.into(),
            password: password.into(),
            api_version: Some(API_VERSION.into()),
            http,
        }
    }

    /// The same client with other credentials.
    pub fn with_credentials(mut self, username: &str, password: &str) -> Self {
        self.username = username.into();
        self.password = password.into();
        self
    }

    /// The same client sending another `X-Broker-API-Version`, or none.
    pub fn with_api_version(mut self, version: Option<&str>) -> Self {
        self.api_version = version.map(str::to_string);
        self
    }

    /// The broker's base URL.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// Sends exactly what it is given: `method` on `base_url + path` (path may carry a query),
    /// the `headers`, and `body` as the raw request body (with `Content-Type: application/json`
    /// unless `headers` sets one). No authentication or API-version header is added.
    pub fn request(
        &self, method: &str, path: &str, headers: &[(&str, &str)], body: Option<&str>,
    ) -> Response {
        let method = Method::from_bytes(method.as_bytes()).expect("invalid HTTP method");
        let mut builder = self.http.request(method, format!("{}{path}", self.base_url));
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        if let Some(body) = body {
            if !headers.iter().any(|(name, _)| name.eq_ignore_ascii_case("content-type")) {
                builder = builder.header("Content-Type", "application/json");
            }
            builder = builder.body(body.to_string());
        }
        send(builder)
    }

    /// A request with the client's authentication and API-version header, a JSON body if
    /// given, and `query` pairs.
    pub fn send(
        &self, method: Method, path: &str, query: &[(&str, &str)], body: Option<&Value>,
    ) -> Response {
        let mut builder = self
            .http
            .request(method, format!("{}{path}", self.base_url))
            .basic_auth(&self.username, Some(&self.password))
            .query(query);
        if let Some(version) = &self.api_version {
            builder = builder.header("X-Broker-API-Version", version);
        }
        if let Some(body) = body {
            builder = builder.json(body);
        }
        send(builder)
    }

    /// `GET /v2/catalog`.
    pub fn catalog(&self) -> Response {
        self.send(Method::GET, "/v2/catalog", &[], None)
    }

    /// `PUT /v2/service_instances/:id`, with `?accepts_incomplete=true` when asked.
    pub fn provision(&self, instance_id: &str, body: &Value, accepts_incomplete: bool) -> Response {
        self.send(
            Method::PUT,
            &instance_path(instance_id),
            incomplete(accepts_incomplete),
            Some(body),
        )
    }

    /// `PATCH /v2/service_instances/:id`, with `?accepts_incomplete=true` when asked.
    pub fn update(&self, instance_id: &str, body: &Value, accepts_incomplete: bool) -> Response {
        self.send(
            Method::PATCH,
            &instance_path(instance_id),
            incomplete(accepts_incomplete),
            Some(body),
        )
    }

    /// `DELETE /v2/service_instances/:id?service_id=..&plan_id=..[&accepts_incomplete=true]`.
    pub fn deprovision(
        &self, instance_id: &str, service_id: &str, plan_id: &str, accepts_incomplete: bool,
    ) -> Response {
        let mut query = vec![("service_id", service_id), ("plan_id", plan_id)];
        query.extend_from_slice(incomplete(accepts_incomplete));
        self.send(Method::DELETE, &instance_path(instance_id), &query, None)
    }

    /// `GET /v2/service_instances/:id/last_operation[?operation=..]`.
    pub fn last_operation(&self, instance_id: &str, operation: Option<&str>) -> Response {
        let query: Vec<(&str, &str)> = operation.map(|op| ("operation", op)).into_iter().collect();
        self.send(
            Method::GET,
            &format!("{}/last_operation", instance_path(instance_id)),
            &query,
            None,
        )
    }

    /// `GET /mgmt/service_instances/:id/operations`: the instance's operations journal.
    pub fn instance_history(&self, instance_id: &str) -> Response {
        self.send(
            Method::GET,
            &format!("/mgmt/service_instances/{instance_id}/operations"),
            &[],
            None,
        )
    }

    /// `GET /v2/service_instances/:id`.
    pub fn get_instance(&self, instance_id: &str) -> Response {
        self.send(Method::GET, &instance_path(instance_id), &[], None)
    }

    /// `PUT /v2/service_instances/:id/service_bindings/:binding_id`.
    pub fn bind(&self, instance_id: &str, binding_id: &str, body: &Value) -> Response {
        self.send(Method::PUT, &binding_path(instance_id, binding_id), &[], Some(body))
    }

    /// `DELETE /v2/service_instances/:id/service_bindings/:binding_id?service_id=..&plan_id=..`.
    pub fn unbind(
        &self, instance_id: &str, binding_id: &str, service_id: &str, plan_id: &str,
    ) -> Response {
        self.send(
            Method::DELETE,
            &binding_path(instance_id, binding_id),
            &[("service_id", service_id), ("plan_id", plan_id)],
            None,
        )
    }

    /// `GET /v2/service_instances/:id/service_bindings/:binding_id`.
    pub fn get_binding(&self, instance_id: &str, binding_id: &str) -> Response {
        self.send(Method::GET, &binding_path(instance_id, binding_id), &[], None)
    }

    /// `GET /v2/service_instances/:id/service_bindings/:binding_id/last_operation[?operation=..]`.
    pub fn binding_last_operation(
        &self, instance_id: &str, binding_id: &str, operation: Option<&str>,
    ) -> Response {
        let query: Vec<(&str, &str)> = operation.map(|op| ("operation", op)).into_iter().collect();
        self.send(
            Method::GET,
            &format!("{}/last_operation", binding_path(instance_id, binding_id)),
            &query,
            None,
        )
    }

    /// Polls `last_operation` every 100 ms until its state is no longer `in progress` and returns
    /// the final state (`succeeded`, `failed`), or `gone` if the broker answers 410 (the instance
    /// was deleted). Panics on any other status or after `timeout`.
    pub fn wait_for_operation(
        &self, instance_id: &str, operation: Option<&str>, timeout: Duration,
    ) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            let response = self.last_operation(instance_id, operation);
            match response.status {
                410 => return "gone".into(),
                200 => {
                    let state = response.str_field("state").unwrap_or_default();
                    if state != "in progress" {
                        return state.to_string();
                    }
                }
                status => {
                    panic!("last_operation for {instance_id} answered {status}: {}", response.text)
                }
            }
            if Instant::now() >= deadline {
                panic!(
                    "operation on {instance_id} still in progress after {timeout:?}: {}",
                    response.text
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// The `accepts_incomplete` query for a flag (absent when false).
fn incomplete(accepts_incomplete: bool) -> &'static [(&'static str, &'static str)] {
    if accepts_incomplete {
        &[("accepts_incomplete", "true")]
    } else {
        &[]
    }
}

/// `/v2/service_instances/:id`.
fn instance_path(instance_id: &str) -> String {
    format!("/v2/service_instances/{instance_id}")
}

/// `/v2/service_instances/:id/service_bindings/:binding_id`.
fn binding_path(instance_id: &str, binding_id: &str) -> String {
    format!("{}/service_bindings/{binding_id}", instance_path(instance_id))
}

/// Sends a request and collects the response; panics if the broker cannot be reached.
fn send(builder: RequestBuilder) -> Response {
    let response = builder.send().unwrap_or_else(|e| panic!("request to the broker failed: {e}"));
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let text = response.text().unwrap_or_else(|e| panic!("cannot read the broker's response: {e}"));
    let body = serde_json::from_str(&text).unwrap_or(Value::Null);
    Response { status, headers, body, text }
}

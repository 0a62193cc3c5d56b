//! The director client's HTTP layer: a request ([`Call`]) rebuilt for a retry after a token
//! refresh, its answer ([`Answer`]) checked for the statuses the director uses, the pooled
//! HTTP client, and JSON decoding with messages that name the request.

use super::super::DirectorError;
use crate::uaa::truncate;
use crate::url_path::UrlPath;
use reqwest::{Method, StatusCode};
use serde_json::Value;
use std::time::Duration;

/// How much of a director's error body a [`DirectorError::UnexpectedStatus`] keeps.
pub(super) const BODY_LIMIT: usize = 2048;
/// How much of a request path an error message quotes.
pub(super) const WHAT_LIMIT: usize = 256;
/// The header that tags a director task with the broker's operation id.
pub(super) const CONTEXT_HEADER: &str = "X-Bosh-Context-Id";

/// The body of a request.
pub(super) enum Body {
    None,
    Yaml(String),
    Json(Value),
}

/// One director request, rebuilt for a retry after a token refresh.
pub(super) struct Call<'a> {
    pub(super) method: Method,
    /// Path and query, every name in it percent-encoded.
    pub(super) path: UrlPath,
    pub(super) body: Body,
    pub(super) context_id: Option<&'a str>,
}

impl<'a> Call<'a> {
    pub(super) fn new(method: Method, path: UrlPath) -> Self {
        Call { method, path, body: Body::None, context_id: None }
    }

    pub(super) fn get(path: UrlPath) -> Self {
        Self::new(Method::GET, path)
    }

    pub(super) fn query(mut self, key: &str, value: impl AsRef<str>) -> Self {
        self.path = self.path.query(key, value);
        self
    }

    /// `METHOD /path` (without the query, and cut short if a name made it long), for messages.
    pub(super) fn what(&self) -> String {
        format!("{} {}", self.method, truncate(self.path.path(), WHAT_LIMIT))
    }

    pub(super) fn body(mut self, body: Body) -> Self {
        self.body = body;
        self
    }

    pub(super) fn context(mut self, context_id: &'a str) -> Self {
        if !context_id.is_empty() {
            self.context_id = Some(context_id);
        }
        self
    }
}

/// A director's answer, with the request it answers (`GET /tasks/1`) for messages.
pub(super) struct Answer {
    pub(super) resp: reqwest::Response,
    pub(super) what: String,
}

impl Answer {
    pub(super) fn status(&self) -> StatusCode {
        self.resp.status()
    }

    /// Passes 2xx and 302 answers; anything else becomes
    /// [`DirectorError::UnexpectedStatus`], with the start of the body.
    pub(super) async fn check(self) -> Result<reqwest::Response, DirectorError> {
        let status = self.resp.status();
        if status.is_success() || status == StatusCode::FOUND {
            return Ok(self.resp);
        }
        let body = self.resp.text().await.unwrap_or_default();
        Err(DirectorError::UnexpectedStatus {
            what: self.what,
            status: status.as_u16(),
            body: truncate(body.trim(), BODY_LIMIT),
        })
    }
}

/// The metrics label of a director call: its method and the first segment of its path
/// (`GET /deployments`, `POST /deployments`, `GET /tasks`, ...), a closed set with no names.
pub(super) fn call_kind(method: &Method, path: &str) -> String {
    let first = path.trim_start_matches('/').split('/').next().unwrap_or_default();
    format!("{method} /{first}")
}

/// Builds the HTTP client: rustls with the system's web roots plus `root_ca_cert`, keep-alive
/// pooling, and no redirect following.
pub(super) fn http_client(root_ca_cert: Option<&str>) -> Result<reqwest::Client, DirectorError> {
    crate::tls::http_client(root_ca_cert, Duration::from_secs(120))
        .map_err(|e| DirectorError::Config(e.words("the director", "bosh.root_ca_cert")))
}

pub(super) async fn json_body<T: serde::de::DeserializeOwned>(
    resp: reqwest::Response, what: &str,
) -> Result<T, DirectorError> {
    let text = resp.text().await.map_err(|e| DirectorError::InvalidAnswer {
        what: what.to_string(),
        reason: format!("reading it: {e}"),
    })?;
    serde_json::from_str(&text)
        .map_err(|e| DirectorError::InvalidAnswer { what: what.to_string(), reason: e.to_string() })
}

//! The transport under the CredHub calls: one pooled `reqwest` client (rustls, the operator's
//! CA certificates added to the system roots, no redirects), a bearer token from CredHub's UAA
//! on every request with one new grant and retry when CredHub answers 401, and the mapping of
//! CredHub's answers (`{"error": "<message>"}` bodies) to typed errors.
//!
//! Answers can hold credential values, so no message ever quotes a 2xx body: a body that cannot
//! be read is reported by position only.

use super::auth::{discover, ServerFacts};
use crate::config::CredhubSettings;
use crate::config_server::ConfigServerError;
use crate::uaa::{error_chain, redacted, truncate, UaaToken};
use crate::url_path::UrlPath;
use reqwest::{Method, StatusCode, Url};
use serde_json::Value;
use std::time::Duration;

/// How much of an error body a message keeps.
const BODY_LIMIT: usize = 512;

/// Builds the HTTP client trusting the system roots plus `ca_certs` (PEM).
pub fn build_client(settings: &CredhubSettings) -> Result<reqwest::Client, ConfigServerError> {
    let section = settings.section;
    let pems = settings.ca_certs.iter().map(String::as_str);
    crate::tls::http_client(pems, Duration::from_secs(60))
        .map_err(|e| ConfigServerError::Config(e.words(section, section)))
}

/// A request that got no answer; the reason leaves out the request URL (its query can be long).
pub fn unreachable(url: &str, e: reqwest::Error) -> ConfigServerError {
    let mut reason = error_chain(&e.without_url());
    if reason.contains("certificate") {
        reason.push_str(" (CredHub's TLS certificate is not trusted: configure the CA certificate that signed it)");
    }
    ConfigServerError::Unreachable { url: url.to_string(), reason }
}

/// The error a non-2xx answer stands for: 401 is [`ConfigServerError::Unauthorized`], anything
/// else [`ConfigServerError::UnexpectedStatus`], with CredHub's `error` message.
pub fn status_error(status: StatusCode, body: &str, url: &str) -> ConfigServerError {
    let message = serde_json::from_str::<Value>(body)
        .ok()
        .and_then(|v| {
            v["error"].as_str().or_else(|| v["error_description"].as_str()).map(str::to_string)
        })
        .unwrap_or_else(|| truncate(body.trim(), BODY_LIMIT));
    let message = crate::ids::log_safe(&message, BODY_LIMIT);
    if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
        return ConfigServerError::Unauthorized {
            url: url.to_string(),
            reason: format!("status {}: {message}", status.as_u16()),
        };
    }
    ConfigServerError::UnexpectedStatus { url: url.to_string(), status: status.as_u16(), message }
}

/// Reads a JSON body without ever quoting it.
pub fn parse<T: serde::de::DeserializeOwned>(
    body: &str, url: &str,
) -> Result<T, ConfigServerError> {
    serde_json::from_str(body).map_err(|e| ConfigServerError::InvalidAnswer {
        url: url.to_string(),
        reason: format!(
            "not the JSON document expected (at line {}, column {})",
            e.line(),
            e.column()
        ),
    })
}

/// A 2xx answer read as JSON; anything else as [`status_error`].
pub async fn json_answer<T: serde::de::DeserializeOwned>(
    resp: reqwest::Response, url: &str,
) -> Result<T, ConfigServerError> {
    let status = resp.status();
    let body = resp.text().await.map_err(|e| unreachable(url, e))?;
    if !status.is_success() {
        return Err(status_error(status, &body, url));
    }
    parse(&body, url)
}

/// One answer: status, body and the URL it came from (for messages).
pub struct Answer {
    /// The status.
    pub status: StatusCode,
    /// The body text.
    pub body: String,
    /// `<credhub>/<path>` without the query.
    pub url: String,
}

impl Answer {
    /// The body as JSON when the status is 2xx; else the error it stands for.
    pub fn json<T: serde::de::DeserializeOwned>(&self) -> Result<T, ConfigServerError> {
        if !self.status.is_success() {
            return Err(self.error());
        }
        parse(&self.body, &self.url)
    }

    /// The error a non-2xx answer stands for.
    pub fn error(&self) -> ConfigServerError {
        status_error(self.status, &self.body, &self.url)
    }
}

/// CredHub reached over HTTPS with a UAA token.
pub struct Transport {
    /// The URL without credentials, for messages.
    shown: String,
    base: Url,
    http: reqwest::Client,
    token: UaaToken,
    facts: tokio::sync::OnceCell<ServerFacts>,
}

impl Transport {
    /// A transport for `settings`. Makes no request.
    pub fn new(settings: &CredhubSettings) -> Result<Self, ConfigServerError> {
        let base =
            Url::parse(&settings.url).ok().filter(|u| !u.cannot_be_a_base()).ok_or_else(|| {
                ConfigServerError::Config(format!(
                    "{}: '{}' is not a URL: write CredHub's address as https://<host>:8844",
                    settings.section, settings.url
                ))
            })?;
        Ok(Self {
            shown: redacted(&base),
            base,
            http: build_client(settings)?,
            token: UaaToken::new(
                &settings.client_id,
                &settings.client_secret,
                settings.credentials_key,
            ),
            facts: Default::default(),
        })
    }

    /// CredHub's URL, without credentials.
    pub fn url(&self) -> &str {
        &self.shown
    }

    /// What `/info` says, asked once (a failure is asked again next time).
    pub async fn facts(&self) -> Result<&ServerFacts, ConfigServerError> {
        self.facts.get_or_try_init(|| discover(&self.http, &self.base, &self.shown)).await
    }

    /// A token for CredHub: cached, or a new grant from its UAA.
    pub async fn token(&self) -> Result<String, ConfigServerError> {
        let facts = self.facts().await?;
        self.token.get(&self.http, &facts.token_url, &|_| {}).await.map_err(|e| match e {
            crate::uaa::UaaError::Unreachable { url, reason } => {
                ConfigServerError::Unreachable { url, reason }
            }
            crate::uaa::UaaError::Refused { ref url, .. } => {
                ConfigServerError::Unauthorized { url: url.clone(), reason: e.to_string() }
            }
            crate::uaa::UaaError::NoToken { url, reason } => {
                ConfigServerError::InvalidAnswer { url, reason }
            }
        })
    }

    /// Sends `method path` with an optional JSON body and a bearer token; a 401 gets one new
    /// token and one retry.
    pub async fn send(
        &self, method: Method, path: UrlPath, body: Option<&Value>,
    ) -> Result<Answer, ConfigServerError> {
        let url_text = format!("{}{}", self.shown, path.path());
        let url = path
            .to_url(&self.base)
            .map_err(|e| ConfigServerError::Config(format!("refusing to call {url_text}: {e}")))?;
        let mut retried = false;
        loop {
            let token = self.token().await?;
            let mut req = self.http.request(method.clone(), url.clone()).bearer_auth(&token);
            if let Some(body) = body {
                req = req.json(body);
            }
            let started = std::time::Instant::now();
            let sent = req.send().await;
            crate::journal::record(crate::journal::Step::Credhub {
                method: method.to_string(),
                path: path.path().to_string(),
                status: sent.as_ref().ok().map(|r| r.status().as_u16()),
                duration_ms: started.elapsed().as_millis() as u64,
            })
            .await;
            let resp = sent.map_err(|e| unreachable(&url_text, e))?;
            let status = resp.status();
            if status == StatusCode::UNAUTHORIZED && !retried {
                tracing::info!(credhub = %self.shown, "CredHub rejected the UAA token; getting a new one");
                self.token.invalidate(&token).await;
                retried = true;
                continue;
            }
            let body = resp.text().await.map_err(|e| unreachable(&url_text, e))?;
            return Ok(Answer { status, body, url: url_text });
        }
    }
}

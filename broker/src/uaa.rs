//! A UAA client-credentials token, cached until shortly before it expires: the one token code
//! the BOSH director client and the CredHub clients share.
//!
//! The grant is `POST <uaa>/oauth/token` with `grant_type=client_credentials` and the client
//! id and secret as basic auth. The cache lock is held while a grant is in flight, so
//! concurrent callers wait for one grant instead of each asking for their own; a caller whose
//! token was rejected with a 401 [`invalidates`](UaaToken::invalidate) it, and only if it is
//! still the cached one, so a burst of 401s causes one new grant. Messages name the UAA URL
//! and the client id, never the secret or a token.

use reqwest::{header, Url};
use serde::Deserialize;
use std::time::{Duration, Instant};

/// How long before its expiry a token is replaced.
pub const TOKEN_REFRESH_MARGIN: Duration = Duration::from_secs(60);
/// How much of a UAA error body a message keeps.
const BODY_LIMIT: usize = 2048;

/// Why no token could be had.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UaaError {
    /// The UAA did not answer.
    #[error("cannot reach UAA at {url}: {reason}")]
    Unreachable {
        /// The token URL, without credentials.
        url: String,
        /// Why, without the request URL.
        reason: String,
    },
    /// The UAA refused the grant.
    #[error("UAA at {url} refused a token for client '{client_id}' (status {status}): {body}; check {config_key}")]
    Refused {
        /// The token URL.
        url: String,
        /// The client id.
        client_id: String,
        /// The status code.
        status: u16,
        /// The start of the UAA's answer.
        body: String,
        /// The config key that holds the client credentials.
        config_key: &'static str,
    },
    /// The UAA answered 2xx without a token the broker can use.
    #[error("UAA at {url} sent no usable token: {reason}")]
    NoToken {
        /// The token URL.
        url: String,
        /// What is wrong with the answer.
        reason: String,
    },
}

impl UaaError {
    /// True when the UAA could not be reached: trying later may work.
    pub fn is_unreachable(&self) -> bool {
        matches!(self, Self::Unreachable { .. })
    }
}

struct CachedToken {
    value: String,
    refresh_at: Instant,
}

/// The client credentials of one UAA client, and its cached token. `Debug` never shows the
/// secret or the token.
pub struct UaaToken {
    client_id: String,
    client_secret: String,
    /// The config key the credentials come from, for messages.
    config_key: &'static str,
    cached: tokio::sync::Mutex<Option<CachedToken>>,
}

impl std::fmt::Debug for UaaToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UaaToken")
            .field("client_id", &self.client_id)
            .field("client_secret", &"<redacted>")
            .finish()
    }
}

/// `url` without user name or password (and without a trailing `/`), for messages.
pub fn redacted(url: &Url) -> String {
    let mut shown = url.clone();
    let _ = shown.set_username("");
    let _ = shown.set_password(None);
    shown.as_str().trim_end_matches('/').to_string()
}

/// At most `limit` bytes of `text` (cut at a character boundary), saying how long it was.
pub fn truncate(text: &str, limit: usize) -> String {
    if text.len() <= limit {
        return text.to_string();
    }
    let mut end = limit;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}... ({} bytes in all)", &text[..end], text.len())
}

/// An error with its causes: the TLS reason ("invalid peer certificate: UnknownIssuer") is
/// only in the chain.
pub fn error_chain(e: &reqwest::Error) -> String {
    let mut why = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        why.push_str(&format!(": {s}"));
        source = s.source();
    }
    why
}

/// `<uaa>/oauth/token`, under the UAA's own path.
pub fn token_url(uaa: &Url) -> Result<Url, crate::url_path::UrlPathError> {
    crate::url_path::UrlPath::root().segment("oauth").segment("token").to_url(uaa)
}

impl UaaToken {
    /// The credentials of `client_id`, from config key `config_key` (named in messages).
    pub fn new(client_id: &str, client_secret: &str, config_key: &'static str) -> Self {
        Self {
            client_id: client_id.to_string(),
            client_secret: client_secret.to_string(),
            config_key,
            cached: Default::default(),
        }
    }

    /// The client id.
    pub fn client_id(&self) -> &str {
        &self.client_id
    }

    /// A valid token: the cached one, or a new grant from `token_url`. `fetched` is told the
    /// outcome of every grant (a status class such as `2xx`, or `unreachable`), for metrics.
    pub async fn get(
        &self, http: &reqwest::Client, token_url: &Url, fetched: &(dyn Fn(&str) + Send + Sync),
    ) -> Result<String, UaaError> {
        let mut cached = self.cached.lock().await;
        if let Some(token) = cached.as_ref() {
            if Instant::now() < token.refresh_at {
                return Ok(token.value.clone());
            }
        }
        let shown = redacted(token_url);
        let sent = http
            .post(token_url.clone())
            .basic_auth(&self.client_id, Some(&self.client_secret))
            .header(header::ACCEPT, "application/json")
            .form(&[("grant_type", "client_credentials")])
            .send()
            .await;
        fetched(&match &sent {
            Ok(r) => crate::metrics::status_class(r.status().as_u16()),
            Err(_) => "unreachable".to_string(),
        });
        let resp = sent.map_err(|e| UaaError::Unreachable {
            url: shown.clone(),
            reason: error_chain(&e.without_url()),
        })?;
        let status = resp.status();
        if !status.is_success() {
            let body = resp.text().await.unwrap_or_default();
            return Err(UaaError::Refused {
                url: shown,
                client_id: self.client_id.clone(),
                status: status.as_u16(),
                body: truncate(body.trim(), BODY_LIMIT),
                config_key: self.config_key,
            });
        }
        #[derive(Deserialize)]
        struct TokenJson {
            access_token: String,
            #[serde(default)]
            expires_in: Option<u64>,
        }
        let token: TokenJson = resp
            .json()
            .await
            .map_err(|e| UaaError::NoToken { url: shown, reason: e.without_url().to_string() })?;
        let lifetime = Duration::from_secs(token.expires_in.unwrap_or(0));
        let margin = TOKEN_REFRESH_MARGIN.min(lifetime / 2);
        *cached = Some(CachedToken {
            value: token.access_token.clone(),
            refresh_at: Instant::now() + lifetime - margin,
        });
        tracing::debug!(
            expires_in = lifetime.as_secs(),
            client = %crate::ids::log_safe(&self.client_id, 128),
            "obtained a UAA token"
        );
        Ok(token.access_token)
    }

    /// Forgets `used` if it is still the cached token (so concurrent 401s cause one grant).
    pub async fn invalidate(&self, used: &str) {
        let mut cached = self.cached.lock().await;
        if cached.as_ref().is_some_and(|t| t.value == used) {
            *cached = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::url_path::wire::{Answer, Recorded, Recorder};
    use serde_json::json;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    fn counting() -> (Arc<AtomicUsize>, impl Fn(&str) + Send + Sync) {
        let n = Arc::new(AtomicUsize::new(0));
        let m = n.clone();
        (n, move |_: &str| {
            m.fetch_add(1, Ordering::SeqCst);
        })
    }

    /// A UAA that answers every request with `answer`, and its token URL.
    fn uaa(answer: impl Fn(&Recorded) -> Answer + Send + Sync + 'static) -> (Recorder, Url) {
        let recorder = Recorder::start(answer);
        let url = token_url(&Url::parse(&recorder.base).unwrap()).unwrap();
        (recorder, url)
    }

    #[tokio::test]
    async fn a_token_is_cached_until_near_expiry_and_refetched_after_invalidate() {
        let (recorder, url) =
            uaa(|_| Answer::json(json!({"access_token": "t1", "expires_in": 3600})));
        let http = reqwest::Client::new();
        let token = UaaToken::new("c", "s3cret", "x.client_credentials");
        let (grants, fetched) = counting();
        assert_eq!(token.get(&http, &url, &fetched).await.unwrap(), "t1");
        assert_eq!(token.get(&http, &url, &fetched).await.unwrap(), "t1");
        assert_eq!(grants.load(Ordering::SeqCst), 1);
        token.invalidate("other").await;
        token.get(&http, &url, &fetched).await.unwrap();
        assert_eq!(grants.load(Ordering::SeqCst), 1, "another token: kept");
        token.invalidate("t1").await;
        token.get(&http, &url, &fetched).await.unwrap();
        assert_eq!(grants.load(Ordering::SeqCst), 2);
        assert_eq!(recorder.requests()[0].target, "/oauth/token");
        assert!(!format!("{token:?}").contains("s3cret"));
    }

    #[tokio::test]
    async fn a_short_lived_token_is_replaced_early() {
        let (_recorder, url) = uaa(|_| Answer::json(json!({"access_token": "t", "expires_in": 0})));
        let http = reqwest::Client::new();
        let token = UaaToken::new("c", "s", "k");
        let (grants, fetched) = counting();
        token.get(&http, &url, &fetched).await.unwrap();
        token.get(&http, &url, &fetched).await.unwrap();
        assert_eq!(grants.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn a_refusal_names_the_client_and_the_key_but_not_the_secret() {
        let (_recorder, url) = uaa(|_| Answer::status(401, "{\"error\":\"unauthorized\"}"));
        let token = UaaToken::new("odb", "hunter2", "credhub.client_secret");
        let err = token.get(&reqwest::Client::new(), &url, &|_| {}).await.unwrap_err();
        let text = err.to_string();
        assert!(text.contains("client 'odb'") && text.contains("status 401"), "{text}");
        assert!(text.contains("check credhub.client_secret"), "{text}");
        assert!(!text.contains("hunter2"), "{text}");
        assert!(!err.is_unreachable());
    }
}

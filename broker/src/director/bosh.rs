//! The real BOSH director client: the director's HTTP API over one pooled, keep-alive
//! `reqwest` client (rustls; the operator's CA added to the roots for both the director and its
//! UAA), authenticated with HTTP basic auth or a UAA client-credentials token.
//!
//! The calls are the ones the Go on-demand broker makes, so directors see the same API use. Redirects are never
//! followed: the director answers task-starting calls with `302 Location: /tasks/<id>`, and the
//! id is all the broker needs; the engine polls the task itself.

use super::answers::{
    ConfigAnswer, DeploymentAnswer, DeploymentListEntry, ErrandResult, InstanceAnswer,
    LinkAddressAnswer, LinkAnswer, LinkProvider,
};
use super::{Director, DirectorError, DirectorInfo, Task, TaskId, TaskState, Vms};
use crate::config::{BindingDnsConfig, BoshAuth, BoshSettings};
use crate::url_path::UrlPath;
use async_trait::async_trait;
use reqwest::{header, Method, StatusCode, Url};
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// How much of a director's error body a [`DirectorError::UnexpectedStatus`] keeps.
const BODY_LIMIT: usize = 2048;
/// How much of a request path an error message quotes.
const WHAT_LIMIT: usize = 256;
/// How long before its expiry a UAA token is replaced.
const TOKEN_REFRESH_MARGIN: Duration = Duration::from_secs(60);
/// The header that tags a director task with the broker's operation id.
const CONTEXT_HEADER: &str = "X-Bosh-Context-Id";

/// A BOSH director reached over HTTPS.
pub struct BoshDirector {
    /// The configured URL without any user name or password, for messages.
    url: String,
    /// The same, parsed: every request path is joined to it with [`UrlPath::to_url`].
    base: Url,
    http: reqwest::Client,
    auth: Authenticator,
    metrics: std::sync::Arc<crate::metrics::Metrics>,
}

/// How requests are authenticated.
enum Authenticator {
    Basic {
        username: String,
        password: String,
    },
    Uaa {
        client_id: String,
        client_secret: String,
        state: tokio::sync::Mutex<UaaState>,
    },
}

/// The UAA token URL (learnt from `/info`) and the cached token.
#[derive(Default)]
struct UaaState {
    token_url: Option<Url>,
    token: Option<CachedToken>,
}

struct CachedToken {
    value: String,
    refresh_at: Instant,
}

/// What the director's `/info` says.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct InfoDetails {
    /// The director's name.
    pub name: String,
    /// Its version (`280.0.14 (00000000)`).
    pub version: String,
    /// The authenticated user; empty when the request was not authenticated.
    pub user: Option<String>,
    /// How users authenticate.
    pub user_authentication: UserAuthentication,
}

/// `/info` `user_authentication`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct UserAuthentication {
    /// `uaa` or `basic`.
    #[serde(rename = "type")]
    pub kind: String,
    /// For UAA: `{"url": ...}`.
    pub options: Value,
}

/// What the start-up check found.
#[derive(Debug, Clone)]
pub struct AccessReport {
    /// Director name.
    pub name: String,
    /// Director version.
    pub version: String,
    /// `basic` or `uaa`.
    pub auth_mode: &'static str,
    /// The user the director sees.
    pub user: String,
}

#[derive(Deserialize)]
struct TaskJson {
    id: TaskId,
    state: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    result: Option<String>,
    #[serde(default)]
    deployment: Option<String>,
    #[serde(default)]
    context_id: Option<String>,
}

impl From<TaskJson> for Task {
    fn from(t: TaskJson) -> Self {
        Task {
            id: t.id,
            state: TaskState::parse(&t.state),
            description: t.description,
            result: t.result.unwrap_or_default(),
            deployment: t.deployment.unwrap_or_default(),
            context_id: t.context_id.unwrap_or_default(),
        }
    }
}

/// The body of a request.
enum Body {
    None,
    Yaml(String),
    Json(Value),
}

/// One director request, rebuilt for a retry after a token refresh.
struct Call<'a> {
    method: Method,
    /// Path and query, every name in it percent-encoded.
    path: UrlPath,
    body: Body,
    context_id: Option<&'a str>,
}

impl<'a> Call<'a> {
    fn new(method: Method, path: UrlPath) -> Self {
        Call {
            method,
            path,
            body: Body::None,
            context_id: None,
        }
    }

    fn get(path: UrlPath) -> Self {
        Self::new(Method::GET, path)
    }

    fn query(mut self, key: &str, value: impl AsRef<str>) -> Self {
        self.path = self.path.query(key, value);
        self
    }

    /// `METHOD /path` (without the query, and cut short if a name made it long), for messages.
    fn what(&self) -> String {
        format!("{} {}", self.method, truncate(self.path.path(), WHAT_LIMIT))
    }

    fn body(mut self, body: Body) -> Self {
        self.body = body;
        self
    }

    fn context(mut self, context_id: &'a str) -> Self {
        if !context_id.is_empty() {
            self.context_id = Some(context_id);
        }
        self
    }
}

/// A director's answer, with the request it answers (`GET /tasks/1`) for messages.
struct Answer {
    resp: reqwest::Response,
    what: String,
}

impl Answer {
    fn status(&self) -> StatusCode {
        self.resp.status()
    }

    /// Passes 2xx and 302 answers; anything else becomes
    /// [`DirectorError::UnexpectedStatus`], with the start of the body.
    async fn check(self) -> Result<reqwest::Response, DirectorError> {
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

/// At most `limit` bytes of `text` (cut at a character boundary), saying how long it was.
fn truncate(text: &str, limit: usize) -> String {
    if text.len() <= limit {
        return text.to_string();
    }
    let mut end = limit;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}... ({} bytes in all)", &text[..end], text.len())
}

/// `url` without user name or password (and without a trailing `/`), for messages.
fn redacted(url: &Url) -> String {
    let mut shown = url.clone();
    let _ = shown.set_username("");
    let _ = shown.set_password(None);
    shown.as_str().trim_end_matches('/').to_string()
}

/// `/<name>`: one of the director's top-level collections (`tasks`, `configs`, `links`).
fn top(name: &'static str) -> UrlPath {
    UrlPath::root().segment(name)
}

/// `/deployments/<deployment>`, the deployment name one encoded segment.
fn deployment_path(deployment: &str) -> UrlPath {
    top("deployments").segment(deployment)
}

/// `/tasks/<id>`.
fn task_path(id: TaskId) -> UrlPath {
    top("tasks").segment(id.to_string())
}

/// A task id from a `Location: .../tasks/<id>` header.
/// The metrics label of a director call: its method and the first segment of its path
/// (`GET /deployments`, `POST /deployments`, `GET /tasks`, ...), a closed set with no names.
fn call_kind(method: &Method, path: &str) -> String {
    let first = path
        .trim_start_matches('/')
        .split('/')
        .next()
        .unwrap_or_default();
    format!("{method} /{first}")
}

fn task_id_from_location(location: &str) -> Option<TaskId> {
    let path = location.split(['?', '#']).next()?;
    let (rest, id) = path.trim_end_matches('/').rsplit_once('/')?;
    rest.ends_with("tasks").then_some(())?;
    id.parse().ok()
}

/// `group` or `group/id` → the errand API's instance slug.
fn instance_slug(instance: &str) -> Value {
    match instance.split_once('/') {
        Some((group, id)) => json!({"group": group, "id": id}),
        None => json!({"group": instance}),
    }
}

/// The first non-zero `exit_code` in an errand task's result (one JSON document per line).
fn errand_exit_code(result: &str) -> Option<i64> {
    result
        .lines()
        .filter_map(|l| serde_json::from_str::<ErrandResult>(l.trim()).ok())
        .filter_map(|r| r.exit_code)
        .find(|code| *code != 0)
}

/// Builds the HTTP client: rustls with the system's web roots plus `root_ca_cert`, keep-alive
/// pooling, and no redirect following.
fn http_client(root_ca_cert: Option<&str>) -> Result<reqwest::Client, DirectorError> {
    let mut builder = reqwest::Client::builder()
        .use_rustls_tls()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(Duration::from_secs(10))
        .timeout(Duration::from_secs(120))
        .pool_idle_timeout(Duration::from_secs(60))
        .tcp_keepalive(Duration::from_secs(30));
    if let Some(pem) = root_ca_cert {
        let certs = crate::tls::ca_certificates(pem).map_err(|e| {
            DirectorError::Config(format!("bosh.root_ca_cert is not a PEM certificate: {e}"))
        })?;
        for cert in certs {
            let cert = reqwest::Certificate::from_der(&cert).map_err(|e| {
                DirectorError::Config(format!("bosh.root_ca_cert cannot be used: {e}"))
            })?;
            builder = builder.add_root_certificate(cert);
        }
    }
    builder.build().map_err(|e| {
        DirectorError::Config(format!(
            "cannot build the HTTP client for the director (is bosh.root_ca_cert a valid certificate?): {e}"
        ))
    })
}

impl BoshDirector {
    /// A client for the director described by `settings`. Makes no request.
    pub fn new(settings: &BoshSettings) -> Result<Self, DirectorError> {
        let url = settings.url.trim_end_matches('/').to_string();
        let base = Url::parse(&url).map_err(|e| {
            DirectorError::Config(format!(
                "bosh.url '{url}' is not a URL ({e}): write the director's address as https://<host>:25555"
            ))
        })?;
        if base.cannot_be_a_base() {
            return Err(DirectorError::Config(format!(
                "bosh.url '{url}' is not a URL with a path: write the director's address as https://<host>:25555"
            )));
        }
        let http = http_client(settings.root_ca_cert.as_deref())?;
        let auth = match &settings.auth {
            BoshAuth::Basic { username, password } => Authenticator::Basic {
                username: username.clone(),
                password: password.clone(),
            },
            BoshAuth::Uaa {
                client_id,
                client_secret,
            } => Authenticator::Uaa {
                client_id: client_id.clone(),
                client_secret: client_secret.clone(),
                state: Default::default(),
            },
        };
        Ok(Self {
            url: redacted(&base),
            base,
            http,
            auth,
            metrics: Default::default(),
        })
    }

    /// The same client, counting its calls and UAA token fetches in `metrics`.
    pub fn with_metrics(mut self, metrics: std::sync::Arc<crate::metrics::Metrics>) -> Self {
        self.metrics = metrics;
        self
    }

    /// The director's URL, without any user name or password in it.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// A request that got no answer; the reason names the request but not its full URL,
    /// which could hold credentials.
    fn unreachable(&self, what: &str, e: reqwest::Error) -> DirectorError {
        let mut reason = format!("{what}: {}", error_chain(&e.without_url()));
        if reason.contains("certificate") {
            reason.push_str(
                " (the director's TLS certificate is not trusted: set bosh.root_ca_cert to the CA certificate that signed it)",
            );
        }
        DirectorError::Unreachable {
            url: self.url.clone(),
            reason,
        }
    }

    /// `/info` without credentials.
    pub async fn info_details(&self) -> Result<InfoDetails, DirectorError> {
        let resp = self
            .http
            .get(top("info").to_url(&self.base)?)
            .send()
            .await
            .map_err(|e| self.unreachable("GET /info", e))?;
        let what = "GET /info".to_string();
        json_body(Answer { resp, what }.check().await?, "GET /info").await
    }

    /// Start-up check: the director answers `/info`, and the configured credentials work
    /// (basic: an authenticated `/info` names a user; UAA: the token grant succeeds and the
    /// director accepts the token).
    pub async fn check_access(&self) -> Result<AccessReport, DirectorError> {
        let info = self.info_details().await?;
        let auth_mode = match &self.auth {
            Authenticator::Basic { .. } => "basic",
            Authenticator::Uaa { .. } => {
                self.token().await?;
                "uaa"
            }
        };
        let authed: InfoDetails = self.fetch_json(Call::get(top("info"))).await?;
        let user = authed.user.unwrap_or_default();
        if user.is_empty() {
            let who = match &self.auth {
                Authenticator::Basic { username, .. } => {
                    format!("basic auth user '{username}' (bosh.authentication.basic)")
                }
                Authenticator::Uaa { client_id, .. } => {
                    format!("UAA client '{client_id}' (bosh.authentication.uaa.client_credentials)")
                }
            };
            return Err(DirectorError::Authentication(format!(
                "BOSH Director error: not authenticated: the director at {} did not accept {who}; check the credentials",
                self.url
            )));
        }
        Ok(AccessReport {
            name: info.name,
            version: info.version,
            auth_mode,
            user,
        })
    }

    /// A valid UAA access token, from the cache or a new client-credentials grant.
    async fn token(&self) -> Result<String, DirectorError> {
        let Authenticator::Uaa {
            client_id,
            client_secret,
            state,
        } = &self.auth
        else {
            return Err(DirectorError::Authentication(
                "not configured for UAA".to_string(),
            ));
        };
        let mut state = state.lock().await;
        if let Some(token) = &state.token {
            if Instant::now() < token.refresh_at {
                return Ok(token.value.clone());
            }
        }
        let token_url = match &state.token_url {
            Some(url) => url.clone(),
            None => {
                let info = self.info_details().await?;
                if info.user_authentication.kind != "uaa" {
                    return Err(DirectorError::Authentication(format!(
                        "the director at {} uses '{}' authentication, not UAA: configure bosh.authentication.basic instead",
                        self.url, info.user_authentication.kind
                    )));
                }
                let Some(url) = info.user_authentication.options["url"].as_str() else {
                    return Err(DirectorError::Authentication(
                        "Cannot retrieve UAA URL from info endpoint".to_string(),
                    ));
                };
                let uaa = Url::parse(url).map_err(|e| {
                    DirectorError::Authentication(format!(
                        "the director advertises a UAA URL that is not a URL ('{url}': {e})"
                    ))
                })?;
                let url = top("oauth").segment("token").to_url(&uaa)?;
                state.token_url = Some(url.clone());
                url
            }
        };
        let shown = redacted(&token_url);
        let sent = self
            .http
            .post(token_url)
            .basic_auth(client_id, Some(client_secret))
            .header(header::ACCEPT, "application/json")
            .form(&[("grant_type", "client_credentials")])
            .send()
            .await;
        self.metrics.uaa_token_fetched(&match &sent {
            Ok(r) => crate::metrics::status_class(r.status().as_u16()),
            Err(_) => "unreachable".to_string(),
        });
        let resp = sent.map_err(|e| {
            DirectorError::Authentication(format!(
                "cannot reach UAA at {shown}: {}",
                error_chain(&e.without_url())
            ))
        })?;
        let status = resp.status();
        if !status.is_success() {
            let body = resp.text().await.unwrap_or_default();
            return Err(DirectorError::Authentication(format!(
                "UAA at {shown} refused a token for client '{client_id}' (status {}): {}; check bosh.authentication.uaa.client_credentials",
                status.as_u16(),
                truncate(body.trim(), BODY_LIMIT)
            )));
        }
        #[derive(Deserialize)]
        struct TokenJson {
            access_token: String,
            #[serde(default)]
            expires_in: Option<u64>,
        }
        let token: TokenJson = resp.json().await.map_err(|e| {
            DirectorError::Authentication(format!("UAA at {shown} sent no usable token: {e}"))
        })?;
        let lifetime = Duration::from_secs(token.expires_in.unwrap_or(0));
        let margin = TOKEN_REFRESH_MARGIN.min(lifetime / 2);
        state.token = Some(CachedToken {
            value: token.access_token.clone(),
            refresh_at: Instant::now() + lifetime - margin,
        });
        tracing::debug!(
            expires_in = lifetime.as_secs(),
            "obtained a UAA token for the director"
        );
        Ok(token.access_token)
    }

    /// Forgets `used` if it is still the cached token (so concurrent 401s cause one grant).
    async fn invalidate(&self, used: &str) {
        if let Authenticator::Uaa { state, .. } = &self.auth {
            let mut state = state.lock().await;
            if state.token.as_ref().is_some_and(|t| t.value == used) {
                state.token = None;
            }
        }
    }

    /// Sends an authenticated request; with UAA, a 401 refreshes the token and retries once.
    async fn send(&self, call: Call<'_>) -> Result<Answer, DirectorError> {
        let what = call.what();
        let mut retried = false;
        loop {
            let mut req = self
                .http
                .request(call.method.clone(), call.path.to_url(&self.base)?);
            if let Some(ctx) = call.context_id {
                req = req.header(CONTEXT_HEADER, ctx);
            }
            req = match &call.body {
                Body::None => req,
                Body::Yaml(text) => req
                    .header(header::CONTENT_TYPE, "text/yaml")
                    .body(text.clone()),
                Body::Json(value) => req.json(value),
            };
            let token = match &self.auth {
                Authenticator::Basic { username, password } => {
                    req = req.basic_auth(username, Some(password));
                    None
                }
                Authenticator::Uaa { .. } => {
                    let token = self.token().await?;
                    req = req.bearer_auth(&token);
                    Some(token)
                }
            };
            let started = std::time::Instant::now();
            let sent = req.send().await;
            let took = started.elapsed();
            let status = sent.as_ref().ok().map(|r| r.status().as_u16());
            self.metrics.director_called(
                &call_kind(&call.method, call.path.path()),
                &status.map_or_else(|| "unreachable".to_string(), crate::metrics::status_class),
                took,
            );
            crate::journal::record(crate::journal::Step::Director {
                method: call.method.to_string(),
                path: call.path.path().to_string(),
                status,
                duration_ms: took.as_millis() as u64,
            })
            .await;
            let resp = sent.map_err(|e| self.unreachable(&what, e))?;
            if resp.status() == StatusCode::UNAUTHORIZED && !retried {
                if let Some(token) = token {
                    tracing::info!("the director rejected the UAA token; getting a new one");
                    self.invalidate(&token).await;
                    retried = true;
                    continue;
                }
            }
            return Ok(Answer { resp, what });
        }
    }

    /// Sends a call that the director answers with `302 Location: /tasks/<id>`.
    async fn start_task(&self, call: Call<'_>) -> Result<TaskId, DirectorError> {
        let answer = self.send(call).await?;
        let what = answer.what.clone();
        let resp = answer.check().await?;
        let location = resp
            .headers()
            .get(header::LOCATION)
            .and_then(|l| l.to_str().ok())
            .unwrap_or_default()
            .to_string();
        task_id_from_location(&location).ok_or_else(|| DirectorError::InvalidAnswer {
            what: what.clone(),
            reason: format!(
                "status {} and no task location (Location: '{location}')",
                resp.status().as_u16()
            ),
        })
    }

    /// Sends a call and reads its 2xx answer as JSON.
    async fn fetch_json<T: serde::de::DeserializeOwned>(
        &self,
        call: Call<'_>,
    ) -> Result<T, DirectorError> {
        let answer = self.send(call).await?;
        let what = answer.what.clone();
        json_body(answer.check().await?, &what).await
    }

    async fn tasks(&self, call: Call<'_>) -> Result<Vec<Task>, DirectorError> {
        let tasks: Vec<TaskJson> = self.fetch_json(call).await?;
        Ok(tasks.into_iter().map(Task::from).collect())
    }

    /// The address of one `binding_with_dns` entry, through a short-lived external link.
    async fn link_address(
        &self,
        deployment: &str,
        providers: &[LinkProvider],
        dns: &BindingDnsConfig,
    ) -> Result<String, DirectorError> {
        let provider = providers
            .iter()
            .find(|p| {
                p.shared
                    && p.name == dns.link_provider
                    && p.instance_group() == Some(dns.instance_group.as_str())
            })
            .ok_or_else(|| DirectorError::LinkProviderNotFound {
                deployment: deployment.to_string(),
                provider: dns.link_provider.clone(),
                instance_group: dns.instance_group.clone(),
                entry: dns.name.clone(),
            })?;
        let provider_id = &provider.id.0;
        let link: LinkAnswer = self
            .fetch_json(Call::new(Method::POST, top("links")).body(Body::Json(json!({
                "link_provider_id": provider_id,
                "link_consumer": {"owner_object": {"name": "external_consumer_id", "type": "external"}},
            }))))
            .await?;
        let link_id = link.id.0;
        let mut call = Call::get(top("link_address")).query("link_id", link_id.clone());
        let props = dns.properties.as_ref();
        if let Some(azs) = props
            .and_then(|p| p.get("azs"))
            .and_then(|a| a.as_sequence())
        {
            for az in azs.iter().filter_map(|a| a.as_str()) {
                call = call.query("azs[]", az);
            }
        }
        if let Some(status) = props
            .and_then(|p| p.get("status"))
            .and_then(|s| s.as_str())
            .filter(|s| !s.is_empty())
        {
            call = call.query("status", status);
        }
        let address: Result<LinkAddressAnswer, _> = self.fetch_json(call).await;
        // Always remove the link, even when the address could not be read.
        let deleted = self
            .send(Call::new(Method::DELETE, top("links").segment(&link_id)))
            .await;
        match deleted {
            Ok(answer) => {
                if let Err(e) = answer.check().await {
                    tracing::warn!(link = %link_id, error = %e, "could not delete the external link");
                }
            }
            Err(e) => {
                tracing::warn!(link = %link_id, error = %e, "could not delete the external link")
            }
        }
        Ok(address?.address)
    }
}

/// An error with its causes: the TLS reason ("invalid peer certificate: UnknownIssuer") is
/// only in the chain.
fn error_chain(e: &reqwest::Error) -> String {
    let mut why = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        why.push_str(&format!(": {s}"));
        source = s.source();
    }
    why
}

async fn json_body<T: serde::de::DeserializeOwned>(
    resp: reqwest::Response,
    what: &str,
) -> Result<T, DirectorError> {
    let text = resp
        .text()
        .await
        .map_err(|e| DirectorError::InvalidAnswer {
            what: what.to_string(),
            reason: format!("reading it: {e}"),
        })?;
    serde_json::from_str(&text).map_err(|e| DirectorError::InvalidAnswer {
        what: what.to_string(),
        reason: e.to_string(),
    })
}

#[async_trait]
impl Director for BoshDirector {
    async fn info(&self) -> Result<DirectorInfo, DirectorError> {
        let info = self.info_details().await?;
        Ok(DirectorInfo {
            name: info.name,
            version: info.version,
        })
    }

    async fn deploy(&self, manifest: &str, context_id: &str) -> Result<TaskId, DirectorError> {
        self.start_task(
            Call::new(Method::POST, top("deployments"))
                .body(Body::Yaml(manifest.to_string()))
                .context(context_id),
        )
        .await
    }

    async fn task(&self, id: TaskId) -> Result<Task, DirectorError> {
        let answer = self.send(Call::get(task_path(id))).await?;
        if answer.status() == StatusCode::NOT_FOUND {
            return Err(DirectorError::TaskNotFound(id));
        }
        let what = answer.what.clone();
        let task: TaskJson = json_body(answer.check().await?, &what).await?;
        let mut task = Task::from(task);
        // An errand that ran but exited non-zero is a `done` task: its result says so.
        if task.state == TaskState::Done && task.description.starts_with("run errand") {
            let resp = self
                .send(Call::get(task_path(id).segment("output")).query("type", "result"))
                .await?
                .check()
                .await?;
            let result = resp
                .text()
                .await
                .map_err(|e| DirectorError::InvalidAnswer {
                    what: format!("GET /tasks/{id}/output"),
                    reason: format!("reading it: {e}"),
                })?;
            if let Some(code) = errand_exit_code(&result) {
                task.state = TaskState::Error;
                task.result = format!("errand exited with code {code}: {}", result.trim());
            }
        }
        Ok(task)
    }

    async fn tasks_by_context(&self, context_id: &str) -> Result<Vec<Task>, DirectorError> {
        let mut tasks = self
            .tasks(Call::get(top("tasks")).query("context_id", context_id))
            .await?;
        tasks.sort_by_key(|t| std::cmp::Reverse(t.id));
        Ok(tasks)
    }

    async fn tasks_in_progress(&self, deployment: &str) -> Result<Vec<Task>, DirectorError> {
        self.tasks(
            Call::get(top("tasks"))
                .query("state", "processing,cancelling,queued")
                .query("verbose", "1")
                .query("deployment", deployment),
        )
        .await
    }

    async fn manifest(&self, deployment: &str) -> Result<Option<String>, DirectorError> {
        // By name: one small request, never a listing of every deployment.
        let answer = self.send(Call::get(deployment_path(deployment))).await?;
        if answer.status() == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        let body: DeploymentAnswer =
            json_body(answer.check().await?, "GET /deployments/<name>").await?;
        Ok(Some(body.manifest))
    }

    async fn vms(&self, deployment: &str) -> Result<Vms, DirectorError> {
        // `GET /deployments/<d>/instances` answers synchronously from the director's database
        // with each instance's `job` and `ips`: one request. The Go broker's
        // `GET /deployments/<d>/vms?format=full` starts a task that contacts every agent and
        // has to be polled and its NDJSON result fetched, taking seconds, only to add
        // process and vitals details that bindings never use. Instances that have no VM
        // (errand groups) are skipped, as the VM listing would not show them.
        let answer = self
            .send(Call::get(deployment_path(deployment).segment("instances")))
            .await?;
        if answer.status() == StatusCode::NOT_FOUND {
            return Err(DirectorError::DeploymentNotFound(deployment.to_string()));
        }
        let mut instances: Vec<InstanceAnswer> =
            json_body(answer.check().await?, "GET /deployments/<name>/instances").await?;
        instances.retain(InstanceAnswer::has_vm);
        instances.sort_by_key(|i| i.index.unwrap_or(0));
        let mut vms = Vms::new();
        for instance in instances {
            if let Some(job) = instance.job {
                vms.entry(job).or_default().extend(instance.ips);
            }
        }
        Ok(vms)
    }

    async fn delete_deployment(
        &self,
        deployment: &str,
        force: bool,
        context_id: &str,
    ) -> Result<TaskId, DirectorError> {
        let mut call = Call::new(Method::DELETE, deployment_path(deployment)).context(context_id);
        if force {
            call = call.query("force", "true");
        }
        self.start_task(call).await
    }

    async fn run_errand(
        &self,
        deployment: &str,
        errand: &str,
        instances: &[String],
        context_id: &str,
    ) -> Result<TaskId, DirectorError> {
        let body = json!({
            "keep-alive": false,
            "when-changed": false,
            "instances": instances.iter().map(|i| instance_slug(i)).collect::<Vec<_>>(),
        });
        self.start_task(
            Call::new(
                Method::POST,
                deployment_path(deployment)
                    .segment("errands")
                    .segment(errand)
                    .segment("runs"),
            )
            .body(Body::Json(body))
            .context(context_id),
        )
        .await
    }

    async fn deployments(&self) -> Result<Vec<String>, DirectorError> {
        let list: Vec<DeploymentListEntry> = self
            .fetch_json(
                Call::get(top("deployments"))
                    .query("exclude_configs", "true")
                    .query("exclude_releases", "true")
                    .query("exclude_stemcells", "true"),
            )
            .await?;
        Ok(list.into_iter().map(|d| d.name).collect())
    }

    async fn update_configs(
        &self,
        deployment: &str,
        configs: &BTreeMap<String, String>,
    ) -> Result<(), DirectorError> {
        for (kind, content) in configs {
            self.send(
                Call::new(Method::POST, top("configs")).body(Body::Json(json!({
                    "type": kind,
                    "name": deployment,
                    "content": content,
                }))),
            )
            .await?
            .check()
            .await?;
        }
        Ok(())
    }

    async fn delete_configs(&self, deployment: &str) -> Result<(), DirectorError> {
        let configs: Vec<ConfigAnswer> = self
            .fetch_json(
                Call::get(top("configs"))
                    .query("name", deployment)
                    .query("latest", "true"),
            )
            .await?;
        let mut kinds: Vec<&str> = configs.iter().map(|c| c.kind.as_str()).collect();
        kinds.sort_unstable();
        kinds.dedup();
        for kind in kinds {
            let answer = self
                .send(
                    Call::new(Method::DELETE, top("configs"))
                        .query("type", kind)
                        .query("name", deployment),
                )
                .await?;
            if answer.status() != StatusCode::NOT_FOUND {
                answer.check().await?;
            }
        }
        Ok(())
    }

    async fn dns_addresses(
        &self,
        deployment: &str,
        dns: &[BindingDnsConfig],
    ) -> Result<BTreeMap<String, String>, DirectorError> {
        let mut addresses = BTreeMap::new();
        if dns.is_empty() {
            return Ok(addresses);
        }
        let providers: Vec<LinkProvider> = self
            .fetch_json(Call::get(top("link_providers")).query("deployment", deployment))
            .await?;
        for entry in dns {
            let address = self.link_address(deployment, &providers, entry).await?;
            addresses.insert(entry.name.clone(), address);
        }
        Ok(addresses)
    }

    async fn recreate(&self, deployment: &str, context_id: &str) -> Result<TaskId, DirectorError> {
        self.start_task(
            // `*` is BOSH's "every instance group": literal, never a name.
            Call::new(Method::PUT, deployment_path(deployment).literal("jobs/*"))
                .query("state", "recreate")
                .query("fix", "true")
                .body(Body::Yaml(String::new()))
                .context(context_id),
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn task_ids_come_from_the_location_header() {
        assert_eq!(task_id_from_location("/tasks/42"), Some(42));
        assert_eq!(
            task_id_from_location("https://10.0.0.6:25555/tasks/7?x=1"),
            Some(7)
        );
        assert_eq!(task_id_from_location("/deployments/7"), None);
        assert_eq!(task_id_from_location(""), None);
    }

    #[test]
    fn errand_instances_become_slugs() {
        assert_eq!(instance_slug("g/0"), json!({"group": "g", "id": "0"}));
        assert_eq!(instance_slug("g"), json!({"group": "g"}));
    }

    #[test]
    fn a_non_zero_errand_exit_code_is_found_in_any_line() {
        assert_eq!(
            errand_exit_code("{\"exit_code\":0}\n{\"exit_code\":3}\n"),
            Some(3)
        );
        assert_eq!(errand_exit_code("{\"exit_code\":0}"), None);
        assert_eq!(errand_exit_code(""), None);
    }
}

/// What the director receives for names that would reach another deployment if they were put
/// in a URL as they are.
#[cfg(test)]
mod wire_tests {
    use super::*;
    use crate::url_path::wire::{self, Answer, Recorded, Recorder};

    /// Deployment names as hostile as an instance id could make them.
    fn hostile_deployments() -> Vec<String> {
        let mut names: Vec<String> = [
            "x/../../deployments/cf",
            "x%2F..%2F..%2Fdeployments%2Fcf",
            "a#b",
            "a?x=1",
            "a?x=1#/../cf",
            "%2e%2e",
            "/",
            "a;b=c",
            "a\r\nX-Injected: 1",
            "..\\..\\cf",
            "a b+c%",
            "\0",
            "雪/..",
            "*",
        ]
        .iter()
        .map(|s| format!("service-instance_{s}"))
        .collect();
        names.push(format!("service-instance_{}", "a/".repeat(5 * 1024)));
        names
    }

    /// A link id the director could send back.
    const HOSTILE_LINK: &str = "5/../../deployments/cf";
    /// An errand name from the catalog.
    const HOSTILE_ERRAND: &str = "smoke/../../../deployments/cf#";

    fn director(base: &str) -> BoshDirector {
        BoshDirector::new(&BoshSettings {
            url: base.to_string(),
            root_ca_cert: None,
            auth: BoshAuth::Basic {
                username: "admin".into(),
                password: "secret".into(),
            },
        })
        .unwrap()
    }

    /// Minimal director answers, so that every call succeeds.
    fn answer(req: &Recorded) -> Answer {
        let path = req.path();
        match (req.method.as_str(), path) {
            ("GET", "/info") => {
                Answer::json(json!({"name": "d", "version": "280.0.14", "user": "admin"}))
            }
            ("GET", "/tasks") => Answer::json(json!([])),
            ("GET", "/tasks/1") => {
                Answer::json(json!({"id": 1, "state": "done", "description": "run errand smoke"}))
            }
            ("GET", "/tasks/1/output") => Answer::status(200, "{\"exit_code\":0}\n"),
            ("GET", "/configs") => Answer::json(json!([{"type": "cloud"}, {"type": "runtime"}])),
            ("GET", "/link_providers") => Answer::json(json!([{
                "id": "7",
                "name": "p",
                "shared": true,
                "owner_object": {"info": {"instance_group": "g"}},
            }])),
            ("POST", "/links") => Answer::json(json!({"id": HOSTILE_LINK})),
            ("GET", "/link_address") => Answer::json(json!({"address": "q-s0.g.net.d.bosh"})),
            ("DELETE", "/configs") => Answer::json(json!({})),
            ("DELETE", p) if p.starts_with("/links/") => Answer::status(204, ""),
            ("GET", p) if p.ends_with("/instances") => {
                Answer::json(json!([{"job": "g", "index": 0, "ips": ["10.0.0.1"]}]))
            }
            ("GET", _) => Answer::json(json!({"manifest": "name: x\n"})),
            _ => Answer::task(1),
        }
    }

    #[tokio::test]
    async fn hostile_deployment_names_stay_one_segment_on_the_wire() {
        let dns = BindingDnsConfig {
            name: "addr".into(),
            link_provider: "p".into(),
            instance_group: "g".into(),
            properties: Some(serde_yaml::from_str("{azs: [z1], status: healthy}").unwrap()),
        };
        for d in hostile_deployments() {
            let recorder = Recorder::start(answer);
            let director = director(&recorder.base);
            let d = d.as_str();
            assert_eq!(
                director.manifest(d).await.unwrap().as_deref(),
                Some("name: x\n")
            );
            assert_eq!(director.vms(d).await.unwrap()["g"], vec!["10.0.0.1"]);
            assert_eq!(director.delete_deployment(d, true, "ctx").await.unwrap(), 1);
            assert_eq!(director.recreate(d, "ctx").await.unwrap(), 1);
            assert_eq!(
                director
                    .run_errand(d, HOSTILE_ERRAND, &["g/0".to_string()], "ctx")
                    .await
                    .unwrap(),
                1
            );
            assert!(director.tasks_in_progress(d).await.unwrap().is_empty());
            director.delete_configs(d).await.unwrap();
            let addresses = director
                .dns_addresses(d, std::slice::from_ref(&dns))
                .await
                .unwrap();
            assert_eq!(addresses["addr"], "q-s0.g.net.d.bosh");
            assert_eq!(director.task(1).await.unwrap().state, TaskState::Done);

            let requests = recorder.requests();
            let seen: Vec<_> = requests.iter().map(Recorded::decoded).collect();
            let want = vec![
                wire::expected("GET", &["deployments", d], &[]),
                wire::expected("GET", &["deployments", d, "instances"], &[]),
                wire::expected("DELETE", &["deployments", d], &[("force", "true")]),
                wire::expected(
                    "PUT",
                    &["deployments", d, "jobs", "*"],
                    &[("state", "recreate"), ("fix", "true")],
                ),
                wire::expected(
                    "POST",
                    &["deployments", d, "errands", HOSTILE_ERRAND, "runs"],
                    &[],
                ),
                wire::expected(
                    "GET",
                    &["tasks"],
                    &[
                        ("state", "processing,cancelling,queued"),
                        ("verbose", "1"),
                        ("deployment", d),
                    ],
                ),
                wire::expected("GET", &["configs"], &[("name", d), ("latest", "true")]),
                wire::expected("DELETE", &["configs"], &[("type", "cloud"), ("name", d)]),
                wire::expected("DELETE", &["configs"], &[("type", "runtime"), ("name", d)]),
                wire::expected("GET", &["link_providers"], &[("deployment", d)]),
                wire::expected("POST", &["links"], &[]),
                wire::expected(
                    "GET",
                    &["link_address"],
                    &[
                        ("link_id", HOSTILE_LINK),
                        ("azs[]", "z1"),
                        ("status", "healthy"),
                    ],
                ),
                wire::expected("DELETE", &["links", HOSTILE_LINK], &[]),
                wire::expected("GET", &["tasks", "1"], &[]),
                wire::expected("GET", &["tasks", "1", "output"], &[("type", "result")]),
            ];
            assert_eq!(seen, want, "{d:?}");
            for req in &requests {
                let path = req.path();
                if let Some(rest) = path.strip_prefix("/deployments/") {
                    let rest = rest
                        .strip_prefix("service-instance_")
                        .unwrap_or_else(|| panic!("{d:?} → {path}"));
                    let (segment, tail) = rest.split_once('/').unwrap_or((rest, ""));
                    assert!(!segment.contains(['/', '?', '#']), "{d:?} → {path}");
                    assert!(
                        ["", "instances", "jobs/*"].contains(&tail)
                            || (tail.starts_with("errands/") && tail.ends_with("/runs")),
                        "{d:?} → {path}"
                    );
                }
            }
            // `*` reaches the director as a literal star, the errand's `*` does not.
            assert!(
                requests[3].path().ends_with("/jobs/*"),
                "{}",
                requests[3].target
            );
        }
    }

    #[tokio::test]
    async fn dot_and_empty_names_are_refused_before_any_request() {
        let recorder = Recorder::start(answer);
        let director = director(&recorder.base);
        for d in ["", ".", ".."] {
            assert!(matches!(
                director.manifest(d).await,
                Err(DirectorError::UnusablePath(_))
            ));
            assert!(matches!(
                director.delete_deployment(d, false, "").await,
                Err(DirectorError::UnusablePath(_))
            ));
            assert!(matches!(
                director.recreate(d, "").await,
                Err(DirectorError::UnusablePath(_))
            ));
            assert!(matches!(
                director.run_errand("service-instance_a", d, &[], "").await,
                Err(DirectorError::UnusablePath(_))
            ));
        }
        assert!(recorder.requests().is_empty());
    }

    #[tokio::test]
    async fn the_director_base_path_is_kept() {
        let recorder = Recorder::start(|req| match req.path() {
            "/bosh/info" => Answer::json(json!({"name": "d", "version": "1", "user": "admin"})),
            _ => Answer::json(json!({"manifest": ""})),
        });
        let director = director(&format!("{}/bosh/", recorder.base));
        director.check_access().await.unwrap();
        director.manifest("service-instance_a/..").await.unwrap();
        let targets: Vec<String> = recorder.requests().into_iter().map(|r| r.target).collect();
        assert_eq!(
            targets,
            [
                "/bosh/info",
                "/bosh/info",
                "/bosh/deployments/service-instance_a%2F.."
            ]
        );
    }

    #[tokio::test]
    async fn an_error_status_names_the_request_and_keeps_the_start_of_the_body() {
        let recorder = Recorder::start(|req| match req.path() {
            "/tasks/7" => Answer::status(404, "Task 7 not found"),
            _ => Answer::status(500, &"x".repeat(10 * 1024)),
        });
        let director = director(&recorder.base);
        let err = director
            .delete_deployment("service-instance_a", false, "")
            .await
            .unwrap_err();
        let DirectorError::UnexpectedStatus { what, status, body } = &err else {
            panic!("{err:?}");
        };
        assert_eq!(what, "DELETE /deployments/service-instance_a");
        assert_eq!(*status, 500);
        assert!(body.starts_with(&"x".repeat(BODY_LIMIT)));
        assert!(body.ends_with("... (10240 bytes in all)"), "{body}");
        assert!(err.is_unavailable());
        let text = err.to_string();
        assert!(
            text.starts_with("director request failed: DELETE /deployments/service-instance_a: Director responded with non-successful status code '500' response 'xxx"),
            "{text}"
        );
        assert!(!text.contains("secret"), "{text}");

        let err = director.task(7).await.unwrap_err();
        assert!(matches!(err, DirectorError::TaskNotFound(7)), "{err:?}");
        assert_eq!(err.to_string(), "director task 7 not found");
        assert!(err.is_unavailable());

        let long = format!("service-instance_{}", "a".repeat(10 * 1024));
        let err = director.manifest(&long).await.unwrap_err();
        let DirectorError::UnexpectedStatus { what, .. } = &err else {
            panic!("{err:?}");
        };
        assert!(what.len() < WHAT_LIMIT + 40, "{what}");
    }

    #[tokio::test]
    async fn an_unreachable_director_is_named_without_credentials() {
        // Nothing listens on port 1.
        let director = director("http://ops:url-secret@127.0.0.1:1");
        assert_eq!(director.url(), "http://127.0.0.1:1");
        let err = director
            .recreate("service-instance_a", "")
            .await
            .unwrap_err();
        let DirectorError::Unreachable { url, reason } = &err else {
            panic!("{err:?}");
        };
        assert_eq!(url, "http://127.0.0.1:1");
        assert!(
            reason.starts_with("PUT /deployments/service-instance_a/jobs/*: error sending request"),
            "{reason}"
        );
        assert!(err.is_unavailable());
        let text = err.to_string();
        assert!(
            !text.contains("url-secret") && !text.contains("ops:"),
            "{text}"
        );
        let err = director.info().await.unwrap_err();
        assert!(matches!(err, DirectorError::Unreachable { .. }), "{err:?}");
        assert!(!err.to_string().contains("url-secret"), "{err}");
    }

    #[test]
    fn only_director_trouble_counts_as_unavailable() {
        assert!(DirectorError::InvalidAnswer {
            what: "GET /x".into(),
            reason: "x".into()
        }
        .is_unavailable());
        assert!(!DirectorError::Config("x".into()).is_unavailable());
        assert!(!DirectorError::Authentication("x".into()).is_unavailable());
        assert!(!DirectorError::DeploymentNotFound("d".into()).is_unavailable());
        let unusable = UrlPath::root().segment("..").to_relative().unwrap_err();
        assert!(!DirectorError::UnusablePath(unusable).is_unavailable());
    }

    #[test]
    fn long_text_is_cut_at_a_character_boundary() {
        assert_eq!(truncate("short", 10), "short");
        assert_eq!(truncate("ééé", 3), "é... (6 bytes in all)");
    }

    #[test]
    fn a_director_url_that_is_not_a_url_is_a_config_error() {
        assert!(matches!(
            BoshDirector::new(&BoshSettings {
                url: "not a url".into(),
                root_ca_cert: None,
                auth: BoshAuth::Basic {
                    username: "u".into(),
                    password: "p".into(),
                },
            }),
            Err(DirectorError::Config(_))
        ));
    }
}

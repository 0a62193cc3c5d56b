//! The real BOSH director client: the director's HTTP API over one pooled, keep-alive
//! `reqwest` client (rustls; the operator's CA added to the roots for both the director and its
//! UAA), authenticated with HTTP basic auth or a UAA client-credentials token.
//!
//! The calls are the ones the Go on-demand broker makes, so directors see the same API use. Redirects are never
//! followed: the director answers task-starting calls with `302 Location: /tasks/<id>`, and the
//! id is all the broker needs; the engine polls the task itself.

use super::answers::{
    ConfigAnswer, DeploymentAnswer, DeploymentListEntry, IdText, InstanceAnswer, LinkAddressAnswer,
    LinkAnswer, LinkProvider,
};
use super::{
    DeploymentVariable, Director, DirectorError, DirectorInfo, Task, TaskId, TaskState, Vms,
};
use crate::config::{BindingDnsConfig, BoshAuth, BoshSettings};
use crate::uaa::{error_chain, redacted, UaaToken};
mod api;
mod http;

use api::*;
use async_trait::async_trait;
use http::*;
use reqwest::{header, Method, StatusCode, Url};
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::BTreeMap;

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
        token: Box<UaaToken>,
        /// The UAA token URL, learnt from `/info` on first use.
        token_url: tokio::sync::Mutex<Option<Url>>,
    },
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
            BoshAuth::Basic { username, password } => {
                Authenticator::Basic { username: username.clone(), password: password.clone() }
            }
            BoshAuth::Uaa { client_id, client_secret } => Authenticator::Uaa {
                token: Box::new(UaaToken::new(
                    client_id,
                    client_secret,
                    "bosh.authentication.uaa.client_credentials",
                )),
                token_url: Default::default(),
            },
        };
        Ok(Self { url: redacted(&base), base, http, auth, metrics: Default::default() })
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
        DirectorError::Unreachable { url: self.url.clone(), reason }
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
                Authenticator::Uaa { token, .. } => {
                    format!(
                        "UAA client '{}' (bosh.authentication.uaa.client_credentials)",
                        token.client_id()
                    )
                }
            };
            return Err(DirectorError::Authentication(format!(
                "BOSH Director error: not authenticated: the director at {} did not accept {who}; check the credentials",
                self.url
            )));
        }
        Ok(AccessReport { name: info.name, version: info.version, auth_mode, user })
    }

    /// A valid UAA access token, from the cache or a new client-credentials grant.
    async fn token(&self) -> Result<String, DirectorError> {
        let Authenticator::Uaa { token, token_url } = &self.auth else {
            return Err(DirectorError::Authentication("not configured for UAA".to_string()));
        };
        let url = {
            let mut known = token_url.lock().await;
            match &*known {
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
                    let url = crate::uaa::token_url(&uaa)?;
                    *known = Some(url.clone());
                    url
                }
            }
        };
        let metrics = self.metrics.clone();
        token
            .get(&self.http, &url, &move |outcome| metrics.uaa_token_fetched(outcome))
            .await
            .map_err(|e| DirectorError::Authentication(e.to_string()))
    }

    /// Forgets `used` if it is still the cached token (so concurrent 401s cause one grant).
    async fn invalidate(&self, used: &str) {
        if let Authenticator::Uaa { token, .. } = &self.auth {
            token.invalidate(used).await;
        }
    }

    /// Sends an authenticated request; with UAA, a 401 refreshes the token and retries once.
    async fn send(&self, call: Call<'_>) -> Result<Answer, DirectorError> {
        let what = call.what();
        let mut retried = false;
        loop {
            let mut req = self.http.request(call.method.clone(), call.path.to_url(&self.base)?);
            if let Some(ctx) = call.context_id {
                req = req.header(CONTEXT_HEADER, ctx);
            }
            req = match &call.body {
                Body::None => req,
                Body::Yaml(text) => {
                    req.header(header::CONTENT_TYPE, "text/yaml").body(text.clone())
                }
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
        &self, call: Call<'_>,
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
        &self, deployment: &str, providers: &[LinkProvider], dns: &BindingDnsConfig,
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
        if let Some(azs) = props.and_then(|p| p.get("azs")).and_then(|a| a.as_sequence()) {
            for az in azs.iter().filter_map(|a| a.as_str()) {
                call = call.query("azs[]", az);
            }
        }
        if let Some(status) =
            props.and_then(|p| p.get("status")).and_then(|s| s.as_str()).filter(|s| !s.is_empty())
        {
            call = call.query("status", status);
        }
        let address: Result<LinkAddressAnswer, _> = self.fetch_json(call).await;
        // Always remove the link, even when the address could not be read.
        let deleted = self.send(Call::new(Method::DELETE, top("links").segment(&link_id))).await;
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

#[async_trait]
impl Director for BoshDirector {
    async fn info(&self) -> Result<DirectorInfo, DirectorError> {
        let info = self.info_details().await?;
        Ok(DirectorInfo { name: info.name, version: info.version })
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
            let result = resp.text().await.map_err(|e| DirectorError::InvalidAnswer {
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
        let mut tasks = self.tasks(Call::get(top("tasks")).query("context_id", context_id)).await?;
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
        let answer = self.send(Call::get(deployment_path(deployment).segment("instances"))).await?;
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
        &self, deployment: &str, force: bool, context_id: &str,
    ) -> Result<TaskId, DirectorError> {
        let mut call = Call::new(Method::DELETE, deployment_path(deployment)).context(context_id);
        if force {
            call = call.query("force", "true");
        }
        self.start_task(call).await
    }

    async fn run_errand(
        &self, deployment: &str, errand: &str, instances: &[String], context_id: &str,
    ) -> Result<TaskId, DirectorError> {
        let body = json!({
            "keep-alive": false,
            "when-changed": false,
            "instances": instances.iter().map(|i| instance_slug(i)).collect::<Vec<_>>(),
        });
        self.start_task(
            Call::new(
                Method::POST,
                deployment_path(deployment).segment("errands").segment(errand).segment("runs"),
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
        &self, deployment: &str, configs: &BTreeMap<String, String>,
    ) -> Result<(), DirectorError> {
        for (kind, content) in configs {
            self.send(Call::new(Method::POST, top("configs")).body(Body::Json(json!({
                "type": kind,
                "name": deployment,
                "content": content,
            }))))
            .await?
            .check()
            .await?;
        }
        Ok(())
    }

    async fn delete_configs(&self, deployment: &str) -> Result<(), DirectorError> {
        let configs: Vec<ConfigAnswer> = self
            .fetch_json(Call::get(top("configs")).query("name", deployment).query("latest", "true"))
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
        &self, deployment: &str, dns: &[BindingDnsConfig],
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

    async fn variables(&self, deployment: &str) -> Result<Vec<DeploymentVariable>, DirectorError> {
        let answer = self.send(Call::get(deployment_path(deployment).segment("variables"))).await?;
        if answer.status() == StatusCode::NOT_FOUND {
            return Err(DirectorError::DeploymentNotFound(deployment.to_string()));
        }
        #[derive(Deserialize)]
        struct VariableJson {
            id: IdText,
            name: String,
        }
        let list: Vec<VariableJson> =
            json_body(answer.check().await?, "GET /deployments/<name>/variables").await?;
        Ok(list.into_iter().map(|v| DeploymentVariable { id: v.id.0, name: v.name }).collect())
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

/// What the director receives for names that would reach another deployment if they were put
/// in a URL as they are.
#[cfg(test)]
mod wire_tests {
    use super::*;
    use crate::uaa::truncate;
    use crate::url_path::wire::{self, Answer, Recorded, Recorder};
    use crate::url_path::UrlPath;

    /// Deployment names as hostile as an instance id could make them.
    fn hostile_deployments() -> Vec<String> {
        wire::hostile_names().into_iter().map(|s| format!("service-instance_{s}")).collect()
    }

    /// A link id the director could send back.
    const HOSTILE_LINK: &str = "5/../../deployments/cf";
    /// An errand name from the catalog.
    const HOSTILE_ERRAND: &str = "smoke/../../../deployments/cf#";

    fn director(base: &str) -> BoshDirector {
        BoshDirector::new(&BoshSettings {
            url: base.to_string(),
            root_ca_cert: None,
            auth: BoshAuth::Basic { username: "admin".into(), password: "secret".into() },
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
            assert_eq!(director.manifest(d).await.unwrap().as_deref(), Some("name: x\n"));
            assert_eq!(director.vms(d).await.unwrap()["g"], vec!["10.0.0.1"]);
            assert_eq!(director.delete_deployment(d, true, "ctx").await.unwrap(), 1);
            assert_eq!(director.recreate(d, "ctx").await.unwrap(), 1);
            assert_eq!(
                director.run_errand(d, HOSTILE_ERRAND, &["g/0".to_string()], "ctx").await.unwrap(),
                1
            );
            assert!(director.tasks_in_progress(d).await.unwrap().is_empty());
            director.delete_configs(d).await.unwrap();
            let addresses = director.dns_addresses(d, std::slice::from_ref(&dns)).await.unwrap();
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
                wire::expected("POST", &["deployments", d, "errands", HOSTILE_ERRAND, "runs"], &[]),
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
                    &[("link_id", HOSTILE_LINK), ("azs[]", "z1"), ("status", "healthy")],
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
            assert!(requests[3].path().ends_with("/jobs/*"), "{}", requests[3].target);
        }
    }

    #[tokio::test]
    async fn dot_and_empty_names_are_refused_before_any_request() {
        let recorder = Recorder::start(answer);
        let director = director(&recorder.base);
        for d in ["", ".", ".."] {
            assert!(matches!(director.manifest(d).await, Err(DirectorError::UnusablePath(_))));
            assert!(matches!(
                director.delete_deployment(d, false, "").await,
                Err(DirectorError::UnusablePath(_))
            ));
            assert!(matches!(director.recreate(d, "").await, Err(DirectorError::UnusablePath(_))));
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
            ["/bosh/info", "/bosh/info", "/bosh/deployments/service-instance_a%2F.."]
        );
    }

    #[tokio::test]
    async fn an_error_status_names_the_request_and_keeps_the_start_of_the_body() {
        let recorder = Recorder::start(|req| match req.path() {
            "/tasks/7" => Answer::status(404, "Task 7 not found"),
            _ => Answer::status(500, &"x".repeat(10 * 1024)),
        });
        let director = director(&recorder.base);
        let err = director.delete_deployment("service-instance_a", false, "").await.unwrap_err();
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
        let err = director.recreate("service-instance_a", "").await.unwrap_err();
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
        assert!(!text.contains("url-secret") && !text.contains("ops:"), "{text}");
        let err = director.info().await.unwrap_err();
        assert!(matches!(err, DirectorError::Unreachable { .. }), "{err:?}");
        assert!(!err.to_string().contains("url-secret"), "{err}");
    }

    #[test]
    fn only_director_trouble_counts_as_unavailable() {
        assert!(DirectorError::InvalidAnswer { what: "GET /x".into(), reason: "x".into() }
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
                auth: BoshAuth::Basic { username: "u".into(), password: "p".into() },
            }),
            Err(DirectorError::Config(_))
        ));
    }
}

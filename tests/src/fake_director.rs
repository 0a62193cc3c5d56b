//! [`FakeDirector`]: a BOSH director (and its UAA) for the black-box tests, serving HTTPS on
//! 127.0.0.1 with a certificate from its own throw-away CA.
//!
//! It implements the slice of the director API the broker uses: `/info`, the UAA token endpoint
//! `/oauth/token`, deployments (stored manifests), tasks (by id, by context id, in progress, and
//! their result output), instances derived from the manifest, errands, configs, links and link
//! addresses, deletes and recreates. Every request is recorded (method, path, query, content
//! type, body, kind of `Authorization`, context id) so tests can assert exactly what the broker
//! sent. Tests script it: fail the next deploy or delete, make an errand exit non-zero, make tasks
//! take a number of polls or seconds, hold tasks running, add a foreign task in progress, expire or
//! revoke tokens, and stop and start the whole server to simulate a director that is down.
//!
//! With a config server attached ([`FakeDirector::use_config_server`], a [`crate::FakeCredhub`]'s
//! credentials), deploys resolve the manifest's variables as a director does, and
//! `GET /deployments/<d>/variables` lists the (id, name) of each version used.
//!
//! It is built on the harness's HTTPS plumbing ([`crate::fake_http`]: std threads, rustls, a
//! minimal HTTP/1.1 reader, one request at a time per connection, keep-alive), which is all the
//! broker's client needs, so the harness stays blocking and light.

use crate::fake_http::{
    decode_basic, json_response, parse_query, percent_decode, text, HttpsServer, Request, Response,
};
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The kind of `Authorization` header a request carried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthKind {
    /// No header.
    None,
    /// `Basic ...`.
    Basic,
    /// `Bearer ...`.
    Bearer,
    /// Anything else.
    Other,
}

/// One request the fake received.
#[derive(Debug, Clone)]
pub struct RecordedRequest {
    /// `GET`, `POST`, ...
    pub method: String,
    /// The path, without the query, percent-decoded.
    pub path: String,
    /// The path as it was sent, still percent-encoded.
    pub raw_path: String,
    /// The query, percent-decoded, as (key, value) pairs in order.
    pub query: Vec<(String, String)>,
    /// The `Content-Type` header.
    pub content_type: Option<String>,
    /// The body as text.
    pub body: String,
    /// Which kind of credentials it carried.
    pub auth: AuthKind,
    /// Whether those credentials were accepted.
    pub authorized: bool,
    /// The `X-Bosh-Context-Id` header.
    pub context_id: Option<String>,
}

impl RecordedRequest {
    /// The first value of query parameter `key`.
    pub fn query_value(&self, key: &str) -> Option<&str> {
        crate::fake_http::query_value(&self.query, key)
    }

    /// `METHOD /path`, for assertions on sequences.
    pub fn line(&self) -> String {
        format!("{} {}", self.method, self.path)
    }

    /// The body parsed as JSON (`Null` if it is not JSON).
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }
}

/// How the director authenticates clients.
#[derive(Debug, Clone)]
pub enum FakeAuth {
    /// Basic auth with this user and password.
    Basic {
        /// User name.
        username: String,
        /// Password.
        password: String,
    },
    /// UAA client credentials; the fake is its own UAA.
    Uaa {
        /// Client id.
        client_id: String,
        /// Client secret.
        client_secret: String,
    },
}

/// A shared link provider every deployment offers (for `binding_with_dns`).
#[derive(Debug, Clone)]
pub struct FakeLinkProvider {
    /// The provider (link) name.
    pub name: String,
    /// The instance group that owns it.
    pub instance_group: String,
    /// Whether it is shared (only shared providers may be consumed externally).
    pub shared: bool,
}

#[derive(Debug, Clone)]
struct FakeTask {
    id: i64,
    description: String,
    deployment: String,
    context_id: String,
    started: Instant,
    polls: u32,
    polls_needed: u32,
    duration: Duration,
    /// Held tasks stay `processing` until released.
    held: bool,
    /// `done` or `error` once finished.
    outcome: &'static str,
    result: String,
    output: String,
}

impl FakeTask {
    fn state(&self, hold_all: bool) -> &'static str {
        if self.held
            || hold_all
            || self.polls < self.polls_needed
            || self.started.elapsed() < self.duration
        {
            "processing"
        } else {
            self.outcome
        }
    }
}

#[derive(Debug, Clone)]
struct FakeConfig {
    id: i64,
    kind: String,
    name: String,
    content: String,
}

#[derive(Debug)]
struct State {
    auth: FakeAuth,
    requests: Vec<RecordedRequest>,
    deployments: BTreeMap<String, String>,
    tasks: Vec<FakeTask>,
    configs: Vec<FakeConfig>,
    links: BTreeMap<String, (String, usize)>,
    link_providers: Vec<FakeLinkProvider>,
    next_id: i64,
    tokens: HashMap<String, Instant>,
    grants: usize,
    token_expires_in: u64,
    fail_next: Vec<(String, String)>,
    errand_exit: BTreeMap<String, i32>,
    task_polls: u32,
    task_duration: Duration,
    hold_all: bool,
    /// The config server deploys resolve manifest variables in, when attached.
    config_server: Option<crate::fake_credhub::CredentialStore>,
    /// Deployment → the variables (id, name) its last successful deploy used.
    variables: BTreeMap<String, Vec<(String, String)>>,
}

struct Shared {
    state: Mutex<State>,
    url: Mutex<String>,
}

/// A fake BOSH director on `https://127.0.0.1:<port>`. Dropping it stops the server.
pub struct FakeDirector {
    shared: Arc<Shared>,
    server: HttpsServer,
}

/// A fresh CA certificate (PEM) that signed nothing the fake serves: for "wrong CA" tests.
pub fn unrelated_ca_pem() -> String {
    crate::fake_http::new_ca().0.pem()
}

impl FakeDirector {
    /// Starts a director that authenticates with UAA client credentials `client_id` / `secret`.
    pub fn start_uaa(client_id: &str, secret: &str) -> Self {
        Self::start(FakeAuth::Uaa { client_id: client_id.into(), client_secret: secret.into() })
    }

    /// Starts a director that authenticates with basic auth.
    pub fn start_basic(username: &str, password: &str) -> Self {
        Self::start(FakeAuth::Basic { username: username.into(), password: password.into() })
    }

    /// Starts a director with `auth` on a free port.
    pub fn start(auth: FakeAuth) -> Self {
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                auth,
                requests: Vec::new(),
                deployments: BTreeMap::new(),
                tasks: Vec::new(),
                configs: Vec::new(),
                links: BTreeMap::new(),
                link_providers: Vec::new(),
                next_id: 1,
                tokens: HashMap::new(),
                grants: 0,
                token_expires_in: 3600,
                fail_next: Vec::new(),
                errand_exit: BTreeMap::new(),
                task_polls: 0,
                task_duration: Duration::ZERO,
                hold_all: false,
                config_server: None,
                variables: BTreeMap::new(),
            }),
            url: Mutex::new(String::new()),
        });
        let handler = {
            let shared = shared.clone();
            Arc::new(move |req| handle(&shared, req))
        };
        let server = HttpsServer::start(handler);
        *shared.url.lock().unwrap() = server.url();
        FakeDirector { shared, server }
    }

    /// Stops serving: closes the listener and every open connection ("director down").
    pub fn stop(&self) {
        self.server.stop();
    }

    /// Serves again on the same port, with the same state, after [`FakeDirector::stop`].
    pub fn resume(&self) {
        self.server.resume();
    }

    /// `https://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        self.shared.url.lock().unwrap().clone()
    }

    /// The PEM of the CA that signed the server certificate.
    pub fn ca_pem(&self) -> &str {
        self.server.ca_pem()
    }

    /// The broker's `bosh:` section for this director: URL, CA and matching credentials.
    pub fn bosh_config(&self) -> serde_yaml::Value {
        let auth = match &self.state().auth {
            FakeAuth::Basic { username, password } => {
                json!({"basic": {"username": username, "password": password}})
            }
            FakeAuth::Uaa { client_id, client_secret } => {
                json!({"uaa": {"client_credentials": {"client_id": client_id, "client_secret": client_secret}}})
            }
        };
        serde_yaml::to_value(json!({
            "url": self.url(),
            "root_ca_cert": self.ca_pem(),
            "authentication": auth,
        }))
        .expect("yaml")
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.shared.state.lock().unwrap()
    }

    /// Every request received so far, oldest first.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.state().requests.clone()
    }

    /// Requests other than `GET /info`, `POST /oauth/token` and task polls: the broker's
    /// actions, as `METHOD /path` lines.
    pub fn actions(&self) -> Vec<String> {
        self.requests()
            .iter()
            .filter(|r| r.method != "GET" || !(r.path == "/info" || r.path.starts_with("/tasks")))
            .filter(|r| r.path != "/oauth/token")
            .map(RecordedRequest::line)
            .collect()
    }

    /// Forgets the recorded requests.
    pub fn clear_requests(&self) {
        self.state().requests.clear();
    }

    /// How many UAA tokens were granted.
    pub fn grants(&self) -> usize {
        self.state().grants
    }

    /// Lifetime of the tokens granted from now on, in seconds.
    pub fn set_token_expires_in(&self, seconds: u64) {
        self.state().token_expires_in = seconds;
    }

    /// Invalidates every token granted so far (the director answers 401 to them).
    pub fn revoke_tokens(&self) {
        self.state().tokens.clear();
    }

    /// Makes the next task of `kind` (`deploy`, `delete`, `errand`, `recreate`) fail with
    /// `message` as its result.
    pub fn fail_next(&self, kind: &str, message: &str) {
        self.state().fail_next.push((kind.to_string(), message.to_string()));
    }

    /// Makes errand `name` finish `done` with this exit code in its result.
    pub fn set_errand_exit_code(&self, name: &str, code: i32) {
        self.state().errand_exit.insert(name.to_string(), code);
    }

    /// New tasks stay `processing` for `polls` polls of `GET /tasks/<id>`.
    pub fn set_task_polls(&self, polls: u32) {
        self.state().task_polls = polls;
    }

    /// New tasks stay `processing` for at least `duration`.
    pub fn set_task_duration(&self, duration: Duration) {
        self.state().task_duration = duration;
    }

    /// While held, every task reports `processing`.
    pub fn hold_tasks(&self, hold: bool) {
        self.state().hold_all = hold;
    }

    /// Adds a task in progress on `deployment` (as if an operator ran something) that stays
    /// `processing` until [`FakeDirector::finish_task`].
    pub fn add_running_task(&self, deployment: &str, description: &str) -> i64 {
        let mut state = self.state();
        let id = new_task(&mut state, deployment, description, "", "done", String::new());
        state.tasks.last_mut().unwrap().held = true;
        id
    }

    /// Lets a task added with [`FakeDirector::add_running_task`] finish.
    pub fn finish_task(&self, id: i64) {
        if let Some(t) = self.state().tasks.iter_mut().find(|t| t.id == id) {
            t.held = false;
        }
    }

    /// Resolves the variables of every later deploy in `store` (a [`crate::FakeCredhub`]'s),
    /// as a director with a config server does: absolute `((/name))` must exist; relative
    /// `((name))` is `/<director name>/<deployment>/<name>`, generated when the manifest's
    /// `variables:` declares it and it does not exist yet, else it must exist. A deploy with a
    /// variable that cannot be found fails.
    pub fn use_config_server(&self, store: &crate::fake_credhub::CredentialStore) {
        self.state().config_server = Some(store.clone());
    }

    /// The variables (id, name) the last successful deploy of `deployment` used.
    pub fn deployed_variables(&self, deployment: &str) -> Vec<(String, String)> {
        self.state().variables.get(deployment).cloned().unwrap_or_default()
    }

    /// Every deployment's name.
    pub fn deployments(&self) -> Vec<String> {
        self.state().deployments.keys().cloned().collect()
    }

    /// A deployment's manifest.
    pub fn manifest(&self, deployment: &str) -> Option<String> {
        self.state().deployments.get(deployment).cloned()
    }

    /// The latest config of each type named `name`: type → content.
    pub fn configs(&self, name: &str) -> BTreeMap<String, String> {
        self.state()
            .configs
            .iter()
            .filter(|c| c.name == name)
            .map(|c| (c.kind.clone(), c.content.clone()))
            .collect()
    }

    /// The link providers every deployment offers.
    pub fn set_link_providers(&self, providers: Vec<FakeLinkProvider>) {
        self.state().link_providers = providers;
    }

    /// How many external links exist (created and not deleted).
    pub fn open_links(&self) -> usize {
        self.state().links.len()
    }

    /// The states of every task, oldest first: (id, description, state).
    pub fn tasks(&self) -> Vec<(i64, String, String)> {
        let state = self.state();
        state
            .tasks
            .iter()
            .map(|t| (t.id, t.description.clone(), t.state(state.hold_all).to_string()))
            .collect()
    }
}

fn new_task(
    state: &mut State, deployment: &str, description: &str, context_id: &str,
    outcome: &'static str, result: String,
) -> i64 {
    let id = state.next_id;
    state.next_id += 1;
    let output = if outcome == "done" { result.clone() } else { String::new() };
    state.tasks.push(FakeTask {
        id,
        description: description.to_string(),
        deployment: deployment.to_string(),
        context_id: context_id.to_string(),
        started: Instant::now(),
        polls: 0,
        polls_needed: state.task_polls,
        duration: state.task_duration,
        held: false,
        outcome,
        result,
        output,
    });
    id
}

/// Takes a scripted failure for `kind`, if any.
fn take_failure(state: &mut State, kind: &str) -> Option<String> {
    let i = state.fail_next.iter().position(|(k, _)| k == kind)?;
    Some(state.fail_next.remove(i).1)
}

fn redirect_to_task(id: i64) -> Response {
    Response {
        status: 302,
        content_type: "text/plain",
        location: Some(format!("/tasks/{id}")),
        body: String::new(),
    }
}

fn handle(shared: &Shared, req: Request) -> Response {
    let mut state = shared.state.lock().unwrap();
    let authorization = req.header("authorization").unwrap_or("").to_string();
    let auth_kind = if authorization.is_empty() {
        AuthKind::None
    } else if authorization.starts_with("Basic ") {
        AuthKind::Basic
    } else if authorization.to_ascii_lowercase().starts_with("bearer ") {
        AuthKind::Bearer
    } else {
        AuthKind::Other
    };
    let authorized = match (&state.auth, auth_kind) {
        (FakeAuth::Basic { username, password }, AuthKind::Basic) => {
            decode_basic(&authorization).is_some_and(|(u, p)| &u == username && &p == password)
        }
        (FakeAuth::Uaa { .. }, AuthKind::Bearer) => {
            let token = authorization[7..].trim();
            state.tokens.get(token).is_some_and(|expiry| Instant::now() < *expiry)
        }
        _ => false,
    };
    state.requests.push(RecordedRequest {
        method: req.method.clone(),
        path: req.path.clone(),
        raw_path: req.raw_path.clone(),
        query: req.query.clone(),
        content_type: req.header("content-type").map(str::to_string),
        body: String::from_utf8_lossy(&req.body).into_owned(),
        auth: auth_kind,
        authorized,
        context_id: req.header("x-bosh-context-id").map(str::to_string),
    });
    let url = shared.url.lock().unwrap().clone();
    let method = req.method.as_str();
    let path = req.path.clone();
    // Routed as the director routes: split first, then decode each segment, so an encoded `/`
    // stays inside its name.
    let decoded: Vec<String> =
        req.raw_path.trim_start_matches('/').split('/').map(percent_decode).collect();
    let segments: Vec<&str> = decoded.iter().map(String::as_str).collect();

    // Unauthenticated endpoints.
    match (method, segments.as_slice()) {
        ("GET", ["info"]) => {
            let user = if authorized {
                match &state.auth {
                    FakeAuth::Basic { username, .. } => json!(username),
                    FakeAuth::Uaa { client_id, .. } => json!(client_id),
                }
            } else {
                Value::Null
            };
            let user_authentication = match &state.auth {
                FakeAuth::Basic { .. } => json!({"type": "basic", "options": {}}),
                FakeAuth::Uaa { .. } => json!({"type": "uaa", "options": {"url": url}}),
            };
            return json_response(
                200,
                json!({
                    "name": DIRECTOR_NAME,
                    "uuid": "00000000-0000-0000-0000-000000000000",
                    "version": "280.0.14 (00000000)",
                    "user": user,
                    "cpi": "fake_cpi",
                    "user_authentication": user_authentication,
                    "features": {},
                }),
            );
        }
        ("POST", ["oauth", "token"]) => {
            let FakeAuth::Uaa { client_id, client_secret } = &state.auth else {
                return text(404, "no UAA here");
            };
            let form = parse_query(&String::from_utf8_lossy(&req.body));
            let grant = form.iter().any(|(k, v)| k == "grant_type" && v == "client_credentials");
            let creds = decode_basic(&authorization);
            if !grant || creds != Some((client_id.clone(), client_secret.clone())) {
                return json_response(
                    401,
                    json!({"error": "unauthorized", "error_description": "Bad credentials"}),
                );
            }
            state.grants += 1;
            let token = format!("token-{}", state.grants);
            let expires_in = state.token_expires_in;
            state.tokens.insert(token.clone(), Instant::now() + Duration::from_secs(expires_in));
            return json_response(
                200,
                json!({"access_token": token, "token_type": "bearer", "expires_in": expires_in, "scope": "bosh.admin", "jti": token}),
            );
        }
        _ => {}
    }
    if !authorized {
        return text(401, "Not authorized: '/' requires authentication");
    }
    let body_text = String::from_utf8_lossy(&req.body).into_owned();
    let body_json: Value = serde_json::from_str(&body_text).unwrap_or(Value::Null);
    let hold_all = state.hold_all;
    let task_json = |t: &FakeTask| {
        json!({
            "id": t.id,
            "state": t.state(hold_all),
            "description": t.description,
            "timestamp": 0,
            "started_at": 0,
            "result": if t.state(hold_all) == "processing" { Value::Null } else { json!(t.result) },
            "user": "broker",
            "deployment": t.deployment,
            "context_id": t.context_id,
        })
    };
    let context = req.header("x-bosh-context-id").unwrap_or("").to_string();

    match (method, segments.as_slice()) {
        ("POST", ["deployments"]) => {
            let doc: serde_yaml::Value = match serde_yaml::from_str(&body_text) {
                Ok(d) => d,
                Err(e) => return text(400, &format!("invalid manifest: {e}")),
            };
            let Some(name) = doc["name"].as_str().map(str::to_string) else {
                return text(400, "manifest has no name");
            };
            // With a config server, every variable must resolve, as on a real director.
            let resolved = match &state.config_server {
                Some(server) => resolve_variables(server, &name, &doc, &body_text),
                None => Ok(Vec::new()),
            };
            state.deployments.insert(name.clone(), body_text.clone());
            let (outcome, result) = match (take_failure(&mut state, "deploy"), resolved) {
                (Some(msg), _) => ("error", msg),
                (None, Err(msg)) => ("error", msg),
                (None, Ok(variables)) => {
                    state.variables.insert(name.clone(), variables);
                    ("done", format!("/deployments/{name}"))
                }
            };
            let id = new_task(
                &mut state,
                &name,
                "create deployment",
                &context,
                outcome,
                result,
            );
            redirect_to_task(id)
        }
        ("GET", ["deployments"]) => json_response(
            200,
            Value::Array(
                state
                    .deployments
                    .keys()
                    .map(|n| json!({"name": n, "releases": [], "stemcells": [], "cloud_config": "none", "teams": []}))
                    .collect(),
            ),
        ),
        ("GET", ["deployments", name]) => match state.deployments.get(*name) {
            Some(m) => json_response(200, json!({"manifest": m})),
            None => text(404, &format!("Deployment '{name}' doesn't exist")),
        },
        ("GET", ["deployments", name, "variables"]) => {
            if !state.deployments.contains_key(*name) {
                return text(404, &format!("Deployment '{name}' doesn't exist"));
            }
            let list: Vec<Value> = state
                .variables
                .get(*name)
                .into_iter()
                .flatten()
                .map(|(id, n)| json!({"id": id, "name": n}))
                .collect();
            json_response(200, Value::Array(list))
        }
        ("GET", ["deployments", name, "instances"]) => {
            let Some(manifest) = state.deployments.get(*name) else {
                return text(404, &format!("Deployment '{name}' doesn't exist"));
            };
            json_response(200, Value::Array(instances(manifest)))
        }
        ("DELETE", ["deployments", name]) => {
            let name = name.to_string();
            let (outcome, result) = match take_failure(&mut state, "delete") {
                Some(msg) => ("error", msg),
                None => {
                    state.deployments.remove(&name);
                    ("done", format!("/deployments/{name}"))
                }
            };
            let id = new_task(
                &mut state,
                &name,
                "delete deployment",
                &context,
                outcome,
                result,
            );
            redirect_to_task(id)
        }
        ("POST", ["deployments", name, "errands", errand, "runs"]) => {
            let (name, errand) = (name.to_string(), errand.to_string());
            if !state.deployments.contains_key(&name) {
                return text(404, &format!("Deployment '{name}' doesn't exist"));
            }
            let (outcome, result) = match take_failure(&mut state, "errand") {
                Some(msg) => ("error", msg),
                None => {
                    let code = state.errand_exit.get(&errand).copied().unwrap_or(0);
                    let instances = body_json["instances"].as_array().cloned().unwrap_or_default();
                    let group = instances
                        .first()
                        .and_then(|i| i["group"].as_str())
                        .unwrap_or(&errand)
                        .to_string();
                    (
                        "done",
                        json!({
                            "instance": {"group": group, "id": "0"},
                            "errand_name": errand,
                            "exit_code": code,
                            "stdout": format!("{errand} ran"),
                            "stderr": if code == 0 { String::new() } else { format!("{errand} failed") },
                            "logs": {"blobstore_id": ""},
                        })
                        .to_string()
                            + "\n",
                    )
                }
            };
            let id = new_task(
                &mut state,
                &name,
                &format!("run errand {errand} from deployment {name}"),
                &context,
                outcome,
                result,
            );
            redirect_to_task(id)
        }
        ("PUT", ["deployments", name, "jobs", "*"]) => {
            let name = name.to_string();
            let (outcome, result) = match take_failure(&mut state, "recreate") {
                Some(msg) => ("error", msg),
                None => ("done", format!("/deployments/{name}")),
            };
            let id = new_task(
                &mut state,
                &name,
                "recreate deployment",
                &context,
                outcome,
                result,
            );
            redirect_to_task(id)
        }
        ("GET", ["tasks", id]) => {
            let Some(task) = state
                .tasks
                .iter_mut()
                .find(|t| t.id.to_string() == *id)
            else {
                return text(404, &format!("Task {id} not found"));
            };
            task.polls += 1;
            let task = task.clone();
            json_response(200, task_json(&task))
        }
        ("GET", ["tasks", id, "output"]) => {
            match state.tasks.iter().find(|t| t.id.to_string() == *id) {
                Some(t) if req.query("type") == Some("result") => Response {
                    status: 200,
                    content_type: "text/plain",
                    location: None,
                    body: t.output.clone(),
                },
                Some(_) => text(200, ""),
                None => text(404, &format!("Task {id} not found")),
            }
        }
        ("GET", ["tasks"]) => {
            let states: Option<Vec<&str>> = req.query("state").map(|s| s.split(',').collect());
            let mut list: Vec<Value> = state
                .tasks
                .iter()
                .rev()
                .filter(|t| req.query("context_id").is_none_or(|c| c == t.context_id))
                .filter(|t| req.query("deployment").is_none_or(|d| d == t.deployment))
                .filter(|t| {
                    states
                        .as_ref()
                        .is_none_or(|s| s.contains(&t.state(hold_all)))
                })
                .map(task_json)
                .collect();
            if let Some(limit) = req.query("limit").and_then(|l| l.parse().ok()) {
                list.truncate(limit);
            }
            json_response(200, Value::Array(list))
        }
        ("POST", ["configs"]) => {
            let (Some(kind), Some(name), Some(content)) = (
                body_json["type"].as_str(),
                body_json["name"].as_str(),
                body_json["content"].as_str(),
            ) else {
                return text(400, "type, name and content are required");
            };
            let id = state.next_id;
            state.next_id += 1;
            state
                .configs
                .retain(|c| !(c.kind == kind && c.name == name));
            state.configs.push(FakeConfig {
                id,
                kind: kind.to_string(),
                name: name.to_string(),
                content: content.to_string(),
            });
            json_response(
                201,
                json!({"id": id.to_string(), "type": kind, "name": name, "content": content, "current": true}),
            )
        }
        ("GET", ["configs"]) => {
            let list: Vec<Value> = state
                .configs
                .iter()
                .filter(|c| req.query("name").is_none_or(|n| n == c.name))
                .filter(|c| req.query("type").is_none_or(|t| t == c.kind))
                .map(|c| json!({"id": c.id.to_string(), "type": c.kind, "name": c.name, "content": c.content, "current": true}))
                .collect();
            json_response(200, Value::Array(list))
        }
        ("DELETE", ["configs"]) => {
            let (kind, name) = (req.query("type"), req.query("name"));
            let before = state.configs.len();
            state
                .configs
                .retain(|c| !(Some(c.kind.as_str()) == kind && Some(c.name.as_str()) == name));
            if state.configs.len() == before {
                text(404, "No configs to delete")
            } else {
                Response {
                    status: 204,
                    content_type: "text/plain",
                    location: None,
                    body: String::new(),
                }
            }
        }
        ("GET", ["link_providers"]) => {
            let Some(deployment) = req.query("deployment") else {
                return text(400, "deployment is required");
            };
            if !state.deployments.contains_key(deployment) {
                return text(404, &format!("Deployment '{deployment}' doesn't exist"));
            }
            let list: Vec<Value> = state
                .link_providers
                .iter()
                .enumerate()
                .map(|(i, p)| {
                    json!({
                        "id": (i + 1).to_string(),
                        "name": p.name,
                        "shared": p.shared,
                        "deployment": deployment,
                        "link_provider_definition": {"type": p.name, "name": p.name},
                        "owner_object": {"type": "job", "name": p.name, "info": {"instance_group": p.instance_group}},
                    })
                })
                .collect();
            json_response(200, Value::Array(list))
        }
        ("POST", ["links"]) => {
            let provider = body_json["link_provider_id"].as_str().unwrap_or("");
            let Some(index) = provider
                .parse::<usize>()
                .ok()
                .filter(|i| *i >= 1 && *i <= state.link_providers.len())
            else {
                return text(400, "unknown link_provider_id");
            };
            if body_json["link_consumer"]["owner_object"]["type"] != "external" {
                return text(400, "link_consumer.owner_object.type must be external");
            }
            let deployment = state
                .requests
                .iter()
                .rev()
                .find(|r| r.path == "/link_providers")
                .and_then(|r| r.query_value("deployment").map(str::to_string))
                .unwrap_or_default();
            let id = state.next_id.to_string();
            state.next_id += 1;
            state.links.insert(id.clone(), (deployment, index - 1));
            json_response(
                200,
                json!({"id": id, "name": "external_consumer_id", "link_provider_id": provider}),
            )
        }
        ("GET", ["link_address"]) => {
            let Some((deployment, index)) = req
                .query("link_id")
                .and_then(|id| state.links.get(id))
                .cloned()
            else {
                return text(404, "link not found");
            };
            let provider = &state.link_providers[index];
            let azs = req
                .query
                .iter()
                .filter(|(k, _)| k == "azs[]")
                .count();
            let prefix = if azs > 0 { format!("q-a{azs}s0") } else { "q-s0".into() };
            json_response(
                200,
                json!({"address": format!("{prefix}.{}.default.{}.bosh", provider.instance_group, deployment.replace('_', "-"))}),
            )
        }
        ("DELETE", ["links", id]) => {
            if state.links.remove(*id).is_some() {
                Response {
                    status: 204,
                    content_type: "text/plain",
                    location: None,
                    body: String::new(),
                }
            } else {
                text(404, "link not found")
            }
        }
        _ => text(404, &format!("fake director: no route for {method} {path}")),
    }
}

/// `GET /deployments/<d>/instances` answer for a manifest: one entry per instance of each
/// instance group, with deterministic IPs; errand groups have no VM.
fn instances(manifest: &str) -> Vec<Value> {
    let doc: serde_yaml::Value = serde_yaml::from_str(manifest).unwrap_or_default();
    let mut out = Vec::new();
    for (gi, group) in doc["instance_groups"].as_sequence().into_iter().flatten().enumerate() {
        let name = group["name"].as_str().unwrap_or("");
        let errand = group["lifecycle"].as_str() == Some("errand");
        for i in 0..group["instances"].as_u64().unwrap_or(0) {
            out.push(json!({
                "agent_id": format!("agent-{gi}-{i}"),
                "cid": if errand { Value::Null } else { json!(format!("vm-{gi}-{i}")) },
                "job": name,
                "index": i,
                "id": format!("{name}-uuid-{i}"),
                "az": "z1",
                "ips": if errand { json!([]) } else { json!([format!("10.244.{gi}.{}", 10 + i)]) },
                "expects_vm": !errand,
            }));
        }
    }
    out
}

/// The director's name in `/info`, the first segment of its variables' names.
const DIRECTOR_NAME: &str = "fake-director";

/// The variables of a manifest as a director resolves them on deploy: (id, name) of the
/// version used, or the task error for a variable that cannot be found.
fn resolve_variables(
    server: &crate::fake_credhub::CredentialStore, deployment: &str, doc: &serde_yaml::Value,
    text: &str,
) -> Result<Vec<(String, String)>, String> {
    let declared: Vec<(String, String)> = doc["variables"]
        .as_sequence()
        .into_iter()
        .flatten()
        .filter_map(|v| {
            Some((
                v["name"].as_str()?.to_string(),
                v["type"].as_str().unwrap_or("password").to_string(),
            ))
        })
        .collect();
    let mut used: Vec<(String, String)> = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("((") {
        rest = &rest[start + 2..];
        let Some(end) = rest.find("))") else { break };
        let reference = rest[..end].trim().to_string();
        rest = &rest[end + 2..];
        let last = reference.rfind('/').map_or(0, |i| i + 1);
        let base = match reference[last..].find('.') {
            Some(dot) => reference[..last + dot].to_string(),
            None => reference.clone(),
        };
        let name = if base.starts_with('/') {
            base.clone()
        } else {
            format!("/{DIRECTOR_NAME}/{deployment}/{base}")
        };
        if used.iter().any(|(_, n)| *n == name) {
            continue;
        }
        let id = match server.latest(&name) {
            Some(c) => c.id,
            None => match declared.iter().find(|(n, _)| *n == base) {
                Some((_, kind)) => {
                    let value = match kind.as_str() {
                        "certificate" => {
                            json!({"ca": "GENERATED-CA", "certificate": "GENERATED-CERT", "private_key": "GENERATED-KEY"})
                        }
                        "user" => {
                            json!({"username": "generated-user", "password": "generated-password"})
                        }
                        _ => json!(format!("generated-{}", used.len())),
                    };
                    server.set(&name, kind, value)
                }
                None => {
                    return Err(format!(
                        "Failed to find variable '{name}' from config server: HTTP Code '404'"
                    ))
                }
            },
        };
        used.push((id, name));
    }
    Ok(used)
}

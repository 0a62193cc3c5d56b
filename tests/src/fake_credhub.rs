//! [`FakeCredhub`]: a CredHub server (and its UAA) for the black-box tests, serving HTTPS on
//! 127.0.0.1 with its own throw-away CA.
//!
//! It implements the slice of the CredHub API the broker uses: `/info`, `/version`, the UAA
//! token endpoint `/oauth/token` (client credentials, tokens with a configurable lifetime),
//! `/api/v1/data` (set, latest by name, by id, find by partial name, delete) and the
//! permissions API of its version (`/api/v2/permissions` from 2.x, `/api/v1/permissions`
//! before). Status codes and `{"error": …}` bodies are CredHub's: 401 for a missing, bad or
//! expired token, 404 for a missing credential. Every call is recorded (method, path, query,
//! body, whether its token was accepted) for assertions, and the server can be stopped and
//! resumed to simulate an outage.
//!
//! Its credentials live in a [`CredentialStore`] that a [`crate::FakeDirector`] can share, to
//! resolve the variables of the manifests it deploys as a director resolves them in its
//! config server.

use crate::fake_http::{decode_basic, json_response, parse_query, HttpsServer, Request, Response};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// One version of a credential.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredCredential {
    /// Its id.
    pub id: String,
    /// Its name.
    pub name: String,
    /// Its type (`value`, `json`, `password`, ...).
    pub kind: String,
    /// Its value.
    pub value: Value,
}

impl StoredCredential {
    fn json(&self) -> Value {
        json!({
            "id": self.id,
            "name": self.name,
            "type": self.kind,
            "value": self.value,
            "version_created_at": "2026-01-01T00:00:00Z",
        })
    }
}

#[derive(Debug, Default)]
struct Credentials {
    versions: Vec<StoredCredential>,
    /// Credential name → (actor, operations).
    permissions: Vec<(String, String, Vec<String>)>,
    next_id: u64,
}

/// Credentials and permissions, shared by a fake CredHub and the fake director that uses it
/// as its config server.
#[derive(Debug, Clone, Default)]
pub struct CredentialStore(Arc<Mutex<Credentials>>);

impl CredentialStore {
    /// Adds a new version of `name`; returns its id.
    pub fn set(&self, name: &str, kind: &str, value: Value) -> String {
        let mut c = self.0.lock().unwrap();
        c.next_id += 1;
        let id = format!("00000000-0000-4000-8000-{:012}", c.next_id);
        c.versions.push(StoredCredential {
            id: id.clone(),
            name: name.to_string(),
            kind: kind.to_string(),
            value,
        });
        id
    }

    /// The latest version of `name`.
    pub fn latest(&self, name: &str) -> Option<StoredCredential> {
        let c = self.0.lock().unwrap();
        c.versions.iter().rev().find(|v| v.name == name).cloned()
    }

    /// The version with this id.
    pub fn by_id(&self, id: &str) -> Option<StoredCredential> {
        let c = self.0.lock().unwrap();
        c.versions.iter().find(|v| v.id == id).cloned()
    }

    /// Every credential name, sorted, once each.
    pub fn names(&self) -> Vec<String> {
        let c = self.0.lock().unwrap();
        let mut names: Vec<String> = c.versions.iter().map(|v| v.name.clone()).collect();
        names.sort();
        names.dedup();
        names
    }

    /// Deletes every version of `name`; false when there was none.
    pub fn delete(&self, name: &str) -> bool {
        let mut c = self.0.lock().unwrap();
        let before = c.versions.len();
        c.versions.retain(|v| v.name != name);
        c.permissions.retain(|(n, _, _)| n != name);
        c.versions.len() != before
    }

    /// The permissions on `name`: (actor, operations).
    pub fn permissions(&self, name: &str) -> Vec<(String, Vec<String>)> {
        let c = self.0.lock().unwrap();
        c.permissions
            .iter()
            .filter(|(n, _, _)| n == name)
            .map(|(_, a, o)| (a.clone(), o.clone()))
            .collect()
    }

    /// Grants `actor` `operations` on `name`; false when that actor already has a grant.
    fn grant(&self, name: &str, actor: &str, operations: Vec<String>) -> bool {
        let mut c = self.0.lock().unwrap();
        if c.permissions.iter().any(|(n, a, _)| n == name && a == actor) {
            return false;
        }
        c.permissions.push((name.to_string(), actor.to_string(), operations));
        true
    }

    /// Every value ever stored, as JSON text (to check a log holds none of them).
    pub fn all_values(&self) -> Vec<String> {
        let c = self.0.lock().unwrap();
        c.versions
            .iter()
            .map(|v| match &v.value {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            })
            .collect()
    }
}

/// One call the fake received.
#[derive(Debug, Clone)]
pub struct CredhubCall {
    /// `GET`, `PUT`, ...
    pub method: String,
    /// The path, percent-decoded.
    pub path: String,
    /// The query pairs, decoded.
    pub query: Vec<(String, String)>,
    /// The body as JSON (`Null` when none).
    pub body: Value,
    /// The UAA client whose token it carried, when the token was valid.
    pub actor: Option<String>,
    /// The status answered.
    pub status: u16,
}

impl CredhubCall {
    /// The first value of query parameter `key`.
    pub fn query_value(&self, key: &str) -> Option<&str> {
        crate::fake_http::query_value(&self.query, key)
    }

    /// `METHOD /path`.
    pub fn line(&self) -> String {
        format!("{} {}", self.method, self.path)
    }
}

struct State {
    client_id: String,
    client_secret: String,
    version: Option<String>,
    serve_version_endpoint: bool,
    tokens: HashMap<String, (String, Instant)>,
    grants: usize,
    token_expires_in: u64,
    calls: Vec<CredhubCall>,
}

struct Shared {
    state: Mutex<State>,
    store: CredentialStore,
    url: Mutex<String>,
}

/// A fake CredHub on `https://127.0.0.1:<port>`; it is its own UAA. Dropping it stops it.
pub struct FakeCredhub {
    shared: Arc<Shared>,
    server: HttpsServer,
}

const NOT_FOUND: &str = "The request could not be completed because the credential does not exist or you do not have sufficient authorization.";

impl FakeCredhub {
    /// A CredHub 2.x whose UAA knows `client_id` / `client_secret`.
    pub fn start(client_id: &str, client_secret: &str) -> Self {
        Self::start_version(client_id, client_secret, Some("2.12.0"), true)
    }

    /// A CredHub reporting `version` in `/info` (`None`: only `/version` tells, when
    /// `version_endpoint` answers it, `2.12.0`).
    pub fn start_version(
        client_id: &str, client_secret: &str, version: Option<&str>, version_endpoint: bool,
    ) -> Self {
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                client_id: client_id.to_string(),
                client_secret: client_secret.to_string(),
                version: version.map(str::to_string),
                serve_version_endpoint: version_endpoint,
                tokens: HashMap::new(),
                grants: 0,
                token_expires_in: 3600,
                calls: Vec::new(),
            }),
            store: CredentialStore::default(),
            url: Mutex::new(String::new()),
        });
        let handler = {
            let shared = shared.clone();
            Arc::new(move |req| handle(&shared, req))
        };
        let server = HttpsServer::start(handler);
        *shared.url.lock().unwrap() = server.url();
        FakeCredhub { shared, server }
    }

    /// `https://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        self.shared.url.lock().unwrap().clone()
    }

    /// The PEM of the CA that signed the server certificate.
    pub fn ca_pem(&self) -> &str {
        self.server.ca_pem()
    }

    /// Its credentials.
    pub fn store(&self) -> &CredentialStore {
        &self.shared.store
    }

    /// Stops serving ("CredHub down").
    pub fn stop(&self) {
        self.server.stop();
    }

    /// Serves again on the same port, with the same credentials.
    pub fn resume(&self) {
        self.server.resume();
    }

    /// The broker's `bosh_credhub:` section for this CredHub.
    pub fn bosh_credhub_config(&self) -> serde_yaml::Value {
        let s = self.shared.state.lock().unwrap();
        serde_yaml::to_value(json!({
            "url": self.url(),
            "root_ca_cert": self.ca_pem(),
            "authentication": {"uaa": {"client_credentials": {
                "client_id": s.client_id, "client_secret": s.client_secret,
            }}},
        }))
        .expect("yaml")
    }

    /// The broker's `credhub:` section for this CredHub.
    pub fn runtime_credhub_config(&self) -> serde_yaml::Value {
        let s = self.shared.state.lock().unwrap();
        serde_yaml::to_value(json!({
            "api_url": self.url(),
            "ca_cert": self.ca_pem(),
            "client_id": s.client_id,
            "client_secret": s.client_secret,
        }))
        .expect("yaml")
    }

    /// Every call so far, oldest first.
    pub fn calls(&self) -> Vec<CredhubCall> {
        self.shared.state.lock().unwrap().calls.clone()
    }

    /// The calls to the credential API (`/api/...`), as `METHOD /path` lines.
    pub fn api_lines(&self) -> Vec<String> {
        self.calls().iter().filter(|c| c.path.starts_with("/api/")).map(CredhubCall::line).collect()
    }

    /// How many tokens its UAA granted.
    pub fn grants(&self) -> usize {
        self.shared.state.lock().unwrap().grants
    }

    /// Lifetime of the tokens granted from now on, in seconds.
    pub fn set_token_expires_in(&self, seconds: u64) {
        self.shared.state.lock().unwrap().token_expires_in = seconds;
    }

    /// Invalidates every token granted so far.
    pub fn revoke_tokens(&self) {
        self.shared.state.lock().unwrap().tokens.clear();
    }
}

fn error(status: u16, message: &str) -> Response {
    json_response(status, json!({"error": message}))
}

fn no_content() -> Response {
    Response { status: 204, content_type: "application/json", location: None, body: String::new() }
}

fn handle(shared: &Shared, req: Request) -> Response {
    let segments: Vec<String> = req
        .raw_path
        .trim_start_matches('/')
        .split('/')
        .map(crate::fake_http::percent_decode)
        .collect();
    let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
    let body: Value = serde_json::from_slice(&req.body).unwrap_or(Value::Null);
    let mut state = shared.state.lock().unwrap();
    let actor = req
        .header("authorization")
        .and_then(|h| h.strip_prefix("Bearer ").or_else(|| h.strip_prefix("bearer ")))
        .and_then(|t| state.tokens.get(t.trim()))
        .filter(|(_, expiry)| Instant::now() < *expiry)
        .map(|(client, _)| client.clone());
    let response = route(shared, &mut state, &req, &segments, &body, actor.as_deref());
    state.calls.push(CredhubCall {
        method: req.method.clone(),
        path: req.path.clone(),
        query: req.query.clone(),
        body,
        actor,
        status: response.status,
    });
    response
}

fn route(
    shared: &Shared, state: &mut State, req: &Request, segments: &[&str], body: &Value,
    actor: Option<&str>,
) -> Response {
    let url = shared.url.lock().unwrap().clone();
    let method = req.method.as_str();
    match (method, segments) {
        ("GET", ["info"]) => {
            let mut app = json!({"name": "CredHub"});
            if let Some(v) = &state.version {
                app["version"] = json!(v);
            }
            return json_response(200, json!({"auth-server": {"url": url}, "app": app}));
        }
        ("GET", ["version"]) if state.serve_version_endpoint => {
            return json_response(
                200,
                json!({"version": state.version.clone().unwrap_or_else(|| "2.12.0".into())}),
            );
        }
        ("POST", ["oauth", "token"]) => {
            let form = parse_query(&String::from_utf8_lossy(&req.body));
            let grant = form.iter().any(|(k, v)| k == "grant_type" && v == "client_credentials");
            let creds = req.header("authorization").and_then(decode_basic);
            if !grant || creds != Some((state.client_id.clone(), state.client_secret.clone())) {
                return json_response(
                    401,
                    json!({"error": "unauthorized", "error_description": "Bad credentials"}),
                );
            }
            state.grants += 1;
            let token = format!("credhub-token-{}", state.grants);
            let expires_in = state.token_expires_in;
            state.tokens.insert(
                token.clone(),
                (state.client_id.clone(), Instant::now() + Duration::from_secs(expires_in)),
            );
            return json_response(
                200,
                json!({"access_token": token, "token_type": "bearer", "expires_in": expires_in}),
            );
        }
        _ => {}
    }
    if actor.is_none() {
        return json_response(
            401,
            json!({"error": "invalid_token", "error_description": "Full authentication is required to access this resource"}),
        );
    }
    let store = &shared.store;
    let v1 = state.version.as_deref().is_some_and(|v| v.starts_with("1."));
    match (method, segments) {
        ("PUT", ["api", "v1", "data"]) => {
            let (Some(name), Some(kind)) = (body["name"].as_str(), body["type"].as_str()) else {
                return error(400, "A credential name and type must be provided.");
            };
            if v1 && body["mode"].as_str() != Some("overwrite") {
                return error(400, "The request does not include a valid mode. Valid values include 'overwrite', 'no-overwrite' and 'converge'.");
            }
            let value = body["value"].clone();
            let valid = match kind {
                "value" | "password" => value.is_string(),
                "json" => value.is_object(),
                _ => false,
            };
            if !valid {
                return error(400, "The request does not include a valid type or value.");
            }
            let name = if name.starts_with('/') { name.to_string() } else { format!("/{name}") };
            let id = store.set(&name, kind, value);
            json_response(200, store.by_id(&id).unwrap().json())
        }
        ("GET", ["api", "v1", "data"]) => {
            if let Some(part) = req.query("name-like") {
                let part = part.to_lowercase();
                let found: Vec<Value> = store
                    .names()
                    .into_iter()
                    .filter(|n| n.to_lowercase().contains(&part))
                    .map(|n| json!({"name": n, "version_created_at": "2026-01-01T00:00:00Z"}))
                    .collect();
                return json_response(200, json!({"credentials": found}));
            }
            let Some(name) = req.query("name") else {
                return error(400, "The query parameter name is required for this request.");
            };
            match store.latest(name) {
                Some(c) => json_response(200, json!({"data": [c.json()]})),
                None => error(404, NOT_FOUND),
            }
        }
        ("GET", ["api", "v1", "data", id]) => match store.by_id(id) {
            Some(c) => json_response(200, c.json()),
            None => error(404, NOT_FOUND),
        },
        ("DELETE", ["api", "v1", "data"]) => {
            let Some(name) = req.query("name") else {
                return error(400, "The query parameter name is required for this request.");
            };
            if store.delete(name) {
                no_content()
            } else {
                error(404, NOT_FOUND)
            }
        }
        ("POST", ["api", "v2", "permissions"]) if !v1 => {
            let (Some(path), Some(who)) = (body["path"].as_str(), body["actor"].as_str()) else {
                return error(400, "The request is missing the path or the actor.");
            };
            let ops: Vec<String> = body["operations"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|o| o.as_str().map(str::to_string))
                .collect();
            if !store.grant(path, who, ops.clone()) {
                return error(409, "A permission entry for this actor and path already exists.");
            }
            json_response(
                201,
                json!({"uuid": "11111111-0000-4000-8000-000000000000", "path": path, "actor": who, "operations": ops}),
            )
        }
        ("POST", ["api", "v1", "permissions"]) if v1 => {
            let Some(name) = body["credential_name"].as_str() else {
                return error(400, "The request is missing the credential name.");
            };
            for p in body["permissions"].as_array().into_iter().flatten() {
                let ops = p["operations"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|o| o.as_str().map(str::to_string))
                    .collect();
                store.grant(name, p["actor"].as_str().unwrap_or(""), ops);
            }
            json_response(201, json!({}))
        }
        _ => error(
            404,
            "The request could not be fulfilled because the resource could not be found.",
        ),
    }
}

//! Checks a raw configuration and turns it into the validated [`Config`].

use super::model::*;
use super::{ConfigProblem, EnvOverrides};
use serde_yaml::Value;
use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

const DEFAULT_USERNAME: &str = "admin";
const DEFAULT_PASSWORD: &str = "password";
const DEFAULT_ADAPTER_TIMEOUT_SECONDS: f64 = 120.0;
const DEFAULT_MAX_OUTPUT_BYTES: usize = 4 * 1024 * 1024;
const DEFAULT_MAX_CONNECTIONS: usize = 1024;
/// The most HTTP workers actix-web accepts.
const MAX_HTTP_WORKERS: usize = 512;
const DEFAULT_BLOCKING_THREADS: usize = 2;
/// Far more than SQLite can use: it takes one writer at a time.
const MAX_BLOCKING_THREADS: usize = 512;

/// The default `broker.http_workers`: one per core the process may run on.
fn default_http_workers() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// A whole number in `1..=max` for `key`, `default` when the key is left out; otherwise a
/// problem that names the key, the value and the range.
fn bounded_count(
    problems: &mut Vec<ConfigProblem>, key: &str, value: Option<i64>, default: usize, max: usize,
    what: &str,
) -> Option<usize> {
    let Some(n) = value else {
        return Some(default);
    };
    match usize::try_from(n) {
        Ok(n) if (1..=max).contains(&n) => Some(n),
        _ => {
            problem(
                problems,
                key,
                format!(
                    "is {n}: set {what}, from 1 to {max} (default {default}), or leave the key out"
                ),
            );
            None
        }
    }
}

fn problem(problems: &mut Vec<ConfigProblem>, key: impl Into<String>, message: impl Into<String>) {
    problems.push(ConfigProblem { key: key.into(), message: message.into() });
}

/// Adds a problem at `<key>.<field>` for each check that fails, in order:
/// `(field, fails, message)`.
fn check_fields(problems: &mut Vec<ConfigProblem>, key: &str, checks: &[(&str, bool, &str)]) {
    for (field, fails, message) in checks {
        if *fails {
            problem(problems, format!("{key}.{field}"), *message);
        }
    }
}

/// Checks the list at `key`: a problem when it is empty (`when_empty` says what to list),
/// then the checks `checks` gives for each entry, at `<key>[i]`.
fn check_list<T, const N: usize>(
    problems: &mut Vec<ConfigProblem>, key: &str, items: &[T], when_empty: &str,
    checks: impl Fn(&T) -> [(&'static str, bool, &'static str); N],
) {
    if items.is_empty() {
        problem(problems, key, when_empty);
    }
    for (i, item) in items.iter().enumerate() {
        check_fields(problems, &format!("{key}[{i}]"), &checks(item));
    }
}

/// Replaces every string value of the form `${NAME}` with the environment variable `NAME`.
pub(super) fn substitute_env(
    value: &mut Value, key: &str, lookup: &dyn Fn(&str) -> Option<String>,
    problems: &mut Vec<ConfigProblem>,
) {
    match value {
        Value::String(s) => {
            if let Some(name) = s.strip_prefix("${").and_then(|r| r.strip_suffix('}')) {
                match lookup(name) {
                    Some(v) => *s = v,
                    None => problem(
                        problems,
                        key,
                        format!("refers to environment variable {name}, which is not set: set it, or write the value in the file"),
                    ),
                }
            }
        }
        Value::Mapping(map) => {
            for (k, v) in map.iter_mut() {
                let name = k.as_str().map(str::to_string).unwrap_or_default();
                let child = if key.is_empty() { name } else { format!("{key}.{name}") };
                substitute_env(v, &child, lookup, problems);
            }
        }
        Value::Sequence(items) => {
            for (i, v) in items.iter_mut().enumerate() {
                substitute_env(v, &format!("{key}[{i}]"), lookup, problems);
            }
        }
        _ => {}
    }
}

/// Applies `BROKER_HOST`, `BROKER_PORT`, `BROKER_USERNAME`, `BROKER_PASSWORD` and
/// `BROKER_LOG_FORMAT`.
pub(super) fn apply_overrides(
    value: &mut Value, env: &EnvOverrides, problems: &mut Vec<ConfigProblem>,
) {
    let Value::Mapping(root) = value else {
        problem(
            problems,
            "",
            "the config file must be a YAML mapping of sections (broker:, service_adapter:, ...)",
        );
        return;
    };
    if let Some(format) = &env.log_format {
        let logging = root
            .entry(Value::String("logging".into()))
            .or_insert_with(|| Value::Mapping(Default::default()));
        if !logging.is_mapping() {
            *logging = Value::Mapping(Default::default());
        }
        if let Value::Mapping(logging) = logging {
            logging.insert(Value::String("format".into()), Value::String(format.clone()));
        }
    }
    let broker = root
        .entry(Value::String("broker".into()))
        .or_insert_with(|| Value::Mapping(Default::default()));
    if broker.is_null() {
        *broker = Value::Mapping(Default::default());
    }
    let Value::Mapping(broker) = broker else {
        problem(problems, "broker", "must be a mapping with port, username and password");
        return;
    };
    let mut set = |k: &str, v: Value| {
        broker.insert(Value::String(k.into()), v);
    };
    if let Some(host) = &env.host {
        set("host", Value::String(host.clone()));
    }
    if let Some(port) = &env.port {
        match port.parse::<u16>() {
            Ok(p) => set("port", Value::Number(p.into())),
            Err(_) => {
                problem(problems, "BROKER_PORT", format!("'{port}' is not a port number (0-65535)"))
            }
        }
    }
    if let Some(u) = &env.username {
        set("username", Value::String(u.clone()));
    }
    if let Some(p) = &env.password {
        set("password", Value::String(p.clone()));
    }
}

/// Validates the raw config. Returns `None` when a problem makes the result unusable.
pub(super) fn validate(
    raw: RawConfig, base_dir: &Path, is_embedded_default: bool, problems: &mut Vec<ConfigProblem>,
    warnings: &mut Vec<String>,
) -> Option<Config> {
    let broker = validate_broker(&raw.broker, base_dir, is_embedded_default, problems, warnings);
    let adapter =
        validate_adapter(&raw.service_adapter, raw.broker.use_stdin, base_dir, problems, warnings);
    validate_service_deployment(&raw.service_deployment, problems);
    let catalog = match &raw.service_catalog {
        Some(c) => {
            validate_catalog(c, problems);
            Some(c.clone())
        }
        None => {
            problem(problems, "service_catalog", "is missing: configure the service offering (id, service_name, service_description, plans)");
            None
        }
    };
    let director = validate_director(&raw, problems);
    let bosh_credhub = raw
        .bosh_credhub
        .as_ref()
        .filter(|c| **c != RawBoshCredhub::default())
        .and_then(|c| validate_bosh_credhub(c, problems));
    let credhub = raw
        .credhub
        .as_ref()
        .filter(|c| **c != RawRuntimeCredhub::default())
        .and_then(|c| validate_runtime_credhub(c, problems));
    check_secure_manifests(&raw, adapter.as_ref(), problems, warnings);
    for (key, set) in [
        ("cf", raw.cf.is_some()),
        ("service_instances_api", raw.service_instances_api.is_some()),
        ("service_adapter.mount_paths", raw.service_adapter.mount_paths.is_some()),
        ("broker.enable_telemetry", raw.broker.enable_telemetry == Some(true)),
    ] {
        if set {
            warnings.push(format!(
                "config key {key} is recognised but not supported by this broker; it has no effect"
            ));
        }
    }
    let encryption = validate_encryption(raw.database.encryption.as_ref(), problems);
    let database = validate_database(&raw.database, base_dir, &encryption, problems);
    let mut service_deployment = raw.service_deployment.clone();
    if let Some(legacy) = service_deployment.stemcell.take() {
        if service_deployment.stemcells.is_empty() {
            service_deployment.stemcells.push(legacy);
        }
    }
    let logging = validate_logging(&raw.logging, problems);
    Some(Config {
        logging: logging?,
        broker: broker?,
        adapter: adapter?,
        service_deployment,
        catalog: catalog?,
        database: database?,
        encryption: encryption?,
        director: director?,
        bosh_credhub,
        credhub,
    })
}

/// `database.path` or `database.url`: one of them (by default the SQLite file
/// `data/broker.db`); a URL must parse, and a PostgreSQL database needs configured keys.
fn validate_database(
    raw: &super::model::RawDatabase, base_dir: &Path,
    encryption: &Option<Option<crate::store::KeySet>>, problems: &mut Vec<ConfigProblem>,
) -> Option<crate::store::Location> {
    use crate::store::Location;
    match (raw.path.as_deref(), raw.url.as_deref()) {
        (Some(_), Some(_)) => {
            problem(
                problems,
                "database",
                "has both path and url: give path for a SQLite file, or url for a PostgreSQL database",
            );
            None
        }
        (_, Some("")) => {
            problem(
                problems,
                "database.url",
                "is empty: give postgres://user:password@host:port/database",
            );
            None
        }
        (_, Some(url)) => {
            if let Err(e) = crate::store::pg_url::PgSettings::parse(url) {
                let text = match e {
                    crate::store::StoreError::Postgres { message, .. } => message,
                    other => other.to_string(),
                };
                problem(problems, "database.url", text);
                return None;
            }
            if matches!(encryption, Some(None)) {
                problem(
                    problems,
                    "database.encryption.keys",
                    "is missing: a PostgreSQL database needs configured keys (every replica the same), as there is no file beside it to keep a generated key in",
                );
                return None;
            }
            Some(Location::Postgres(url.to_string()))
        }
        (Some(""), None) => {
            problem(
                problems,
                "database.path",
                "is empty: give the SQLite file the broker keeps its state in",
            );
            None
        }
        (Some(p), None) => Some(Location::Sqlite(resolve(base_dir, p))),
        (None, None) => Some(Location::Sqlite(Path::new("data").join("broker.db"))),
    }
}

/// `database.encryption.keys`: unique valid labels, secrets of at least
/// [`crate::store::MIN_SECRET_BYTES`] bytes, exactly one primary. `Some(None)` when no keys
/// are configured; `None` when a problem was recorded. No message shows a secret.
fn validate_encryption(
    encryption: Option<&RawEncryption>, problems: &mut Vec<ConfigProblem>,
) -> Option<Option<crate::store::KeySet>> {
    use crate::store::{check_key_label, KeySecret, KeySet, RootKey, MIN_SECRET_BYTES};
    let Some(raw_keys) = encryption.and_then(|e| e.keys.as_ref()) else {
        return Some(None);
    };
    const KEYS: &str = "database.encryption.keys";
    let before = problems.len();
    if raw_keys.is_empty() {
        problem(
            problems,
            KEYS,
            "is empty: list at least one key ({label, secret, primary: true}), or leave the key out to use the key file the broker generates",
        );
        return None;
    }
    let mut keys = Vec::new();
    let mut labels = BTreeSet::new();
    let mut primaries = Vec::new();
    for (i, raw) in raw_keys.iter().enumerate() {
        let at = |field: &str| format!("{KEYS}[{i}].{field}");
        let label = raw.label.clone().unwrap_or_default();
        if label.is_empty() {
            problem(problems, at("label"), "is missing: name the key (letters, digits, '.', '_', '-'); the name is stored with every value it seals");
        } else if let Err(e) = check_key_label(&label) {
            problem(problems, at("label"), e.to_string());
        } else if !labels.insert(label.clone()) {
            problem(
                problems,
                at("label"),
                format!(
                    "'{label}' is the label of an earlier key too: give every key its own label"
                ),
            );
        }
        let secret = raw.secret.as_deref().unwrap_or_default();
        if secret.is_empty() {
            problem(problems, at("secret"), format!("is missing: give at least {MIN_SECRET_BYTES} random bytes, e.g. `${{ENV_VAR}}` set to the output of `openssl rand -hex 32`"));
        } else if secret.len() < MIN_SECRET_BYTES {
            problem(
                problems,
                at("secret"),
                format!("is {} bytes long: use at least {MIN_SECRET_BYTES} random bytes (e.g. `openssl rand -hex 32`)", secret.len()),
            );
        }
        if raw.primary == Some(true) {
            primaries.push(label.clone());
        }
        keys.push(RootKey { label, secret: KeySecret::new(secret.as_bytes()) });
    }
    match primaries.len() {
        1 => {}
        0 => problem(problems, KEYS, "has no primary key: set `primary: true` on the key new values are sealed with"),
        n => problem(problems, KEYS, format!("has {n} primary keys: set `primary: true` on exactly one key (the one new values are sealed with)")),
    }
    if problems.len() > before {
        return None;
    }
    match KeySet::new(keys, &primaries[0]) {
        Ok(set) => Some(Some(set)),
        Err(e) => {
            problem(problems, KEYS, e.to_string());
            None
        }
    }
}

/// [`resolve`], for the config tests.
#[cfg(test)]
pub(super) fn resolve_for_tests(base_dir: &Path, p: &str) -> std::path::PathBuf {
    resolve(base_dir, p)
}

/// A path from the config, relative to the config file's directory. A bare name
/// (`adapter.py`) stays a file next to the config: it becomes `./adapter.py`, never a name
/// looked up on `PATH` when the broker runs it.
fn resolve(base_dir: &Path, p: &str) -> std::path::PathBuf {
    let path = Path::new(p);
    let joined = if path.is_absolute() || base_dir.as_os_str().is_empty() {
        path.to_path_buf()
    } else {
        base_dir.join(path)
    };
    if joined.is_relative() && joined.components().count() == 1 {
        Path::new(".").join(joined)
    } else {
        joined
    }
}

fn validate_broker(
    raw: &RawBroker, base_dir: &Path, is_embedded_default: bool, problems: &mut Vec<ConfigProblem>,
    warnings: &mut Vec<String>,
) -> Option<BrokerSettings> {
    let mut ok = true;
    let port = match raw.port {
        Some(p) => p,
        None if is_embedded_default => 8080,
        None => {
            problem(
                problems,
                "broker.port",
                "can't be empty: set the port to listen on (e.g. 8080), or BROKER_PORT",
            );
            ok = false;
            0
        }
    };
    let mut default_credentials = false;
    let mut credential = |key: &str, value: &Option<String>, default: &str| -> String {
        match value.as_deref() {
            Some(v) if !v.is_empty() => v.to_string(),
            _ if is_embedded_default => {
                default_credentials = true;
                default.to_string()
            }
            _ => {
                problem(
                    problems,
                    format!("broker.{key}"),
                    format!(
                        "can't be empty: set the basic-auth {key} platforms use, or BROKER_{}",
                        key.to_uppercase()
                    ),
                );
                ok = false;
                String::new()
            }
        }
    };
    let username = credential("username", &raw.username, DEFAULT_USERNAME);
    let password = credential("password", &raw.password, DEFAULT_PASSWORD);
    if username == DEFAULT_USERNAME && password == DEFAULT_PASSWORD {
        default_credentials = true;
    }
    if default_credentials {
        warnings.push(
            "the broker uses the default credentials admin/password: set BROKER_USERNAME and BROKER_PASSWORD before exposing it".to_string(),
        );
    }
    let worker_interval = Duration::from_millis(raw.worker_interval_millis.unwrap_or(500).max(10));
    let readiness_interval =
        Duration::from_millis(raw.readiness_interval_millis.unwrap_or(5000).max(100));
    let operation_lease =
        Duration::from_millis(raw.operation_lease_millis.unwrap_or(15_000).max(300));
    let max_connections = match raw.max_connections {
        None => DEFAULT_MAX_CONNECTIONS,
        Some(n) => match usize::try_from(n) {
            Ok(n) if n > 0 => n,
            _ => {
                problem(
                    problems,
                    "broker.max_connections",
                    format!("is {n}: set a positive number of concurrent client connections (default {DEFAULT_MAX_CONNECTIONS}), or leave the key out"),
                );
                ok = false;
                0
            }
        },
    };
    let http_workers = bounded_count(
        problems,
        "broker.http_workers",
        raw.http_workers,
        default_http_workers(),
        MAX_HTTP_WORKERS,
        "the number of HTTP worker threads",
    );
    let blocking_threads = bounded_count(
        problems,
        "broker.blocking_threads",
        raw.blocking_threads,
        DEFAULT_BLOCKING_THREADS,
        MAX_BLOCKING_THREADS,
        "the most threads per event loop for database calls",
    );
    ok &= http_workers.is_some() && blocking_threads.is_some();
    let tls = match &raw.tls {
        None => None,
        Some(t) if t.cert_file.is_empty() && t.key_file.is_empty() => None,
        Some(t) if t.cert_file.is_empty() || t.key_file.is_empty() => {
            problem(
                problems,
                "broker.tls",
                "set both cert_file and key_file (PEM files), or neither",
            );
            ok = false;
            None
        }
        Some(t) => {
            let files = TlsFiles {
                cert_file: resolve(base_dir, &t.cert_file),
                key_file: resolve(base_dir, &t.key_file),
            };
            for (key, path) in [
                ("broker.tls.cert_file", &files.cert_file),
                ("broker.tls.key_file", &files.key_file),
            ] {
                if let Err(e) = std::fs::metadata(path) {
                    problem(problems, key, format!("cannot read '{}': {e}", path.display()));
                    ok = false;
                }
            }
            Some(files)
        }
    };

    ok.then(|| BrokerSettings {
        host: raw.host.clone().unwrap_or_else(|| "0.0.0.0".to_string()),
        port,
        username,
        password,
        default_credentials,
        disable_bosh_configs: raw.disable_bosh_configs,
        expose_operational_errors: raw.expose_operational_errors,
        enable_plan_schemas: raw.enable_plan_schemas,
        skip_check_for_pending_changes: raw.skip_check_for_pending_changes,
        support_backup_agent_binding: raw.support_backup_agent_binding,
        enable_secure_manifests: raw.enable_secure_manifests.unwrap_or(false),
        shutdown_timeout: Duration::from_secs(raw.shutdown_timeout_in_seconds.unwrap_or(30)),
        worker_interval,
        operation_lease,
        readiness_interval,
        max_connections,
        http_workers: http_workers.unwrap_or(1),
        blocking_threads: blocking_threads.unwrap_or(1),
        tls,
    })
}

/// `broker.enable_secure_manifests` needs the stdin protocol (secrets never go on argv) and a
/// config server to keep the secrets in: the director's CredHub (`bosh_credhub`) with a BOSH
/// director, the simulated director's own store with `simulated_director`. Each combination
/// that cannot work is explained.
fn check_secure_manifests(
    raw: &RawConfig, adapter: Option<&AdapterSettings>, problems: &mut Vec<ConfigProblem>,
    warnings: &mut Vec<String>,
) {
    let credhub_set = raw.bosh_credhub.as_ref().is_some_and(|c| *c != RawBoshCredhub::default());
    if raw.broker.enable_secure_manifests != Some(true) {
        if credhub_set {
            warnings.push("bosh_credhub is set but broker.enable_secure_manifests is not true: the broker does not use the director's CredHub (set enable_secure_manifests: true to keep ODB-managed secrets there and hand deployed secrets to the adapter)".to_string());
        }
        return;
    }
    if adapter.is_some_and(|a| !a.use_stdin) {
        problem(
            problems,
            "broker.enable_secure_manifests",
            "needs the stdin protocol: set service_adapter.use_stdin: true (in legacy argv mode the adapter cannot be given secrets)",
        );
    }
    match (raw.bosh.is_some(), credhub_set) {
        (true, false) => problem(
            problems,
            "broker.enable_secure_manifests",
            "with a BOSH director needs the director's CredHub: configure bosh_credhub (url, root_ca_cert, authentication.uaa.client_credentials), or set it to false (ODB-managed secrets are then deployed as ((odb_secret:...)) placeholders and the adapter gets no secrets, as from the Go broker without secure manifests)",
        ),
        (false, true) => problem(
            problems,
            "bosh_credhub",
            "is the director's CredHub, but the broker deploys to simulated_director, which keeps secure-manifest secrets itself: remove bosh_credhub, or configure bosh: for the director that CredHub belongs to",
        ),
        _ => {}
    }
}

/// `<key>` trimmed, or a problem naming `<section>.<key>` when empty.
fn required(
    problems: &mut Vec<ConfigProblem>, key: String, value: &str, what: &str,
) -> Option<String> {
    let v = value.trim();
    if v.is_empty() {
        problem(problems, key, format!("can't be empty: {what}"));
        None
    } else {
        Some(v.to_string())
    }
}

/// A CredHub URL: https (or http), without a trailing slash.
fn credhub_url(problems: &mut Vec<ConfigProblem>, key: &str, value: &str) -> Option<String> {
    let url =
        required(problems, key.to_string(), value, "give CredHub's address, https://<host>:8844")?
            .trim_end_matches('/')
            .to_string();
    let parsed = reqwest::Url::parse(&url);
    match parsed {
        Ok(u) if matches!(u.scheme(), "https" | "http") && u.host().is_some() => Some(url),
        _ => {
            problem(
                problems,
                key,
                format!("'{url}' is not a URL: write CredHub's address as https://<host>:8844"),
            );
            None
        }
    }
}

/// PEM CA certificates at `key`, if set; a problem when they do not parse.
fn ca_pem(problems: &mut Vec<ConfigProblem>, key: &str, value: Option<&str>) -> Option<String> {
    let pem = value.map(str::trim).filter(|p| !p.is_empty())?;
    if let Err(why) = crate::tls::ca_certificates(pem) {
        problem(
            problems,
            key,
            format!("is not a PEM certificate ({why}): paste the CA certificate, from -----BEGIN CERTIFICATE----- to -----END CERTIFICATE-----"),
        );
        return None;
    }
    Some(pem.to_string())
}

/// The UAA client a CredHub section names: the prefix of its keys (`<prefix>client_id`,
/// `<prefix>client_secret`), the id with what it is for, and the secret.
struct UaaClientKeys<'a> {
    prefix: String,
    id: (&'a str, &'a str),
    secret: &'a str,
}

/// Validates what every CredHub section holds, each value with the key it is written under:
/// the URL, the CA certificates, and the UAA client (or, when the section does not name one,
/// the key and message of that problem). `None` when anything has a problem.
fn credhub_settings(
    problems: &mut Vec<ConfigProblem>, section: &'static str, (url_key, url): (&str, &str),
    ca_certs: &[(&str, Option<&str>)], client: Result<UaaClientKeys<'_>, (&str, &str)>,
    credentials_key: &'static str,
) -> Option<CredhubSettings> {
    let before = problems.len();
    let url = credhub_url(problems, url_key, url);
    let ca_certs: Vec<String> =
        ca_certs.iter().filter_map(|(key, pem)| ca_pem(problems, key, *pem)).collect();
    let client = match client {
        Ok(client) => client,
        Err((key, message)) => {
            problem(problems, key, message);
            return None;
        }
    };
    let (id_value, id_hint) = client.id;
    let client_id = required(problems, format!("{}client_id", client.prefix), id_value, id_hint);
    let client_secret = required(
        problems,
        format!("{}client_secret", client.prefix),
        client.secret,
        "give the UAA client secret (or ${ENV_VAR})",
    );
    if problems.len() > before {
        return None;
    }
    Some(CredhubSettings {
        section,
        url: url?,
        ca_certs,
        client_id: client_id?,
        client_secret: client_secret?,
        credentials_key,
    })
}

/// Validates `bosh_credhub:` (the Go broker's keys), each problem naming its key.
fn validate_bosh_credhub(
    raw: &RawBoshCredhub, problems: &mut Vec<ConfigProblem>,
) -> Option<CredhubSettings> {
    let key = "bosh_credhub.authentication.uaa.client_credentials";
    let client = raw
        .authentication
        .as_ref()
        .and_then(|a| a.uaa.as_ref())
        .map(|uaa| UaaClientKeys {
            prefix: format!("{key}."),
            id: (&uaa.client_credentials.client_id, "give the UAA client id"),
            secret: &uaa.client_credentials.client_secret,
        })
        .ok_or((key, "is missing: give the UAA client (client_id, client_secret) the broker reads and writes the director's CredHub with"));
    credhub_settings(
        problems,
        "bosh_credhub",
        ("bosh_credhub.url", &raw.url),
        &[("bosh_credhub.root_ca_cert", raw.root_ca_cert.as_deref())],
        client,
        key,
    )
}

/// Validates `credhub:` (the Go broker's keys), each problem naming its key.
fn validate_runtime_credhub(
    raw: &RawRuntimeCredhub, problems: &mut Vec<ConfigProblem>,
) -> Option<CredhubSettings> {
    let client = UaaClientKeys {
        prefix: "credhub.".to_string(),
        id: (&raw.client_id, "give the UAA client id the broker writes binding credentials with"),
        secret: &raw.client_secret,
    };
    credhub_settings(
        problems,
        "credhub",
        ("credhub.api_url", &raw.api_url),
        &[
            ("credhub.ca_cert", raw.ca_cert.as_deref()),
            ("credhub.internal_uaa_ca_cert", raw.internal_uaa_ca_cert.as_deref()),
        ],
        Ok(client),
        "credhub.client_id and credhub.client_secret",
    )
}

fn validate_logging(
    raw: &RawLogging, problems: &mut Vec<ConfigProblem>,
) -> Option<LoggingSettings> {
    let format = match raw.format.as_deref() {
        None | Some("text") => LogFormat::Text,
        Some("json") => LogFormat::Json,
        Some(other) => {
            problem(
                problems,
                "logging.format",
                format!("'{other}' is not a log format: use text or json"),
            );
            return None;
        }
    };
    Some(LoggingSettings { format })
}

fn validate_adapter(
    raw: &RawServiceAdapter, broker_use_stdin: Option<bool>, base_dir: &Path,
    problems: &mut Vec<ConfigProblem>, warnings: &mut Vec<String>,
) -> Option<AdapterSettings> {
    let command = match (raw.path.as_deref().filter(|p| !p.is_empty()), raw.builtin.as_deref()) {
        (Some(_), Some(_)) => {
            problem(problems, "service_adapter", "set either path or builtin, not both");
            None
        }
        (None, Some("example")) => Some(AdapterCommand::BuiltinExample),
        (None, Some(other)) => {
            problem(
                problems,
                "service_adapter.builtin",
                format!("'{other}' is not a built-in adapter: the only one is 'example'"),
            );
            None
        }
        (None, None) => {
            problem(problems, "service_adapter.path", "checking for executable service adapter file: path is empty; set it to the adapter executable");
            None
        }
        (Some(p), None) => {
            let path = resolve(base_dir, p);
            match check_executable(&path) {
                Ok(()) => Some(AdapterCommand::Executable(path)),
                Err(msg) => {
                    problem(
                        problems,
                        "service_adapter.path",
                        format!("checking for executable service adapter file: {msg}"),
                    );
                    None
                }
            }
        }
    };
    let timeout_seconds = raw.timeout_seconds.unwrap_or(DEFAULT_ADAPTER_TIMEOUT_SECONDS);
    if !(timeout_seconds.is_finite() && timeout_seconds > 0.0) {
        problem(
            problems,
            "service_adapter.timeout_seconds",
            "must be a positive number of seconds",
        );
        return None;
    }
    let max_output_bytes = raw.max_output_bytes.unwrap_or(DEFAULT_MAX_OUTPUT_BYTES);
    if max_output_bytes < 1024 {
        problem(problems, "service_adapter.max_output_bytes", "must be at least 1024 bytes");
        return None;
    }
    if let (Some(a), Some(b)) = (raw.use_stdin, broker_use_stdin) {
        if a != b {
            problem(
                problems,
                "service_adapter.use_stdin",
                "disagrees with broker.use_stdin: set only one of them",
            );
            return None;
        }
    }
    let use_stdin = raw.use_stdin.or(broker_use_stdin).unwrap_or(true);
    if !check_argv_exposure(raw, broker_use_stdin, use_stdin, problems, warnings) {
        return None;
    }
    Some(AdapterSettings {
        command: command?,
        timeout: Duration::from_secs_f64(timeout_seconds),
        max_output_bytes,
        use_stdin,
    })
}

/// Legacy argv mode (`use_stdin: false`) hands the adapter the deployed manifest, binding
/// documents and request parameters as command-line arguments, which every local user can
/// read with `ps`. The Go broker does so silently; this broker refuses unless the operator
/// accepts the exposure with `service_adapter.allow_secrets_on_argv: true`, and then warns.
/// Returns false when the config is refused.
fn check_argv_exposure(
    raw: &RawServiceAdapter, broker_use_stdin: Option<bool>, use_stdin: bool,
    problems: &mut Vec<ConfigProblem>, warnings: &mut Vec<String>,
) -> bool {
    let allowed = raw.allow_secrets_on_argv == Some(true);
    if use_stdin {
        if allowed {
            warnings.push(
                "config key service_adapter.allow_secrets_on_argv has no effect: the adapter gets its input on stdin (use_stdin is true)".to_string(),
            );
        }
        return true;
    }
    let key = if raw.use_stdin == Some(false) || broker_use_stdin != Some(false) {
        "service_adapter.use_stdin"
    } else {
        "broker.use_stdin"
    };
    if allowed {
        warnings.push(format!(
            "{key} is false: the service adapter runs in legacy argv mode and gets deployed manifests and binding documents, which hold credentials, as command-line arguments that every local user can read with `ps` (accepted with service_adapter.allow_secrets_on_argv: true; set {key}: true to keep them off the command line)"
        ));
        return true;
    }
    problem(
        problems,
        key,
        "is false, which selects the legacy argv adapter protocol: deployed manifests and binding documents hold credentials and would be passed on the adapter's command line, readable by every local user with `ps`. Set use_stdin: true (adapters built with the Go service-adapter SDK support it), or accept the exposure with service_adapter.allow_secrets_on_argv: true",
    );
    false
}

fn check_executable(path: &Path) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt;
    let meta = std::fs::metadata(path).map_err(|e| format!("'{}': {e}", path.display()))?;
    if meta.is_dir() {
        return Err(format!("'{}' is a directory", path.display()));
    }
    if meta.permissions().mode() & 0o500 != 0o500 {
        return Err(format!("'{}' is not executable (chmod u+rx it)", path.display()));
    }
    Ok(())
}

fn validate_service_deployment(sd: &ServiceDeploymentConfig, problems: &mut Vec<ConfigProblem>) {
    check_list(
        problems,
        "service_deployment.releases",
        &sd.releases,
        "is empty: list the BOSH releases (name, version, jobs) the adapter deploys",
        |r| {
            [
                ("name", r.name.is_empty(), "can't be empty"),
                (
                    "version",
                    r.version.is_empty(),
                    "can't be empty: give the exact release version",
                ),
                ("version", r.version.ends_with("latest"), "You must configure the exact release and stemcell versions in broker.service_deployment. ODB requires exact versions to detect pending changes as part of the 'cf update-service' workflow. For example, latest and 3112.latest are not supported."),
                (
                    "jobs",
                    r.jobs.is_empty(),
                    "is empty: list the jobs this release provides to the adapter",
                ),
            ]
        },
    );
    let stemcells: Vec<&StemcellConfig> = sd.stemcells.iter().chain(sd.stemcell.iter()).collect();
    check_list(
        problems,
        "service_deployment.stemcells",
        &stemcells,
        "is empty: give at least one stemcell (os, version)",
        |s| {
            [
                ("os", s.os.is_empty(), "can't be empty"),
                (
                    "version",
                    s.version.is_empty() || s.version.ends_with("latest"),
                    "must be an exact stemcell version (not empty, not latest)",
                ),
            ]
        },
    );
}

fn validate_catalog(c: &ServiceCatalog, problems: &mut Vec<ConfigProblem>) {
    for (key, value) in
        [("service_name", &c.service_name), ("service_description", &c.service_description)]
    {
        if value.is_empty() {
            problem(problems, format!("service_catalog.{key}"), "can't be empty");
        }
    }
    if c.plans.is_empty() {
        problem(problems, "service_catalog.plans", "is empty: configure at least one plan");
    }
    for (i, r) in c.requires.iter().enumerate() {
        if !["syslog_drain", "route_forwarding", "volume_mount"].contains(&r.as_str()) {
            problem(
                problems,
                format!("service_catalog.requires[{i}]"),
                format!("'{r}' is not one of syslog_drain, route_forwarding, volume_mount"),
            );
        }
    }
    if let Some(mi) = &c.maintenance_info {
        validate_maintenance_info(mi, "service_catalog.maintenance_info", problems);
    }
    let mut ids = BTreeSet::new();
    let mut names = BTreeSet::new();
    for (i, plan) in c.plans.iter().enumerate() {
        let key = format!("service_catalog.plans[{i}]");
        check_fields(
            problems,
            &key,
            &[
                ("name", plan.name.is_empty(), "can't be empty"),
                ("description", plan.description.is_empty(), "can't be empty"),
            ],
        );
        for (field, value, seen, what) in [
            ("plan_id", plan.plan_id.as_str(), &mut ids, "ids"),
            ("name", plan.name.as_str(), &mut names, "names"),
        ] {
            if !value.is_empty() && !seen.insert(value) {
                problem(
                    problems,
                    format!("{key}.{field}"),
                    format!("'{value}' is used by two plans: plan {what} must be unique"),
                );
            }
        }
        check_list(
            problems,
            &format!("{key}.instance_groups"),
            &plan.instance_groups,
            "is empty: a plan needs at least one instance group",
            |ig| {
                [
                    ("name", ig.name.is_empty(), "can't be empty"),
                    ("vm_type", ig.vm_type.is_empty(), "can't be empty"),
                    ("instances", ig.instances < 1, "must be at least 1"),
                    ("networks", ig.networks.is_empty(), "is empty: give at least one network"),
                    ("azs", ig.azs.is_empty(), "is empty: give at least one availability zone"),
                ]
            },
        );
        if let Some(errands) = &plan.lifecycle_errands {
            for (kind, list) in
                [("post_deploy", &errands.post_deploy), ("pre_delete", &errands.pre_delete)]
            {
                for (j, errand) in list.iter().enumerate() {
                    let ekey = format!("{key}.lifecycle_errands.{kind}[{j}]");
                    if errand.name.is_empty() {
                        problem(problems, format!("{ekey}.name"), "can't be empty");
                    }
                    for inst in &errand.instances {
                        let parts: Vec<&str> = inst.split('/').collect();
                        if parts.len() > 2 || parts.iter().any(|p| p.is_empty()) {
                            problem(problems, format!("{ekey}.instances"), format!("Must specify pool or instance '{inst}' in format 'name' or 'name/id-or-index'"));
                        }
                    }
                }
            }
        }
        if let Some(mi) = &plan.maintenance_info {
            validate_maintenance_info(mi, &format!("{key}.maintenance_info"), problems);
        }
    }
}

fn validate_maintenance_info(
    mi: &MaintenanceInfoConfig, key: &str, problems: &mut Vec<ConfigProblem>,
) {
    if !mi.version.is_empty() && !is_semver(&mi.version) {
        problem(
            problems,
            format!("{key}.version"),
            format!("'{}' is not a semantic version (e.g. 1.2.3)", mi.version),
        );
    }
}

fn is_semver(v: &str) -> bool {
    let core = v.split(['-', '+']).next().unwrap_or("");
    let parts: Vec<&str> = core.split('.').collect();
    parts.len() == 3 && parts.iter().all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()))
}

fn validate_director(
    raw: &RawConfig, problems: &mut Vec<ConfigProblem>,
) -> Option<DirectorSettings> {
    match (&raw.bosh, &raw.simulated_director) {
        (Some(_), Some(_)) => {
            problem(problems, "bosh", "both bosh and simulated_director are set: keep exactly one");
            None
        }
        (None, None) => {
            problem(problems, "simulated_director", "no director configured: add bosh: {url, authentication} for a real director, or simulated_director: {task_seconds: 0}");
            None
        }
        (None, Some(sim)) => {
            if !(sim.task_seconds.is_finite() && sim.task_seconds >= 0.0) {
                problem(
                    problems,
                    "simulated_director.task_seconds",
                    "must be a number of seconds, 0 or more",
                );
                return None;
            }
            Some(DirectorSettings::Simulated {
                task_duration: Duration::from_secs_f64(sim.task_seconds),
            })
        }
        (Some(bosh), None) => validate_bosh(bosh, problems).map(DirectorSettings::Bosh),
    }
}

/// Validates `bosh:` with the Go broker's messages, each naming the offending key.
fn validate_bosh(bosh: &BoshConfig, problems: &mut Vec<ConfigProblem>) -> Option<BoshSettings> {
    let before = problems.len();
    let mut bosh_problem = |key: &str, message: &str| {
        problem(problems, format!("bosh.{key}"), format!("BOSH configuration error: {message}"))
    };
    let url = bosh.url.trim().trim_end_matches('/').to_string();
    if url.is_empty() {
        bosh_problem("url", "must specify bosh url");
    } else if !(url.starts_with("https://") || url.starts_with("http://")) {
        bosh_problem(
            "url",
            &format!("'{url}' is not a URL: write the director's address as https://<host>:25555"),
        );
    }
    let root_ca_cert = bosh
        .root_ca_cert
        .as_deref()
        .map(str::trim)
        .filter(|pem| !pem.is_empty())
        .map(str::to_string);
    if let Some(pem) = &root_ca_cert {
        if let Err(why) = crate::tls::ca_certificates(pem) {
            bosh_problem(
                "root_ca_cert",
                &format!("is not a PEM certificate ({why}): paste the director's CA certificate, from -----BEGIN CERTIFICATE----- to -----END CERTIFICATE-----"),
            );
        }
    }
    let auth = bosh.authentication.clone().unwrap_or_default();
    let auth = match (auth.basic, auth.uaa) {
        (None, None) => {
            bosh_problem("authentication", "must specify an authentication type");
            None
        }
        (Some(_), Some(_)) => {
            bosh_problem("authentication", "cannot specify both basic and UAA authentication");
            None
        }
        (Some(basic), None) => {
            Some(BoshAuth::Basic { username: basic.username, password: basic.password })
        }
        (None, Some(uaa)) => Some(BoshAuth::Uaa {
            client_id: uaa.client_credentials.client_id,
            client_secret: uaa.client_credentials.client_secret,
        }),
    };
    let credentials = match &auth {
        None => vec![],
        Some(BoshAuth::Basic { username, password }) => vec![
            ("authentication.basic.username", username),
            ("authentication.basic.password", password),
        ],
        Some(BoshAuth::Uaa { client_id, client_secret }) => vec![
            ("authentication.uaa.client_credentials.client_id", client_id),
            ("authentication.uaa.client_credentials.client_secret", client_secret),
        ],
    };
    for (key, value) in credentials {
        if value.is_empty() {
            bosh_problem(key, &format!("{key} can't be empty"));
        }
    }
    if problems.len() > before {
        return None;
    }
    Some(BoshSettings { url, root_ca_cert, auth: auth? })
}

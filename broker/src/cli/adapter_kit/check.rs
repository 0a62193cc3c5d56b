//! `adapter check`: one fake instance per plan, driven through the calls the broker makes in
//! an instance's life, with every result held against the contract's rules.
//!
//! The calls, in order (each with the envelope the broker would send, see [`super::envelope`]):
//! 1. generate-manifest for a provision (no previous plan, manifest, secrets or configs);
//! 2. dashboard-url with the manifest as the broker deploys it (ODB secrets replaced);
//! 3. generate-manifest for the pending-changes regeneration (same plan as previous plan, the
//!    deployed manifest, `{}` request parameters, the stored secrets and configs);
//! 4. generate-manifest again, given the manifest of step 3 as the deployed one (a fixed point);
//! 5. generate-manifest for an update on the same plan, then 6. for an upgrade (`{"context"}`);
//! 7. create-binding for an app (with `app_guid`) and 8. for a service key (without);
//! 9. delete-binding of both, and 10. of a binding id that was never created;
//! 11. generate-plan-schemas.
//!
//! A call that fails leaves the rules that need its result skipped, with the reason.
//! Evidence names the call and never holds a secret value: every known secret (ODB-managed
//! secrets, secret-looking credentials) is masked in it.

use super::envelope::{fake_vms, is_secret_key, FakeInstance, Request};
use super::manifest::{self, as_previous_secrets, deployed_form, odb_references};
use super::report::{CallSummary, InputMode, PlanReport, Report, Rule, RuleOutcome, Status};
use super::run::{CallRecord, Program};
use super::{
    find_plan, load_config, parse_params, runtime, CheckArgs, KitError, EXIT_RULES_FAILED,
};
use crate::adapter::redact::Redactor;
use crate::adapter::{BindingRequest, GenerateManifestRequest};
use crate::config::{Config, PlanConfig};
use crate::engine::plans;
use crate::schemas::PlanSchemas;
use serde_json::Value;
use service_adapter::{
    Binding, DashboardUrl, MarshalledGenerateManifest, OdbManagedSecrets, Plan, PlanSchema,
};
use std::collections::{BTreeMap, BTreeSet};
use std::process::ExitCode;

/// `adapter check`.
pub fn run(args: &CheckArgs) -> Result<ExitCode, KitError> {
    let loaded = load_config(&args.config)?;
    let config = &loaded.config;
    let selected: Vec<&PlanConfig> = if args.plans.is_empty() {
        config.catalog.plans.iter().collect()
    } else {
        args.plans.iter().map(|name| find_plan(config, name)).collect::<Result<_, _>>()?
    };
    if selected.is_empty() {
        return Err(KitError::NoPlans);
    }
    let params = parse_params(args.params.as_deref())?;
    let program = Program::new(&config.adapter).map_err(KitError::Setup)?;
    let rt = runtime()?;
    let plans = selected
        .into_iter()
        .map(|plan| rt.block_on(PlanCheck::new(config, plan, &program, &params).run()))
        .collect();
    let report = Report::new(
        args.config.display().to_string(),
        program.describe(),
        if program.use_stdin() { InputMode::Stdin } else { InputMode::Argv },
        plans,
    );
    use std::io::Write as _;
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(report.render(args.format).as_bytes())?;
    stdout.flush()?;
    Ok(if report.ok { ExitCode::SUCCESS } else { ExitCode::from(EXIT_RULES_FAILED) })
}

/// What is known about one rule so far.
#[derive(Debug, Default)]
struct RuleState {
    checked: bool,
    failures: Vec<String>,
    notes: Vec<String>,
    skipped: Vec<String>,
}

/// A generate-manifest result, decoded, and as the broker would deploy it.
#[derive(Debug, Clone)]
struct Generated {
    manifest: String,
    configs: Option<BTreeMap<String, String>>,
    deployed: String,
    stored: BTreeMap<String, String>,
    /// Stand-ins for the BOSH variables the manifest declares, by reference.
    variables: BTreeMap<String, String>,
}

impl Generated {
    /// What the broker hands back as `secrets` / `previous_secrets` for this deployment:
    /// the stored ODB-managed secrets and the declared variables; `None` when there are none.
    fn secrets(&self) -> Option<BTreeMap<String, String>> {
        let mut all = as_previous_secrets(&self.stored).unwrap_or_default();
        all.extend(self.variables.clone());
        Some(all).filter(|m| !m.is_empty())
    }
}

/// A credential or secret value the adapter must not log, with what it is.
#[derive(Debug, Clone)]
struct KnownSecret {
    what: String,
    value: String,
}

/// Shortest value treated as a secret (as the broker's log redaction).
const MIN_SECRET_LEN: usize = 6;

struct PlanCheck<'a> {
    config: &'a Config,
    plan_cfg: &'a PlanConfig,
    plan: Plan,
    program: &'a Program,
    params: &'a Value,
    instance: FakeInstance,
    calls: Vec<(String, CallRecord)>,
    rules: BTreeMap<Rule, RuleState>,
    secrets: Vec<KnownSecret>,
    yaml_seen: BTreeSet<(String, String)>,
}

fn excerpt(text: &str, max: usize) -> String {
    let one_line: String =
        text.trim().chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
    if one_line.chars().count() > max {
        format!("{}...", one_line.chars().take(max).collect::<String>())
    } else {
        one_line
    }
}

fn last_lines(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    lines[lines.len().saturating_sub(n)..].join(" | ")
}

fn exit_meaning(code: i32) -> &'static str {
    match code {
        0 => "success",
        1 => "a failure",
        2 => "a crash (a Go panic exits 2)",
        10 => "not implemented",
        41 => "binding not found",
        42 => "app GUID not provided",
        49 => "binding already exists",
        126 => "not executable",
        127 => "command or interpreter not found",
        _ => "not a code of the contract",
    }
}

/// The JSON document on stdout; when stdout has other lines too, the one line that is the
/// document and how many others there are.
fn json_document(stdout: &str) -> Result<(Value, Vec<String>), String> {
    match serde_json::from_str::<Value>(stdout) {
        Ok(v) => Ok((v, vec![])),
        Err(e) => {
            let lines: Vec<&str> = stdout.lines().filter(|l| !l.trim().is_empty()).collect();
            for (i, line) in lines.iter().enumerate() {
                if let Ok(v @ Value::Object(_)) = serde_json::from_str::<Value>(line) {
                    let others = lines
                        .iter()
                        .enumerate()
                        .filter(|(j, _)| *j != i)
                        .map(|(_, l)| l.to_string())
                        .collect();
                    return Ok((v, others));
                }
            }
            Err(e.to_string())
        }
    }
}

/// The text of a YAML version value, whatever its type.
fn version_text(v: &serde_yaml::Value) -> String {
    match v {
        serde_yaml::Value::String(s) => s.clone(),
        serde_yaml::Value::Null => String::new(),
        other => serde_yaml::to_string(other).unwrap_or_default().trim().to_string(),
    }
}

fn yaml_str(v: &serde_yaml::Value) -> String {
    version_text(v)
}

/// Whether `max_in_flight` is a count of at least 1 or a percentage from 1% to 100%.
fn valid_max_in_flight(v: &serde_yaml::Value) -> Result<(), String> {
    match v {
        serde_yaml::Value::Number(n) if n.as_i64().is_some_and(|i| i >= 1) => Ok(()),
        serde_yaml::Value::String(s) => {
            let digits = s.strip_suffix('%').unwrap_or("");
            match digits.parse::<u32>() {
                Ok(p) if (1..=100).contains(&p) && digits.bytes().all(|b| b.is_ascii_digit()) => {
                    Ok(())
                }
                _ => Err(format!(
                    "max_in_flight '{s}' is neither a whole number of at least 1 nor a percentage like \"25%\""
                )),
            }
        }
        serde_yaml::Value::Null => Err("max_in_flight is missing".to_string()),
        other => Err(format!(
            "max_in_flight {} is neither a whole number of at least 1 nor a percentage like \"25%\"",
            version_text(other)
        )),
    }
}

fn check_update_block(u: &serde_yaml::Value, at: &str) -> Vec<String> {
    let mut problems = Vec::new();
    if !u.is_mapping() {
        return vec![format!("{at} is not a mapping")];
    }
    if let Err(e) = valid_max_in_flight(&u["max_in_flight"]) {
        problems.push(format!("{at}: {e}"));
    }
    if u["canaries"].as_i64().is_none_or(|c| c < 0) {
        problems.push(format!("{at}: canaries must be a whole number (0 or more)"));
    }
    for key in ["canary_watch_time", "update_watch_time"] {
        if u[key].is_null() {
            problems.push(format!("{at}: {key} is missing (e.g. \"30000-240000\")"));
        }
    }
    problems
}

/// String leaves of a JSON value, with their key paths.
fn leaves(value: &Value, path: &str, out: &mut Vec<(String, String)>) {
    match value {
        Value::String(s) => out.push((path.to_string(), s.clone())),
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                leaves(v, &format!("{path}[{i}]"), out);
            }
        }
        Value::Object(map) => {
            for (k, v) in map {
                leaves(v, &format!("{path}.{k}"), out);
            }
        }
        _ => {}
    }
}

/// The password inside a URI's user info (`scheme://user:password@host`).
fn uri_password(value: &str) -> Option<&str> {
    let rest = value.split_once("://")?.1;
    let userinfo = rest.split_once('@')?.0;
    if userinfo.contains('/') {
        return None;
    }
    userinfo.split_once(':').map(|(_, p)| p).filter(|p| !p.is_empty())
}

impl<'a> PlanCheck<'a> {
    fn new(
        config: &'a Config, plan_cfg: &'a PlanConfig, program: &'a Program, params: &'a Value,
    ) -> Self {
        Self {
            config,
            plan_cfg,
            plan: plans::adapter_plan(config, plan_cfg),
            program,
            params,
            instance: FakeInstance::new(&config.catalog.id),
            calls: vec![],
            rules: BTreeMap::new(),
            secrets: vec![],
            yaml_seen: BTreeSet::new(),
        }
    }

    fn state(&mut self, rule: Rule) -> &mut RuleState {
        self.rules.entry(rule).or_default()
    }

    fn pass(&mut self, rule: Rule, note: impl Into<String>) {
        let s = self.state(rule);
        s.checked = true;
        let note = note.into();
        if !note.is_empty() {
            s.notes.push(note);
        }
    }

    fn fail(&mut self, rule: Rule, evidence: impl Into<String>) {
        let s = self.state(rule);
        s.checked = true;
        s.failures.push(evidence.into());
    }

    /// Passes `rule` when there is no `failure`, else fails it with the failure's evidence.
    fn judge(&mut self, rule: Rule, failure: Option<String>) {
        match failure {
            None => self.pass(rule, ""),
            Some(evidence) => self.fail(rule, evidence),
        }
    }

    /// Passes `rule` when `problems` is empty, else fails it with them, for `label`.
    fn verdict(&mut self, rule: Rule, label: &str, problems: &[String]) {
        let failure = (!problems.is_empty()).then(|| format!("{label}: {}", problems.join("; ")));
        self.judge(rule, failure);
    }

    fn skip(&mut self, rule: Rule, reason: impl Into<String>) {
        self.state(rule).skipped.push(reason.into());
    }

    fn remember_secret(&mut self, what: String, value: &str) {
        if value.len() >= MIN_SECRET_LEN && !self.secrets.iter().any(|s| s.value == value) {
            self.secrets.push(KnownSecret { what, value: value.to_string() });
        }
    }

    fn label(subcommand: &str, role: &str) -> String {
        format!("{subcommand} ({role})")
    }

    /// Runs one call; records its time and whether its exit code is one of `allowed`.
    async fn call(&mut self, role: &str, request: &Request, allowed: &[i32]) -> CallRecord {
        let label = Self::label(request.subcommand(), role);
        for value in request.secret_values() {
            self.remember_secret("a secret the broker passed in".to_string(), &value);
        }
        let record = match request.envelope() {
            Ok(envelope) => self.program.run(&envelope).await,
            Err(e) => CallRecord::not_started(
                request.subcommand(),
                Default::default(),
                format!("cannot encode the input: {e}"),
            ),
        };
        self.calls.push((role.to_string(), record.clone()));
        if record.timed_out {
            self.fail(
                Rule::CallTime,
                format!(
                    "{label}: killed after {:.1} s (service_adapter.timeout_seconds); the broker would fail the operation",
                    self.program.settings.timeout.as_secs_f64()
                ),
            );
        } else {
            self.pass(Rule::CallTime, "");
        }
        let stdout_excerpt = excerpt(&record.stdout_text(), 200);
        let stderr_excerpt = excerpt(&last_lines(&record.stderr_text(), 3), 300);
        let mut context = String::new();
        if !stdout_excerpt.is_empty() {
            context.push_str(&format!("; stdout: '{stdout_excerpt}'"));
        }
        if !stderr_excerpt.is_empty() {
            context.push_str(&format!("; stderr: '{stderr_excerpt}'"));
        }
        let expected = allowed.iter().map(|c| c.to_string()).collect::<Vec<_>>().join(" or ");
        match (&record.spawn_error, record.outcome.exit_code) {
            (Some(e), _) => self.fail(Rule::ExitCodes, format!("{label}: {e}")),
            (None, _) if record.timed_out => self.fail(
                Rule::ExitCodes,
                format!("{label}: did not exit, killed at the timeout{context}"),
            ),
            (None, Some(code)) if allowed.contains(&code) => self.pass(Rule::ExitCodes, ""),
            (None, Some(code)) => self.fail(
                Rule::ExitCodes,
                format!(
                    "{label}: exit {code} ({}), expected {expected}{context}",
                    exit_meaning(code)
                ),
            ),
            (None, None) => self.fail(
                Rule::ExitCodes,
                format!("{label}: {}, expected exit {expected}{context}", record.status()),
            ),
        }
        if record.outcome.stdout.truncated {
            self.fail(
                Rule::StdoutIsOutput,
                format!(
                    "{label}: stdout passed service_adapter.max_output_bytes ({} bytes): the broker refuses the output",
                    self.program.settings.max_output_bytes
                ),
            );
        }
        record
    }

    /// The JSON result document of a successful call, with the stream-split rule applied.
    fn result_document(&mut self, label: &str, record: &CallRecord) -> Option<Value> {
        let stdout = record.stdout_text();
        if stdout.trim().is_empty() {
            self.fail(
                Rule::OutputShape,
                format!("{label}: stdout is empty, expected the result document"),
            );
            return None;
        }
        match json_document(&stdout) {
            Ok((doc, others)) if others.is_empty() => {
                self.pass(Rule::StdoutIsOutput, "");
                Some(doc)
            }
            Ok((doc, others)) => {
                self.fail(
                    Rule::StdoutIsOutput,
                    format!(
                        "{label}: stdout has {} line(s) besides the result document, such as '{}': the broker cannot decode that; write logs to stderr",
                        others.len(),
                        excerpt(&others[0], 120)
                    ),
                );
                Some(doc)
            }
            Err(e) => {
                self.fail(
                    Rule::OutputShape,
                    format!(
                        "{label}: stdout is not a JSON document ({e}): '{}'",
                        excerpt(&stdout, 120)
                    ),
                );
                None
            }
        }
    }

    /// Decodes a generate-manifest result and applies the manifest rules to it.
    fn generated(&mut self, role: &str, record: &CallRecord) -> Option<Generated> {
        let label = Self::label("generate-manifest", role);
        if record.outcome.exit_code != Some(0) || record.timed_out {
            return None;
        }
        let marshalled = if self.program.use_stdin() {
            let doc = self.result_document(&label, record)?;
            let mut problems = Vec::new();
            match &doc {
                Value::Object(map) => {
                    if !map.get("manifest").is_some_and(Value::is_string) {
                        problems.push("\"manifest\" must be the manifest YAML as a string".to_string());
                    }
                    if !map.get("secrets").is_none_or(|v| v.is_null() || v.is_object()) {
                        problems.push("\"secrets\" must be an object or null".to_string());
                    }
                    for key in ["configs", "labels"] {
                        let ok = map.get(key).is_none_or(|v| {
                            v.is_null() || v.as_object().is_some_and(|m| m.values().all(Value::is_string))
                        });
                        if !ok {
                            problems.push(format!("\"{key}\" must be an object of strings or null"));
                        }
                    }
                    let unknown: Vec<&str> = map
                        .keys()
                        .map(String::as_str)
                        .filter(|k| !["manifest", "secrets", "configs", "labels"].contains(k))
                        .collect();
                    if !unknown.is_empty() {
                        problems.push(format!(
                            "unknown key(s) {} (the broker ignores them)",
                            unknown.join(", ")
                        ));
                    }
                }
                _ => problems.push(
                    "expected {\"manifest\": \"<yaml>\", \"secrets\": {...}|null, \"configs\": {...}|null}".to_string(),
                ),
            }
            let decoded = serde_json::from_value::<MarshalledGenerateManifest>(doc);
            match (&decoded, problems.is_empty()) {
                (Ok(_), true) => self.pass(Rule::OutputShape, ""),
                (Ok(_), false) => {
                    self.fail(Rule::OutputShape, format!("{label}: {}", problems.join("; ")))
                }
                (Err(e), _) => {
                    problems.push(e.to_string());
                    self.fail(Rule::OutputShape, format!("{label}: {}", problems.join("; ")));
                }
            }
            decoded.ok()?
        } else {
            let stdout = record.stdout_text();
            if stdout.trim_start().starts_with("{\"manifest\"") {
                self.fail(
                    Rule::OutputShape,
                    format!("{label}: in legacy argv mode stdout must be the manifest YAML alone, not the stdin-mode JSON"),
                );
            } else {
                self.pass(Rule::OutputShape, "");
                self.pass(Rule::StdoutIsOutput, "");
            }
            MarshalledGenerateManifest { manifest: stdout, ..Default::default() }
        };
        if self.config.broker.disable_bosh_configs
            && marshalled.configs.as_ref().is_some_and(|c| !c.is_empty())
        {
            self.fail(
                Rule::OutputShape,
                format!("{label}: returned BOSH configs, which the broker refuses while broker.disable_bosh_configs is set"),
            );
        }
        for (key, value) in marshalled.secrets.iter().flatten() {
            let text = manifest::secret_text(value);
            self.remember_secret(format!("the ODB-managed secret {key}"), &text);
        }
        self.manifest_rules(&label, &marshalled.manifest, marshalled.secrets.as_ref());
        let (deployed, stored) = deployed_form(
            &marshalled.manifest,
            marshalled.secrets.as_ref(),
            &self.instance.service_id,
            &self.instance.deployment_name,
        );
        Some(Generated {
            variables: manifest::declared_variable_values(&deployed),
            manifest: marshalled.manifest,
            configs: marshalled.configs,
            deployed,
            stored,
        })
    }

    fn manifest_rules(&mut self, label: &str, text: &str, secrets: Option<&OdbManagedSecrets>) {
        let doc = match serde_yaml::from_str::<serde_yaml::Value>(text) {
            Ok(doc) if doc.is_mapping() => doc,
            Ok(_) => {
                self.fail(
                    Rule::ManifestYaml,
                    format!("{label}: the manifest is not a YAML mapping: '{}'", excerpt(text, 80)),
                );
                return;
            }
            Err(e) => {
                self.fail(
                    Rule::ManifestYaml,
                    format!("{label}: the manifest is not valid YAML: {e}"),
                );
                return;
            }
        };
        match service_adapter::bosh::BoshManifest::from_yaml(text) {
            Ok(Some(_)) => self.pass(Rule::ManifestYaml, ""),
            Ok(None) => self.fail(Rule::ManifestYaml, format!("{label}: the manifest is empty")),
            Err(e) => self.fail(
                Rule::ManifestYaml,
                format!("{label}: a BOSH manifest parser (the Go SDK's rules) refuses it: {e}"),
            ),
        }

        let deployment = self.instance.deployment_name.clone();
        let name = yaml_str(&doc["name"]);
        if name == deployment {
            self.pass(Rule::DeploymentName, "");
        } else {
            self.fail(
                Rule::DeploymentName,
                format!("{label}: name is '{name}', expected '{deployment}' (the service_deployment's deployment_name); the broker refuses it"),
            );
        }

        let mut latest = Vec::new();
        for section in ["releases", "stemcells"] {
            for item in doc[section].as_sequence().into_iter().flatten() {
                let version = version_text(&item["version"]);
                if version.ends_with("latest") {
                    latest.push(format!(
                        "{section} {} has version '{version}'",
                        yaml_str(&item["name"]) + &yaml_str(&item["alias"])
                    ));
                }
            }
        }
        let failure = (!latest.is_empty()).then(|| {
            format!(
                "{label}: {}; use the exact versions from service_deployment",
                latest.join(", ")
            )
        });
        self.judge(Rule::ExactVersions, failure);

        let mut problems = Vec::new();
        let configured = &self.config.service_deployment;
        let mut release_names = BTreeSet::new();
        for r in doc["releases"].as_sequence().into_iter().flatten() {
            let (name, version) = (yaml_str(&r["name"]), version_text(&r["version"]));
            release_names.insert(name.clone());
            match configured.releases.iter().find(|c| c.name == name) {
                None => {
                    problems.push(format!("release '{name}' is not in service_deployment.releases"))
                }
                Some(c) if c.version != version => problems.push(format!(
                    "release '{name}' has version '{version}', service_deployment says '{}'",
                    c.version
                )),
                Some(_) => {}
            }
        }
        let mut aliases = BTreeSet::new();
        for s in doc["stemcells"].as_sequence().into_iter().flatten() {
            aliases.insert(yaml_str(&s["alias"]));
            let (os, name, version) =
                (yaml_str(&s["os"]), yaml_str(&s["name"]), version_text(&s["version"]));
            let same_image = |c: &&crate::config::StemcellConfig| {
                (!os.is_empty() && c.os == os) || (!name.is_empty() && c.name == name)
            };
            match configured.stemcells.iter().find(same_image) {
                None => problems.push(format!(
                    "stemcell '{}' is not in service_deployment.stemcells",
                    if os.is_empty() { &name } else { &os }
                )),
                Some(c) if c.version != version => problems.push(format!(
                    "stemcell '{}' has version '{version}', service_deployment says '{}'",
                    c.os, c.version
                )),
                Some(_) => {}
            }
        }
        for (i, g) in doc["instance_groups"].as_sequence().into_iter().flatten().enumerate() {
            let group = yaml_str(&g["name"]);
            let alias = yaml_str(&g["stemcell"]);
            if !aliases.contains(&alias) {
                problems.push(format!(
                    "instance group '{group}' (instance_groups[{i}]) uses stemcell alias '{alias}', which the manifest's stemcells do not define"
                ));
            }
            for j in g["jobs"].as_sequence().into_iter().flatten() {
                let release = yaml_str(&j["release"]);
                if !release_names.contains(&release) {
                    problems.push(format!(
                        "job '{}' of instance group '{group}' comes from release '{release}', which the manifest's releases do not list",
                        yaml_str(&j["name"])
                    ));
                }
            }
        }
        self.verdict(Rule::ReleasesAndStemcells, label, &problems);

        let mut problems = Vec::new();
        let top = &doc["update"];
        if top.is_null() {
            for (i, g) in doc["instance_groups"].as_sequence().into_iter().flatten().enumerate() {
                if g["update"].is_null() {
                    problems.push(format!(
                        "there is no top-level update block and instance group '{}' (instance_groups[{i}]) has none either: BOSH refuses the deploy",
                        yaml_str(&g["name"])
                    ));
                }
            }
        } else {
            problems.extend(check_update_block(top, "update"));
        }
        for (i, g) in doc["instance_groups"].as_sequence().into_iter().flatten().enumerate() {
            if !g["update"].is_null() {
                problems.extend(check_update_block(
                    &g["update"],
                    &format!("instance_groups[{i}].update"),
                ));
            }
        }
        self.verdict(Rule::UpdateBlock, label, &problems);

        match super::yaml11::findings(text) {
            Ok(found) => {
                self.pass(Rule::Yaml11Scalars, "");
                for f in found {
                    if self.yaml_seen.insert((f.path.clone(), f.text.clone())) {
                        self.fail(
                            Rule::Yaml11Scalars,
                            format!("{label}: line {}: {}", f.line, f.message),
                        );
                    }
                }
            }
            Err(e) => self.skip(Rule::Yaml11Scalars, format!("{label}: not valid YAML: {e}")),
        }

        let referenced = odb_references(text);
        let missing: Vec<&String> = referenced
            .iter()
            .filter(|k| !secrets.is_some_and(|s| s.contains_key(k.as_str())))
            .collect();
        if missing.is_empty() {
            self.pass(
                Rule::OdbSecrets,
                format!("{label}: {} ODB-managed secret(s) referenced", referenced.len()),
            );
        } else {
            let hint = if self.program.use_stdin() {
                "return each of them in \"secrets\""
            } else {
                "legacy argv mode has no way to return secrets: use the stdin envelope (use_stdin: true)"
            };
            let refs: Vec<String> = missing.iter().map(|k| format!("((odb_secret:{k}))")).collect();
            self.fail(
                Rule::OdbSecrets,
                format!("{label}: the manifest references {} but the adapter returned no such secret: {hint}", refs.join(", ")),
            );
        }
    }

    fn manifest_request(
        &self, previous: Option<&Generated>, request_params: Value,
        previous_secrets: Option<BTreeMap<String, String>>,
        previous_configs: Option<BTreeMap<String, String>>,
    ) -> Request {
        Request::GenerateManifest(Box::new(GenerateManifestRequest {
            service_deployment: plans::service_deployment(
                self.config,
                &self.instance.deployment_name,
            ),
            plan: self.plan.clone(),
            previous_plan: previous.map(|_| self.plan.clone()),
            previous_manifest: previous.map(|g| g.deployed.clone()),
            request_params,
            previous_secrets,
            previous_configs,
        }))
    }

    /// Update and upgrade must keep every ODB-managed secret the create stored, and its value.
    fn secrets_kept(&mut self, role: &str, created: &Generated, updated: &Generated) {
        let label = Self::label("generate-manifest", role);
        if created.stored.is_empty() {
            self.skip(Rule::SecretsKeptOnUpdate, "the create returned no ODB-managed secrets");
            return;
        }
        let mut problems = Vec::new();
        for (path, value) in &created.stored {
            let key = path.rsplit('/').next().unwrap_or(path);
            match updated.stored.get(path) {
                Some(v) if v == value => {}
                Some(_) => problems.push(format!(
                    "the value of ODB-managed secret {key} changed: apps bound before would hold a stale credential (read the old value from previous_secrets, key '(({path}))')"
                )),
                None if updated.manifest.contains(&format!("(({path}))")) => {}
                None => problems.push(format!(
                    "ODB-managed secret {key} is gone: the manifest no longer references ((odb_secret:{key})) or ((/odb/.../{key}))"
                )),
            }
        }
        if problems.is_empty() {
            self.pass(
                Rule::SecretsKeptOnUpdate,
                format!("{label}: {} secret(s) kept", created.stored.len()),
            );
        } else {
            self.fail(Rule::SecretsKeptOnUpdate, format!("{label}: {}", problems.join("; ")));
        }
    }

    /// Credentials of a successful create-binding: shape checked, secrets remembered.
    fn binding_result(&mut self, role: &str, record: &CallRecord) -> bool {
        let label = Self::label("create-binding", role);
        let Some(doc) = self.result_document(&label, record) else {
            return false;
        };
        let mut problems = Vec::new();
        match doc.get("credentials") {
            None => problems.push("\"credentials\" is missing".to_string()),
            Some(Value::Object(_)) => {}
            Some(Value::Null) => problems
                .push("\"credentials\" is null: the app gets nothing to connect with".to_string()),
            Some(_) => problems.push("\"credentials\" must be an object".to_string()),
        }
        for key in ["syslog_drain_url", "route_service_url", "backup_agent_url"] {
            if doc.get(key).is_some_and(|v| !v.is_string() && !v.is_null()) {
                problems.push(format!("\"{key}\" must be a string"));
            }
        }
        if let Err(e) = serde_json::from_value::<Binding>(doc.clone()) {
            problems.push(e.to_string());
        }
        self.verdict(Rule::OutputShape, &label, &problems);
        let mut found = Vec::new();
        leaves(&doc["credentials"], "credentials", &mut found);
        for (path, value) in found {
            if is_secret_key(path.rsplit('.').next().unwrap_or(&path)) {
                self.remember_secret(format!("{path} from {label}"), &value);
            }
            if let Some(p) = uri_password(&value) {
                self.remember_secret(format!("the password in {path} from {label}"), p);
            }
        }
        true
    }

    /// A successful delete-binding prints nothing.
    fn unbind_result(&mut self, role: &str, record: &CallRecord) {
        if record.outcome.exit_code == Some(0) {
            let stdout = record.stdout_text();
            let failure = (!stdout.trim().is_empty()).then(|| {
                format!(
                    "{}: stdout must be empty on success, got '{}': write logs to stderr",
                    Self::label("delete-binding", role),
                    excerpt(&stdout, 120)
                )
            });
            self.judge(Rule::StdoutIsOutput, failure);
        }
    }

    async fn run(mut self) -> PlanReport {
        let plan_id = self.plan_cfg.plan_id.clone();
        let provision = self.instance.provision_params(&plan_id, self.params);
        let request = self.manifest_request(None, provision, None, None);
        let record = self.call("create", &request, &[0]).await;
        let created = self.generated("create", &record);
        match &created {
            Some(created) => self.after_create(created.clone()).await,
            None => {
                let why = "generate-manifest (create) gave no manifest";
                for rule in Rule::ALL.into_iter().filter(|r| r.needs_created_manifest()) {
                    self.skip(rule, why);
                }
            }
        }
        self.plan_schemas().await;
        self.stderr_rule();
        self.finish()
    }

    async fn after_create(&mut self, created: Generated) {
        let plan_id = self.plan_cfg.plan_id.clone();
        let previous_secrets = created.secrets();
        let previous_configs = Some(created.configs.clone().unwrap_or_default());

        let dashboard = Request::DashboardUrl {
            instance_id: self.instance.instance_id.clone(),
            plan: self.plan.clone(),
            manifest: created.deployed.clone(),
        };
        let record = self.call("dashboard", &dashboard, &[0, 10]).await;
        if record.outcome.exit_code == Some(0) {
            self.dashboard_result(&record);
        }

        let request = self.manifest_request(
            Some(&created),
            FakeInstance::pending_changes_params(),
            previous_secrets.clone(),
            previous_configs.clone(),
        );
        let record = self.call("pending changes", &request, &[0]).await;
        match self.generated("pending changes", &record) {
            Some(regenerated) => {
                if manifest::same_ignoring_update_blocks(&created.deployed, &regenerated.deployed) {
                    self.pass(Rule::PendingChanges, "");
                } else {
                    let at =
                        manifest::first_difference(&created.deployed, &regenerated.deployed, true)
                            .unwrap_or_default();
                    self.fail(
                        Rule::PendingChanges,
                        format!(
                            "generate-manifest (pending changes): differs from the deployed manifest at {at}; the broker would refuse every update of the instance with 'pending changes'"
                        ),
                    );
                }
                let request = self.manifest_request(
                    Some(&regenerated),
                    FakeInstance::pending_changes_params(),
                    regenerated.secrets().or(previous_secrets.clone()),
                    previous_configs.clone(),
                );
                let record = self.call("idempotent", &request, &[0]).await;
                match self.generated("idempotent", &record) {
                    Some(again) => match manifest::first_difference(&regenerated.deployed, &again.deployed, false) {
                        None => self.pass(Rule::Idempotent, ""),
                        Some(at) => self.fail(
                            Rule::Idempotent,
                            format!("generate-manifest (idempotent): given its own manifest as the previous one, it changed {at}"),
                        ),
                    },
                    None => self.skip(Rule::Idempotent, "generate-manifest (idempotent) gave no manifest"),
                }
            }
            None => {
                self.skip(
                    Rule::PendingChanges,
                    "generate-manifest (pending changes) gave no manifest",
                );
                self.skip(Rule::Idempotent, "generate-manifest (pending changes) gave no manifest");
            }
        }

        let update = self.instance.update_params(&plan_id, &plan_id, self.params);
        let upgrade = self.instance.upgrade_params();
        for (role, params) in [("update", update), ("upgrade", upgrade)] {
            let request = self.manifest_request(
                Some(&created),
                params,
                previous_secrets.clone(),
                previous_configs.clone(),
            );
            let record = self.call(role, &request, &[0]).await;
            match self.generated(role, &record) {
                Some(regenerated) => self.secrets_kept(role, &created, &regenerated),
                None => self.skip(
                    Rule::SecretsKeptOnUpdate,
                    format!("generate-manifest ({role}) gave no manifest"),
                ),
            }
        }

        if self.plan_cfg.bindable.unwrap_or(self.config.catalog.bindable) {
            self.bindings(&created, previous_secrets).await;
        } else {
            for rule in [Rule::ServiceKey, Rule::UnbindUnknown] {
                self.skip(rule, "the plan is not bindable");
            }
        }
    }

    fn dashboard_result(&mut self, record: &CallRecord) {
        let label = Self::label("dashboard-url", "dashboard");
        let Some(doc) = self.result_document(&label, record) else {
            return;
        };
        match serde_json::from_value::<DashboardUrl>(doc.clone()) {
            Ok(_) if !doc.get("dashboard_url").is_some_and(Value::is_string) => self.fail(
                Rule::OutputShape,
                format!("{label}: expected {{\"dashboard_url\": \"https://...\"}}"),
            ),
            Ok(d) if d.dashboard_url.is_empty() => self.pass(
                Rule::OutputShape,
                format!("{label}: empty URL, the instance gets no dashboard"),
            ),
            Ok(d) => match reqwest::Url::parse(&d.dashboard_url) {
                Ok(u) if matches!(u.scheme(), "http" | "https") => self.pass(Rule::OutputShape, ""),
                _ => self.fail(
                    Rule::OutputShape,
                    format!(
                        "{label}: '{}' is not an absolute http(s) URL",
                        excerpt(&d.dashboard_url, 120)
                    ),
                ),
            },
            Err(e) => self.fail(Rule::OutputShape, format!("{label}: {e}")),
        }
    }

    async fn bindings(&mut self, created: &Generated, secrets: Option<BTreeMap<String, String>>) {
        let plan_id = self.plan_cfg.plan_id.clone();
        let random = &self.instance.instance_id["adapter-check-".len()..];
        let binding = |id: String, request_params: Value| BindingRequest {
            binding_id: id,
            vms: fake_vms(&self.plan),
            manifest: created.deployed.clone(),
            request_params,
            secrets: secrets.clone(),
            dns_addresses: self.instance.dns_addresses(self.plan_cfg),
        };
        let no_params = Value::Object(Default::default());
        let app = binding(
            format!("adapter-check-binding-{random}"),
            self.instance.bind_params(&plan_id, Some("adapter-check-app-guid"), &no_params),
        );
        let key = binding(
            format!("adapter-check-key-{random}"),
            self.instance.bind_params(&plan_id, None, &no_params),
        );
        let unknown = binding(
            format!("adapter-check-unknown-{random}"),
            self.instance.unbind_params(&plan_id),
        );
        let unbind = |b: &BindingRequest| BindingRequest {
            request_params: self.instance.unbind_params(&plan_id),
            ..b.clone()
        };
        let (unbind_app, unbind_key) = (unbind(&app), unbind(&key));

        let record = self.call("app binding", &Request::CreateBinding(app), &[0]).await;
        let app_bound =
            record.outcome.exit_code == Some(0) && self.binding_result("app binding", &record);

        let record = self.call("service key", &Request::CreateBinding(key), &[0, 42]).await;
        let label = Self::label("create-binding", "service key");
        let key_bound = match record.outcome.exit_code {
            Some(0) => {
                if self.binding_result("service key", &record) {
                    self.pass(Rule::ServiceKey, "credentials for a service key");
                }
                true
            }
            Some(42) if !app_bound => {
                self.fail(Rule::ServiceKey, format!("{label}: exit 42 (app GUID not provided), but the app binding, which had an app_guid, did not succeed either"));
                false
            }
            Some(42) if record.stdout_text().trim().is_empty() => {
                self.fail(Rule::ServiceKey, format!("{label}: exit 42 with an empty stdout: say on stdout that the service needs an app (the platform user sees it)"));
                false
            }
            Some(42) => {
                let message = excerpt(&record.stdout_text(), 160);
                self.pass(
                    Rule::ServiceKey,
                    format!("{label}: the adapter requires an app: '{message}'"),
                );
                false
            }
            _ => {
                self.fail(
                    Rule::ServiceKey,
                    format!("{label}: {}; answer credentials, or exit 42 (AppGuidNotProvidedError) when the service needs an app", record.status()),
                );
                false
            }
        };

        if app_bound {
            let record = self.call("unbind app", &Request::DeleteBinding(unbind_app), &[0]).await;
            self.unbind_result("unbind app", &record);
        }
        if key_bound {
            let record = self.call("unbind key", &Request::DeleteBinding(unbind_key), &[0]).await;
            self.unbind_result("unbind key", &record);
        }
        let record = self.call("unknown binding", &Request::DeleteBinding(unknown), &[0, 41]).await;
        let label = Self::label("delete-binding", "unknown binding");
        match record.outcome.exit_code {
            Some(0) => {
                self.unbind_result("unknown binding", &record);
                self.pass(Rule::UnbindUnknown, format!("{label}: exit 0"));
            }
            Some(41) => self.pass(Rule::UnbindUnknown, format!("{label}: exit 41 (binding not found), the broker answers 410 Gone")),
            _ => self.fail(
                Rule::UnbindUnknown,
                format!("{label}: {}; succeed, or exit 41 (BindingNotFoundError) so that the broker answers 410 Gone and forgets the binding", record.status()),
            ),
        }
    }

    async fn plan_schemas(&mut self) {
        let enabled = self.config.broker.enable_plan_schemas;
        let allowed: &[i32] = if enabled { &[0] } else { &[0, 10] };
        let request = Request::PlanSchemas(self.plan.clone());
        let record = self.call("plan schemas", &request, allowed).await;
        let label = Self::label("generate-plan-schemas", "plan schemas");
        match record.outcome.exit_code {
            Some(0) => {
                let Some(doc) = self.result_document(&label, &record) else {
                    self.skip(Rule::PlanSchemas, format!("{label}: no result document"));
                    return;
                };
                let schema = match serde_json::from_value::<PlanSchema>(doc) {
                    Ok(s) => {
                        self.pass(Rule::OutputShape, "");
                        s
                    }
                    Err(e) => {
                        self.fail(Rule::OutputShape, format!("{label}: expected {{\"service_instance\": {{\"create\": {{\"parameters\": ...}}, \"update\": ...}}, \"service_binding\": ...}}: {e}"));
                        self.skip(Rule::PlanSchemas, format!("{label}: the result does not decode"));
                        return;
                    }
                };
                match PlanSchemas::new(&self.plan_cfg.name, &schema) {
                    Ok(_) => self.pass(Rule::PlanSchemas, format!("{label}: accepted")),
                    Err(e) => self.fail(Rule::PlanSchemas, format!("{label}: the broker refuses them: {e}")),
                }
            }
            Some(10) if enabled => self.fail(
                Rule::PlanSchemas,
                format!("{label}: not implemented (exit 10), but broker.enable_plan_schemas is on: the broker would not start"),
            ),
            Some(10) => self.pass(
                Rule::PlanSchemas,
                format!("{label}: not implemented (exit 10), fine while broker.enable_plan_schemas is off"),
            ),
            _ => self.fail(Rule::PlanSchemas, format!("{label}: {}", record.status())),
        }
    }

    fn stderr_rule(&mut self) {
        let mut leaks = Vec::new();
        for (role, record) in &self.calls {
            let stderr = record.stderr_text();
            for secret in &self.secrets {
                if stderr.contains(&secret.value) {
                    leaks.push(format!(
                        "{}: stderr contains {} (the broker logs adapter stderr for operators)",
                        Self::label(record.subcommand, role),
                        secret.what
                    ));
                }
            }
        }
        if leaks.is_empty() {
            self.pass(
                Rule::StderrNoSecrets,
                format!("{} secret value(s) looked for", self.secrets.len()),
            );
        } else {
            for leak in leaks {
                self.fail(Rule::StderrNoSecrets, leak);
            }
        }
    }

    fn finish(mut self) -> PlanReport {
        let redactor = Redactor::new(self.secrets.iter().map(|s| s.value.clone()));
        let rules = Rule::ALL
            .iter()
            .map(|rule| {
                let state = self.rules.remove(rule).unwrap_or_default();
                let (status, evidence) = if !state.failures.is_empty() {
                    (Status::Fail, state.failures)
                } else if state.checked {
                    (Status::Pass, state.notes)
                } else {
                    let mut reasons = state.skipped;
                    if reasons.is_empty() {
                        reasons.push("no call reached this rule".to_string());
                    }
                    reasons.dedup();
                    (Status::Skip, reasons)
                };
                RuleOutcome {
                    rule: *rule,
                    status,
                    summary: rule.summary(),
                    evidence: evidence.iter().map(|e| redactor.redact(e)).collect(),
                }
            })
            .collect();
        let calls = self
            .calls
            .iter()
            .map(|(role, r)| CallSummary {
                role: role.clone(),
                subcommand: r.subcommand,
                exit_code: r.outcome.exit_code,
                status: r.status(),
                millis: r.elapsed.as_millis() as u64,
                stdout_bytes: r.outcome.stdout.kept.len(),
                stderr_bytes: r.outcome.stderr.kept.len(),
            })
            .collect();
        PlanReport {
            plan: self.plan_cfg.name.clone(),
            plan_id: self.plan_cfg.plan_id.clone(),
            deployment_name: self.instance.deployment_name.clone(),
            calls,
            rules,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn max_in_flight_must_be_a_count_or_a_percentage() {
        let ok = ["1", "4", "\"25%\"", "\"100%\""];
        let bad = ["0", "\"4\"", "0.5", "true", "\"x25%\"", "\"0%\"", "\"150%\"", "~"];
        for v in ok {
            assert!(valid_max_in_flight(&serde_yaml::from_str(v).unwrap()).is_ok(), "{v}");
        }
        for v in bad {
            assert!(valid_max_in_flight(&serde_yaml::from_str(v).unwrap()).is_err(), "{v}");
        }
    }

    #[test]
    fn stray_lines_around_the_result_are_found() {
        let (doc, others) = json_document("starting\n{\"a\":1}\ndone\n").unwrap();
        assert_eq!(doc["a"], 1);
        assert_eq!(others, vec!["starting", "done"]);
        let (_, others) = json_document("{\"a\":1}\n").unwrap();
        assert!(others.is_empty());
        assert!(json_document("no json here").is_err());
    }

    #[test]
    fn uri_passwords_are_secrets() {
        assert_eq!(uri_password("redis://:pAsSw0rd@10.0.0.1:6379"), Some("pAsSw0rd"));
        assert_eq!(uri_password("postgres://admin:s3cret@db/x"), Some("s3cret"));
        assert_eq!(uri_password("https://10.0.0.1/x@y"), None);
        assert_eq!(uri_password("https://host"), None);
    }
}

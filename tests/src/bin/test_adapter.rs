//! `test-adapter`: a scriptable service adapter that the broker's black-box tests run in place of a
//! real one.
//!
//! It speaks the service-adapter CLI contract (`test-adapter <subcommand>` with the JSON envelope on
//! stdin, or the legacy positional arguments) and by default answers like a well-behaved adapter.
//! Tests steer it through its *input*, because the broker runs adapters with a clean environment
//! and an unspecified working directory:
//!
//! * **Scripts.** An `adapter_script` value makes the adapter ignore its default behaviour and
//!   instead sleep, print and exit exactly as told. A script *entry* is
//!   `{"exit_code": N, "stdout": "..", "stderr": "..", "sleep_seconds": S, "stdout_repeat": R,
//!   "stderr_repeat": R, "spawn_child_sleep_seconds": C, "abort": true}` (every key optional). The
//!   adapter spawns a child that sleeps `C` seconds with the adapter's stdout and stderr (to test
//!   that the whole process group is killed), sleeps `S` seconds (a large `S` is a hang), writes
//!   `stdout` repeated `R` times and `stderr` repeated `R` times verbatim, aborts (SIGABRT) if
//!   `abort` is true, and otherwise exits with `N` (default 0). An `adapter_script` value is either
//!   one entry, which applies to whichever subcommand reads it, or an object keyed by subcommand
//!   (`{"generate-manifest": {..}, "create-binding": {..}, ...}`).
//!
//!   Where the adapter looks, first match wins:
//!   1. the request's arbitrary parameters (`request_parameters.parameters.adapter_script`), for
//!      generate-manifest, create-binding and delete-binding;
//!   2. the plan's properties (`plan.properties.adapter_script`), for every subcommand given a plan;
//!   3. the deployed manifest's top-level properties (`manifest.properties.adapter_script`), for
//!      create-binding, delete-binding and dashboard-url. generate-manifest copies the plan's
//!      `adapter_script` there, so bind and unbind can be scripted per plan.
//! * **Invocation log.** If the plan property `adapter_state_dir` names a directory (for bindings:
//!   the manifest property of that name, which generate-manifest copies from the plan), every
//!   invocation appends one JSON line to `<dir>/invocations.jsonl`:
//!   `{"subcommand", "argv", "stdin" (null in legacy mode), "env", "cwd", "pid"}`, written before
//!   any script runs. Children spawned by a script append their pid to `<dir>/child_pids`.
//! * **Other plan properties / arbitrary parameters.** `adapter_schemas` (plan property:
//!   `{instance_create, instance_update, binding_create}`) makes generate-plan-schemas succeed;
//!   without it that subcommand exits 10. `adapter_secrets` (`{name: value}`) and
//!   `adapter_configs` (`{type: content}`), from the arbitrary parameters or else the plan
//!   properties, are returned as generate-manifest's `secrets` and `configs`; each secret is
//!   referenced from the manifest as `properties.<name>: ((odb_secret:<name>))`.
//!   `adapter_delay_seconds` (same lookup) makes generate-manifest sleep that long first and
//!   then answer as usual.
//!   `adapter_labels` (`{name: value}`, same lookup) is returned as generate-manifest's
//!   `labels` (the key is left out when it is not set). `adapter_variables` (a list, same
//!   lookup) becomes the manifest's BOSH `variables:`; the plan property
//!   `adapter_redis_secure` (`true`/`false`) follows the Go redis example adapter's secrets
//!   rules (its variables, an ODB-managed secret, and what create-binding and delete-binding
//!   accept in `secrets`); arbitrary parameters such as
//!   `{"pass": "((secret_pass))"}` land in `properties` as they are, so they can reference them.
//!
//! Default behaviour (no script):
//! * generate-manifest: `{"manifest":"<yaml>","secrets":null,"configs":null}` (no trailing
//!   newline); the manifest is named after the deployment, lists the releases, the first stemcell
//!   (alias `default`), one instance group per plan instance group, an `update` block, and
//!   `properties` = the previous manifest's properties with the plan's `adapter_script` and
//!   `adapter_state_dir` set, and the arbitrary parameters merged over them. Legacy mode prints
//!   the manifest YAML alone.
//! * create-binding: `{"credentials":{"binding_id","hosts","bosh_vms","dns_addresses",
//!   "parameters","secrets"}}` + `\n`.
//! * delete-binding: no output. dashboard-url: `{"dashboard_url":"https://dashboard.example.com/<id>"}`
//!   + `\n`.
//!
//! Input is checked like the Go SDK checks it (for example `request_parameters`, `bosh_vms` and
//! `previous_plan` must not be `""`), so a broker that sends a malformed envelope gets exit 1, an
//! empty stdout and the reason on stderr.

use serde_json::{json, Map, Value};
use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

/// The subcommands this adapter implements, sorted as the SDK lists them.
const SUBCOMMANDS: [&str; 5] = [
    "create-binding",
    "dashboard-url",
    "delete-binding",
    "generate-manifest",
    "generate-plan-schemas",
];

/// Keys that mark an `adapter_script` value as a single script entry.
const ENTRY_KEYS: [&str; 8] = [
    "exit_code",
    "stdout",
    "stderr",
    "sleep_seconds",
    "stdout_repeat",
    "stderr_repeat",
    "spawn_child_sleep_seconds",
    "abort",
];

/// Hidden subcommand used for the child process a script can spawn.
const SLEEP_SUBCOMMAND: &str = "__sleep";

/// Exit code for "not implemented", as defined by the adapter contract.
const NOT_IMPLEMENTED: u8 = 10;

/// How an invocation ends when it does not succeed.
struct Failure {
    code: u8,
    stdout: String,
    stderr: String,
}

impl Failure {
    /// An input or output problem: exit 1, empty stdout, the message on stderr.
    fn input(message: impl Into<String>) -> Self {
        Failure {
            code: 1,
            stdout: String::new(),
            stderr: format!("[test-adapter] {}\n", message.into()),
        }
    }
}

/// What was asked of the adapter: the subcommand and its input fields.
struct Invocation {
    subcommand: String,
    /// The inner object of the envelope for this subcommand (legacy mode: built from argv).
    fields: Map<String, Value>,
    /// Raw stdin, or `None` in legacy mode where stdin is never read.
    stdin: Option<String>,
    legacy: bool,
}

impl Invocation {
    /// The raw string of an inner field: a missing field is `""`, a non-string is an error.
    fn raw(&self, name: &str) -> Result<String, Failure> {
        match self.fields.get(name) {
            None | Some(Value::Null) => Ok(String::new()),
            Some(Value::String(s)) => Ok(s.clone()),
            Some(other) => Err(Failure::input(format!(
                "error unmarshalling input params JSON, error: field {}.{name} must be a JSON string, got {}",
                envelope_key(&self.subcommand),
                type_name(other)
            ))),
        }
    }

    /// A JSON field that must not be `""` (the SDK fails on it the same way).
    fn json_required(&self, name: &str, label: &str) -> Result<Value, Failure> {
        let raw = self.raw(name)?;
        if raw.is_empty() {
            return Err(Failure::input(format!(
                "unmarshalling {label}: unexpected end of JSON input"
            )));
        }
        serde_json::from_str(&raw)
            .map_err(|e| Failure::input(format!("unmarshalling {label}: {e}")))
    }

    /// A JSON field where `""` means absent (`Value::Null`).
    fn json_optional(&self, name: &str, label: &str) -> Result<Value, Failure> {
        let raw = self.raw(name)?;
        if raw.is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_str(&raw)
            .map_err(|e| Failure::input(format!("unmarshalling {label}: {e}")))
    }

    /// A YAML field where `""` means absent (`Value::Null`), converted to JSON values.
    fn yaml_optional(&self, name: &str, label: &str) -> Result<Value, Failure> {
        let raw = self.raw(name)?;
        if raw.is_empty() {
            return Ok(Value::Null);
        }
        let yaml: serde_yaml::Value = serde_yaml::from_str(&raw)
            .map_err(|e| Failure::input(format!("unmarshalling {label}: {e}")))?;
        serde_json::to_value(yaml)
            .map_err(|e| Failure::input(format!("unmarshalling {label}: {e}")))
    }

    /// The plan, parsed leniently (for finding scripts and the state directory).
    fn lenient_plan(&self) -> Value {
        self.json_optional("plan", "plan").unwrap_or(Value::Null)
    }

    /// The deployed manifest, parsed leniently.
    fn lenient_manifest(&self) -> Value {
        self.yaml_optional("manifest", "manifest").unwrap_or(Value::Null)
    }

    /// The arbitrary parameters (`request_parameters.parameters`), parsed leniently.
    fn lenient_parameters(&self) -> Value {
        self.json_optional("request_parameters", "request parameters")
            .ok()
            .and_then(|rp| rp.get("parameters").cloned())
            .unwrap_or(Value::Null)
    }
}

fn main() -> ExitCode {
    let argv: Vec<String> = std::env::args().collect();
    if argv.get(1).map(String::as_str) == Some(SLEEP_SUBCOMMAND) {
        let seconds = argv.get(2).and_then(|s| s.parse::<f64>().ok()).unwrap_or(0.0);
        sleep_seconds(seconds);
        return ExitCode::SUCCESS;
    }
    match run(&argv) {
        Ok(stdout) => {
            write_out(&stdout, "");
            ExitCode::SUCCESS
        }
        Err(failure) => {
            write_out(&failure.stdout, &failure.stderr);
            ExitCode::from(failure.code)
        }
    }
}

/// Writes stdout and stderr verbatim and flushes both.
fn write_out(stdout: &str, stderr: &str) {
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(stdout.as_bytes());
    let _ = out.flush();
    let mut err = std::io::stderr().lock();
    let _ = err.write_all(stderr.as_bytes());
    let _ = err.flush();
}

/// Dispatches one invocation; `Ok` holds stdout for exit 0.
fn run(argv: &[String]) -> Result<String, Failure> {
    let Some(subcommand) = argv.get(1) else {
        return Err(Failure::input(format!(
            "the following commands are supported: {}",
            SUBCOMMANDS.join(", ")
        )));
    };
    if !SUBCOMMANDS.contains(&subcommand.as_str()) {
        return Err(Failure::input(format!(
            "unknown subcommand: {subcommand}. The following commands are supported: {}",
            SUBCOMMANDS.join(", ")
        )));
    }
    let invocation = if argv.len() > 2 {
        legacy_invocation(subcommand, argv)?
    } else {
        stdin_invocation(subcommand)?
    };

    let plan = invocation.lenient_plan();
    let manifest = invocation.lenient_manifest();
    let parameters = invocation.lenient_parameters();

    if let Some(dir) = state_dir(&plan, &manifest) {
        record_invocation(&dir, &invocation, argv);
    }
    if let Some(entry) = find_script(&invocation.subcommand, &parameters, &plan, &manifest) {
        return run_script(&entry, &plan, &manifest);
    }

    let handling = format!("[test-adapter] handling {}\n", invocation.subcommand);
    let _ = std::io::stderr().write_all(handling.as_bytes());
    match invocation.subcommand.as_str() {
        "generate-manifest" => generate_manifest(&invocation),
        "create-binding" => create_binding(&invocation),
        "delete-binding" => delete_binding(&invocation),
        "dashboard-url" => dashboard_url(&invocation),
        _ => generate_plan_schemas(&invocation),
    }
}

/// Reads the stdin envelope to EOF and picks this subcommand's inner object.
fn stdin_invocation(subcommand: &str) -> Result<Invocation, Failure> {
    let mut bytes = Vec::new();
    std::io::stdin()
        .read_to_end(&mut bytes)
        .map_err(|e| Failure::input(format!("error reading input params JSON, error: {e}")))?;
    let stdin = String::from_utf8_lossy(&bytes).into_owned();
    if stdin.is_empty() {
        return Err(Failure::input("expecting parameters to be passed via stdin"));
    }
    let envelope: Value = serde_json::from_str(&stdin).map_err(|e| {
        Failure::input(format!("error unmarshalling input params JSON, error: {e}"))
    })?;
    let Value::Object(envelope) = envelope else {
        return Err(Failure::input(format!(
            "error unmarshalling input params JSON, error: expected an object, got {}",
            type_name(&envelope)
        )));
    };
    let fields = match envelope.get(envelope_key(subcommand)) {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(fields)) => fields.clone(),
        Some(other) => {
            return Err(Failure::input(format!(
                "error unmarshalling input params JSON, error: {} must be an object, got {}",
                envelope_key(subcommand),
                type_name(other)
            )))
        }
    };
    Ok(Invocation { subcommand: subcommand.to_string(), fields, stdin: Some(stdin), legacy: false })
}

/// Builds the inputs from legacy positional arguments; stdin is not read.
fn legacy_invocation(subcommand: &str, argv: &[String]) -> Result<Invocation, Failure> {
    let args = &argv[2..];
    let (names, spec): (&[&str], &str) = match subcommand {
        "generate-manifest" => (
            &[
                "service_deployment",
                "plan",
                "request_parameters",
                "previous_manifest",
                "previous_plan",
            ],
            "<service-deployment-JSON> <plan-JSON> <request-params-JSON> <previous-manifest-YAML> <previous-plan-JSON>",
        ),
        "create-binding" | "delete-binding" => (
            &["binding_id", "bosh_vms", "manifest", "request_parameters"],
            "<binding-ID> <bosh-VMs-JSON> <manifest-YAML> <request-params-JSON>",
        ),
        "dashboard-url" => (
            &["instance_id", "plan", "manifest"],
            "<instance-ID> <plan-JSON> <manifest-YAML>",
        ),
        _ => (&["plan"], "-plan-json <plan-JSON>"),
    };
    let missing = || {
        let program = argv
            .first()
            .map(|p| {
                PathBuf::from(p)
                    .file_name()
                    .map(|f| f.to_string_lossy().into_owned())
                    .unwrap_or_default()
            })
            .unwrap_or_default();
        Failure::input(format!(
            "Missing arguments for {subcommand}. Usage: {program} {subcommand} {spec}"
        ))
    };
    let mut fields = Map::new();
    if subcommand == "generate-plan-schemas" {
        let plan = match args[0].as_str() {
            "-plan-json" | "--plan-json" => args.get(1).cloned().ok_or_else(missing)?,
            flag => flag
                .strip_prefix("-plan-json=")
                .or_else(|| flag.strip_prefix("--plan-json="))
                .map(str::to_string)
                .ok_or_else(missing)?,
        };
        fields.insert("plan".into(), Value::String(plan));
    } else {
        if args.len() < names.len() {
            return Err(missing());
        }
        for (name, arg) in names.iter().zip(args) {
            fields.insert((*name).into(), Value::String(arg.clone()));
        }
    }
    Ok(Invocation { subcommand: subcommand.to_string(), fields, stdin: None, legacy: true })
}

/// The envelope key for a subcommand (`generate-manifest` → `generate_manifest`).
fn envelope_key(subcommand: &str) -> &'static str {
    match subcommand {
        "generate-manifest" => "generate_manifest",
        "create-binding" => "create_binding",
        "delete-binding" => "delete_binding",
        "dashboard-url" => "dashboard_url",
        _ => "generate_plan_schemas",
    }
}

/// A JSON type name for error messages.
fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// `properties.<key>` of a plan or manifest, if set.
fn property<'a>(holder: &'a Value, key: &str) -> Option<&'a Value> {
    holder.get("properties").and_then(|p| p.get(key)).filter(|v| !v.is_null())
}

/// The invocation-log directory: the plan property, else the manifest property.
fn state_dir(plan: &Value, manifest: &Value) -> Option<PathBuf> {
    property(plan, "adapter_state_dir")
        .or_else(|| property(manifest, "adapter_state_dir"))
        .and_then(Value::as_str)
        .map(PathBuf::from)
}

/// Appends one JSON line describing this invocation to `<dir>/invocations.jsonl`.
fn record_invocation(dir: &std::path::Path, invocation: &Invocation, argv: &[String]) {
    let env: Map<String, Value> = std::env::vars_os()
        .map(|(k, v)| {
            (k.to_string_lossy().into_owned(), Value::String(v.to_string_lossy().into_owned()))
        })
        .collect();
    let record = json!({
        "subcommand": invocation.subcommand,
        "argv": argv,
        "stdin": invocation.stdin,
        "env": env,
        "cwd": std::env::current_dir().ok().map(|d| d.to_string_lossy().into_owned()),
        "pid": std::process::id(),
    });
    append_line(&dir.join("invocations.jsonl"), &record.to_string());
}

/// Appends `line` + `\n` in one write, so concurrent invocations do not interleave.
fn append_line(path: &std::path::Path, line: &str) {
    let _ = std::fs::create_dir_all(path.parent().unwrap_or(path));
    match std::fs::OpenOptions::new().create(true).append(true).open(path) {
        Ok(mut file) => {
            let _ = file.write_all(format!("{line}\n").as_bytes());
        }
        Err(e) => eprintln!("[test-adapter] cannot append to {}: {e}", path.to_string_lossy()),
    }
}

/// The script entry for `subcommand` in one `adapter_script` value, if any.
fn script_entry(script: &Value, subcommand: &str) -> Option<Map<String, Value>> {
    let script = script.as_object()?;
    if let Some(entry) = script.get(subcommand) {
        return entry.as_object().cloned();
    }
    if script.keys().any(|k| ENTRY_KEYS.contains(&k.as_str())) {
        return Some(script.clone());
    }
    None
}

/// Finds the script entry: arbitrary parameters, then plan properties, then manifest properties.
fn find_script(
    subcommand: &str, parameters: &Value, plan: &Value, manifest: &Value,
) -> Option<Map<String, Value>> {
    let from_parameters = match subcommand {
        "generate-manifest" | "create-binding" | "delete-binding" => {
            parameters.get("adapter_script")
        }
        _ => None,
    };
    let from_manifest = match subcommand {
        "create-binding" | "delete-binding" | "dashboard-url" => {
            property(manifest, "adapter_script")
        }
        _ => None,
    };
    [from_parameters, property(plan, "adapter_script"), from_manifest]
        .into_iter()
        .flatten()
        .find_map(|script| script_entry(script, subcommand))
}

/// Sleeps for a (possibly fractional) number of seconds; negative or invalid means no sleep.
fn sleep_seconds(seconds: f64) {
    if seconds.is_finite() && seconds > 0.0 {
        std::thread::sleep(Duration::from_secs_f64(seconds.min(1.0e9)));
    }
}

/// Plays a script entry: spawn a child, sleep, print, then abort or exit.
fn run_script(
    entry: &Map<String, Value>, plan: &Value, manifest: &Value,
) -> Result<String, Failure> {
    if let Some(child_seconds) = entry.get("spawn_child_sleep_seconds").and_then(Value::as_f64) {
        spawn_sleeper(child_seconds, state_dir(plan, manifest));
    }
    if let Some(seconds) = entry.get("sleep_seconds").and_then(Value::as_f64) {
        sleep_seconds(seconds);
    }
    let repeated = |text_key: &str, repeat_key: &str| {
        let text = entry.get(text_key).and_then(Value::as_str).unwrap_or("");
        let times = entry.get(repeat_key).and_then(Value::as_u64).unwrap_or(1);
        text.repeat(usize::try_from(times).unwrap_or(usize::MAX))
    };
    let stdout = repeated("stdout", "stdout_repeat");
    let stderr = repeated("stderr", "stderr_repeat");
    if entry.get("abort").and_then(Value::as_bool) == Some(true) {
        write_out(&stdout, &stderr);
        std::process::abort();
    }
    let code = entry.get("exit_code").and_then(Value::as_i64).unwrap_or(0).rem_euclid(256) as u8;
    if code == 0 {
        let _ = std::io::stderr().write_all(stderr.as_bytes());
        Ok(stdout)
    } else {
        Err(Failure { code, stdout, stderr })
    }
}

/// Spawns `test-adapter __sleep <seconds>` sharing this process's stdout and stderr.
fn spawn_sleeper(seconds: f64, dir: Option<PathBuf>) {
    let Ok(exe) = std::env::current_exe() else {
        return;
    };
    match std::process::Command::new(exe)
        .arg(SLEEP_SUBCOMMAND)
        .arg(seconds.to_string())
        .stdin(std::process::Stdio::null())
        .spawn()
    {
        Ok(child) => {
            if let Some(dir) = dir {
                append_line(&dir.join("child_pids"), &child.id().to_string());
            }
        }
        Err(e) => eprintln!("[test-adapter] cannot spawn child: {e}"),
    }
}

/// The arbitrary parameters of a request-parameters object (`{}` when missing or null).
fn arbitrary_parameters(request_parameters: &Value) -> Result<Map<String, Value>, Failure> {
    match request_parameters.get("parameters") {
        None | Some(Value::Null) => Ok(Map::new()),
        Some(Value::Object(p)) => Ok(p.clone()),
        Some(other) => Err(Failure::input(format!(
            "request parameters: \"parameters\" must be an object, got {}",
            type_name(other)
        ))),
    }
}

/// Checks the plan like the SDK's validation does (instance groups present).
fn validate_plan(plan: &Value, label: &str) -> Result<(), Failure> {
    match plan.get("instance_groups") {
        Some(Value::Array(_)) => Ok(()),
        _ => Err(Failure::input(format!(
            "validating {label}: Key: 'Plan.InstanceGroups' Error:Field validation for 'InstanceGroups' failed on the 'required' tag"
        ))),
    }
}

/// Converts a JSON value to a YAML value.
fn yaml(value: &Value) -> serde_yaml::Value {
    serde_yaml::to_value(value).unwrap_or(serde_yaml::Value::Null)
}

/// Default generate-manifest: a manifest built from the deployment, the plan and the parameters.
fn generate_manifest(inv: &Invocation) -> Result<String, Failure> {
    let deployment = inv.json_required("service_deployment", "service deployment")?;
    let plan = inv.json_required("plan", "service plan")?;
    validate_plan(&plan, "service plan")?;
    let previous_plan = inv.json_required("previous_plan", "previous service plan")?;
    if !previous_plan.is_null() {
        validate_plan(&previous_plan, "previous service plan")?;
    }
    let previous_manifest = inv.yaml_optional("previous_manifest", "previous manifest")?;
    let request_parameters = inv.json_required("request_parameters", "requestParams")?;
    inv.json_optional("previous_secrets", "previous secrets")?;
    inv.json_optional("previous_configs", "previous configs")?;
    inv.json_optional("uaa_client", "service instance client")?;
    let parameters = arbitrary_parameters(&request_parameters)?;

    let Some(name) = deployment.get("deployment_name").and_then(Value::as_str) else {
        return Err(Failure::input(
            "validating service deployment: Key: 'ServiceDeployment.DeploymentName' Error:Field validation for 'DeploymentName' failed on the 'required' tag",
        ));
    };
    let releases: Vec<Value> = deployment
        .get("releases")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|r| json!({"name": r.get("name"), "version": r.get("version")}))
        .collect();
    let stemcells: Vec<Value> = deployment
        .get("stemcells")
        .and_then(Value::as_array)
        .and_then(|s| s.first())
        .map(|s| {
            json!({
                "alias": "default",
                "os": s.get("stemcell_os"),
                "version": s.get("stemcell_version"),
            })
        })
        .into_iter()
        .collect();
    let instance_groups: Vec<serde_yaml::Value> = plan["instance_groups"]
        .as_array()
        .into_iter()
        .flatten()
        .map(manifest_instance_group)
        .collect();

    // Properties: previous ones, the plan's test switches, then the arbitrary parameters.
    let mut properties = match previous_manifest.get("properties") {
        Some(Value::Object(p)) => p.clone(),
        _ => Map::new(),
    };
    for key in ["adapter_script", "adapter_state_dir", REDIS_RULES] {
        properties.remove(key);
        if let Some(value) = property(&plan, key) {
            properties.insert(key.into(), value.clone());
        }
    }
    for (key, value) in &parameters {
        properties.insert(key.clone(), value.clone());
    }
    let pick = |key: &str| {
        parameters.get(key).filter(|v| !v.is_null()).or_else(|| property(&plan, key)).cloned()
    };
    // A slow generate-manifest that then answers as usual (for a broker stopped or paused
    // in the middle of a step).
    if let Some(seconds) = pick("adapter_delay_seconds").and_then(|v| v.as_f64()) {
        sleep_seconds(seconds);
    }
    let configs = pick("adapter_configs");
    let labels = pick("adapter_labels");
    let mut variables = pick("adapter_variables");
    let mut secrets_override = None;
    if property(&plan, REDIS_RULES) == Some(&Value::Bool(true)) {
        // As the Go redis example adapter with its secure manifests on: a generated password,
        // a certificate signed by a generated CA, and an ODB-managed secret.
        variables = Some(json!([
            {"name": "secret_pass", "type": "password"},
            {"name": "instance_ca", "type": "certificate", "options": {"is_ca": true, "common_name": "redis-ca"}},
            {"name": "instance_certificate", "type": "certificate", "options": {"ca": "instance_ca", "common_name": "redis"}},
        ]));
        for (key, reference) in [
            ("redis_password", "((secret_pass))"),
            ("redis_ca", "((instance_certificate.ca))"),
            ("redis_certificate", "((instance_certificate.certificate))"),
            ("redis_private_key", "((instance_certificate.private_key))"),
        ] {
            properties.insert(key.into(), Value::String(reference.into()));
        }
        secrets_override = Some(json!({"odb_managed_secret": REDIS_ODB_SECRET}));
    }
    let secrets = secrets_override.or_else(|| pick("adapter_secrets"));
    properties.remove("adapter_variables");
    properties.remove("adapter_secrets");
    properties.remove("adapter_configs");
    properties.remove("adapter_labels");
    if let Some(Value::Object(secrets)) = &secrets {
        for key in secrets.keys() {
            properties.insert(key.clone(), Value::String(format!("((odb_secret:{key}))")));
        }
    }

    let mut manifest = serde_yaml::Mapping::new();
    manifest.insert("name".into(), name.into());
    manifest.insert("releases".into(), yaml(&Value::Array(releases)));
    manifest.insert("stemcells".into(), yaml(&Value::Array(stemcells)));
    manifest.insert("instance_groups".into(), serde_yaml::Value::Sequence(instance_groups));
    manifest.insert(
        "update".into(),
        yaml(&json!({
            "canaries": 1,
            "canary_watch_time": "1000-30000",
            "update_watch_time": "1000-30000",
            "max_in_flight": 1,
        })),
    );
    manifest.insert("properties".into(), yaml(&Value::Object(properties)));
    if let Some(variables) = &variables {
        manifest.insert("variables".into(), yaml(variables));
    }
    let manifest_yaml = serde_yaml::to_string(&serde_yaml::Value::Mapping(manifest))
        .map_err(|e| Failure::input(format!("error marshalling manifest yaml output: {e}")))?;

    if inv.legacy {
        return Ok(manifest_yaml);
    }
    let json_text =
        |v: &Option<Value>| v.as_ref().map(Value::to_string).unwrap_or_else(|| "null".into());
    let labels = labels.map(|l| format!(",\"labels\":{l}")).unwrap_or_default();
    Ok(format!(
        "{{\"manifest\":{},\"secrets\":{},\"configs\":{}{labels}}}",
        Value::String(manifest_yaml),
        json_text(&secrets),
        json_text(&configs)
    ))
}

/// One manifest instance group from a plan instance group.
fn manifest_instance_group(group: &Value) -> serde_yaml::Value {
    let networks: Vec<Value> = group
        .get("networks")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|n| json!({ "name": n }))
        .collect();
    let mut ig = serde_yaml::Mapping::new();
    ig.insert("name".into(), yaml(&group["name"]));
    if let Some(lifecycle) = group.get("lifecycle").filter(|v| !v.is_null()) {
        ig.insert("lifecycle".into(), yaml(lifecycle));
    }
    ig.insert("instances".into(), yaml(&group["instances"]));
    ig.insert("jobs".into(), serde_yaml::Value::Sequence(Vec::new()));
    ig.insert("vm_type".into(), yaml(&group["vm_type"]));
    if let Some(ext) = group.get("vm_extensions").filter(|v| !v.is_null()) {
        ig.insert("vm_extensions".into(), yaml(ext));
    }
    ig.insert("stemcell".into(), "default".into());
    if let Some(disk) = group.get("persistent_disk_type").filter(|v| !v.is_null()) {
        ig.insert("persistent_disk_type".into(), yaml(disk));
    }
    ig.insert("azs".into(), yaml(&group["azs"]));
    ig.insert("networks".into(), yaml(&Value::Array(networks)));
    serde_yaml::Value::Mapping(ig)
}

/// The parsed inputs shared by create-binding and delete-binding.
struct BindingInput {
    binding_id: String,
    bosh_vms: Value,
    dns_addresses: Value,
    secrets: Value,
    parameters: Map<String, Value>,
}

/// Parses and checks the binding fields like the SDK does.
fn binding_input(inv: &Invocation) -> Result<BindingInput, Failure> {
    let binding_id = inv.raw("binding_id")?;
    let bosh_vms = inv.json_required("bosh_vms", "BOSH VMs")?;
    inv.yaml_optional("manifest", "manifest YAML")?;
    let request_parameters =
        inv.json_required("request_parameters", "request binding parameters")?;
    let secrets = inv.json_optional("secrets", "secrets")?;
    let dns_addresses = inv.json_optional("dns_addresses", "DNS addresses")?;
    Ok(BindingInput {
        binding_id,
        bosh_vms,
        dns_addresses,
        secrets,
        parameters: arbitrary_parameters(&request_parameters)?,
    })
}

/// The plan property (copied into the manifest's properties) that makes the adapter follow
/// the Go redis example adapter's secrets rules: `true` as with its secure manifests on,
/// `false` as with them off.
const REDIS_RULES: &str = "adapter_redis_secure";
/// The value of the ODB-managed secret the redis rules return.
const REDIS_ODB_SECRET: &str = "HardcodedAdapterValue";

/// A failure with the message on stdout, as an adapter error of the Go SDK.
fn adapter_failure(message: &str) -> Failure {
    Failure { code: 1, stdout: message.to_string(), stderr: format!("[odb-sdk] {message}\n") }
}

/// The redis rules for `secrets` in create-binding (`action` "CreateBinding") and
/// delete-binding ("DeleteBinding"), when the deployed manifest asks for them.
fn check_redis_rules(inv: &Invocation, secrets: &Value, action: &str) -> Result<(), Failure> {
    let manifest = inv.yaml_optional("manifest", "manifest YAML")?;
    let Some(secure) = manifest["properties"][REDIS_RULES].as_bool() else {
        return Ok(());
    };
    if !secure {
        return match secrets {
            Value::Null => Ok(()),
            _ => Err(adapter_failure(&format!(
                "{action} received secrets when secure manifests are disabled"
            ))),
        };
    }
    let Value::Object(secrets) = secrets else {
        return Err(adapter_failure(&format!("The required secret was not provided to {action}")));
    };
    for required in [
        "((secret_pass))",
        "((instance_certificate.ca))",
        "((instance_certificate.certificate))",
        "((instance_certificate.private_key))",
    ] {
        if secrets.get(required).and_then(Value::as_str).is_none_or(str::is_empty) {
            return Err(adapter_failure(&format!(
                "manifest wasn't correctly interpolated: missing value for `{required}`"
            )));
        }
    }
    let odb = secrets
        .iter()
        .find(|(k, _)| k.starts_with("((/odb/") && k.ends_with("/odb_managed_secret))"));
    match odb {
        Some((_, v)) if v == REDIS_ODB_SECRET => Ok(()),
        _ => Err(adapter_failure(
            "manifest wasn't correctly interpolated: missing value for the ODB-managed secret odb_managed_secret",
        )),
    }
}

/// Default create-binding: credentials that echo what the broker passed.
fn create_binding(inv: &Invocation) -> Result<String, Failure> {
    let input = binding_input(inv)?;
    check_redis_rules(inv, &input.secrets, "CreateBinding")?;
    let hosts: Vec<Value> = input
        .bosh_vms
        .as_object()
        .into_iter()
        .flat_map(|groups| groups.values())
        .filter_map(Value::as_array)
        .flatten()
        .cloned()
        .collect();
    let binding = json!({
        "credentials": {
            "binding_id": input.binding_id,
            "hosts": hosts,
            "bosh_vms": input.bosh_vms,
            "dns_addresses": input.dns_addresses,
            "parameters": input.parameters,
            "secrets": input.secrets,
        }
    });
    Ok(format!("{binding}\n"))
}

/// Default delete-binding: checks the input, prints nothing.
fn delete_binding(inv: &Invocation) -> Result<String, Failure> {
    let input = binding_input(inv)?;
    check_redis_rules(inv, &input.secrets, "DeleteBinding")?;
    Ok(String::new())
}

/// Default dashboard-url: a URL derived from the instance id.
fn dashboard_url(inv: &Invocation) -> Result<String, Failure> {
    let instance_id = inv.raw("instance_id")?;
    let plan = inv.json_required("plan", "service plan")?;
    validate_plan(&plan, "service plan")?;
    inv.yaml_optional("manifest", "manifest YAML")?;
    let url = json!({ "dashboard_url": format!("https://dashboard.example.com/{instance_id}") });
    Ok(format!("{url}\n"))
}

/// Default generate-plan-schemas: not implemented unless the plan has `adapter_schemas`.
fn generate_plan_schemas(inv: &Invocation) -> Result<String, Failure> {
    let raw = inv.raw("plan")?;
    let plan: Value = serde_json::from_str(&raw)
        .map_err(|e| Failure::input(format!("error unmarshalling plan JSON: {e}")))?;
    validate_plan(&plan, "plan JSON")
        .map_err(|_| Failure::input("error validating plan JSON: instance_groups is required"))?;
    let Some(schemas) = property(&plan, "adapter_schemas") else {
        return Err(Failure {
            code: NOT_IMPLEMENTED,
            stdout: String::new(),
            stderr: "[test-adapter] generate-plan-schemas not implemented\n".into(),
        });
    };
    let get = |key: &str| schemas.get(key).cloned().unwrap_or(Value::Null);
    let output = json!({
        "service_instance": {
            "create": {"parameters": get("instance_create")},
            "update": {"parameters": get("instance_update")},
        },
        "service_binding": {
            "create": {"parameters": get("binding_create")},
        },
    });
    Ok(format!("{output}\n"))
}

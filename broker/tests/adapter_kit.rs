//! `on-demand-broker adapter check` and `adapter call`, run as a service author runs them:
//! the built-in example adapter and the Python sample pass every rule; a fixture adapter
//! broken in one way per rule (`tests/adapters/fixture_adapter.py`, copied under the rule's
//! name) fails that rule with its message; `adapter call` prints the decoded results.

use serde_json::Value;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_on-demand-broker");

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn run(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .env_remove("BROKER_USERNAME")
        .env_remove("BROKER_PASSWORD")
        .output()
        .expect("run on-demand-broker")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A config for the fixture adapter at `adapter`, with `extra` appended to `service_adapter`.
fn fixture_config(adapter: &Path, adapter_extra: &str, broker_extra: &str) -> String {
    format!(
        r#"broker:
  port: 8080
  username: admin
  password: fixture-password
  enable_plan_schemas: true
{broker_extra}
service_adapter:
  path: {adapter}
  timeout_seconds: 3
{adapter_extra}
simulated_director:
  task_seconds: 0
service_deployment:
  releases:
    - name: pg
      version: "1.10"
      jobs: [pg]
  stemcells:
    - os: ubuntu-jammy
      version: "1.404"
service_catalog:
  id: fixture-service
  service_name: fixture
  service_description: fixture
  bindable: true
  plans:
    - plan_id: fixture-small
      name: small
      description: two nodes
      instance_groups:
        - name: db
          vm_type: small
          instances: 2
          networks: [default]
          azs: [z1]
"#,
        adapter = adapter.display()
    )
}

/// The fixture adapter copied as `<tmp>/<mode>`, and a config for it.
struct Fixture {
    dir: tempfile::TempDir,
    config: PathBuf,
}

impl Fixture {
    fn new(mode: &str) -> Self {
        Self::with(mode, "", "")
    }

    fn with(mode: &str, adapter_extra: &str, broker_extra: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let adapter = dir.path().join(mode);
        std::fs::copy(repo().join("broker/tests/adapters/fixture_adapter.py"), &adapter).unwrap();
        std::fs::set_permissions(&adapter, std::fs::Permissions::from_mode(0o755)).unwrap();
        let config = dir.path().join("broker.yml");
        std::fs::write(&config, fixture_config(&adapter, adapter_extra, broker_extra)).unwrap();
        Self { dir, config }
    }

    fn config(&self) -> &str {
        self.config.to_str().unwrap()
    }
}

/// `adapter check --format json`: exit code and the report.
fn check_json(config: &str) -> (Option<i32>, Value) {
    let out = run(&["adapter", "check", "--config", config, "--format", "json"]);
    let report: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!("not a JSON report ({e}): stdout {} stderr {}", text(&out.stdout), text(&out.stderr))
    });
    (out.status.code(), report)
}

fn rule<'a>(report: &'a Value, plan: usize, name: &str) -> &'a Value {
    report["plans"][plan]["rules"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["rule"] == name)
        .unwrap_or_else(|| panic!("no rule {name} in {report:#}"))
}

fn failed_rules(report: &Value) -> Vec<String> {
    report["plans"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|p| p["rules"].as_array().unwrap())
        .filter(|r| r["status"] == "fail")
        .map(|r| r["rule"].as_str().unwrap().to_string())
        .collect()
}

fn evidence(rule: &Value) -> String {
    rule["evidence"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e.as_str().unwrap())
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn the_built_in_example_adapter_passes_every_rule() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("broker.yml");
    std::fs::copy(repo().join("config/default.yml"), &config).unwrap();
    let (code, report) = check_json(config.to_str().unwrap());
    assert_eq!(code, Some(0), "{report:#}");
    assert_eq!(report["ok"], true);
    assert_eq!(report["failed"], 0);
    assert_eq!(report["input_mode"], "stdin");
    assert!(report["adapter"].as_str().unwrap().ends_with("example-adapter"));
    let plans = report["plans"].as_array().unwrap();
    assert_eq!(plans.len(), 2, "every plan of the catalog by default");
    for plan in plans {
        assert!(plan["deployment_name"]
            .as_str()
            .unwrap()
            .starts_with("service-instance_adapter-check-"));
        assert_eq!(plan["rules"].as_array().unwrap().len(), 18);
        assert_eq!(plan["calls"].as_array().unwrap().len(), 12, "{plan:#}");
    }
    assert!(report["slowest_call"]["millis"].is_u64());
}

#[test]
fn the_python_sample_adapter_passes_every_rule() {
    let config = repo().join("examples/adapter-python/broker.yml");
    let out = run(&["adapter", "check", "--config", config.to_str().unwrap()]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", text(&out.stderr));
    assert!(stdout.contains("36 rules passed, 0 failed, 0 skipped"), "{stdout}");
    for name in ["small", "ha"] {
        assert!(stdout.contains(&format!("plan {name} (")), "{stdout}");
    }
    assert!(stdout.contains("slowest call: "), "{stdout}");
}

#[test]
fn plans_can_be_chosen_by_name_or_id_and_unknown_plans_are_refused() {
    let config = repo().join("examples/adapter-python/broker.yml");
    let config = config.to_str().unwrap();
    let out = run(&[
        "adapter",
        "check",
        "--config",
        config,
        "--plan",
        "python-sample-ha",
        "--format",
        "json",
    ]);
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["plans"].as_array().unwrap().len(), 1);
    assert_eq!(report["plans"][0]["plan"], "ha");
    let out = run(&["adapter", "check", "--config", config, "--plan", "nope"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("no plan named 'nope'"), "{}", text(&out.stderr));
}

#[test]
fn the_well_behaved_fixture_passes_and_answers_41_for_unknown_bindings() {
    let f = Fixture::new("well-behaved");
    let (code, report) = check_json(f.config());
    assert_eq!(code, Some(0), "{report:#}");
    assert!(evidence(rule(&report, 0, "unbind-unknown")).contains("exit 41"), "{report:#}");
}

#[test]
fn exit_42_is_accepted_for_a_service_key_of_a_service_that_needs_an_app() {
    let f = Fixture::new("needs-app");
    let (code, report) = check_json(f.config());
    assert_eq!(code, Some(0), "{report:#}");
    let key = rule(&report, 0, "service-key");
    assert_eq!(key["status"], "pass");
    assert!(evidence(key).contains("binds to apps only"), "{key:#}");
}

#[test]
fn legacy_argv_mode_is_checked_when_configured() {
    let f =
        Fixture::with("well-behaved", "  use_stdin: false\n  allow_secrets_on_argv: true\n", "");
    let (code, report) = check_json(f.config());
    assert_eq!(code, Some(0), "{report:#}");
    assert_eq!(report["input_mode"], "argv");

    let f = Fixture::with("legacy-json", "  use_stdin: false\n  allow_secrets_on_argv: true\n", "");
    let (code, report) = check_json(f.config());
    assert_eq!(code, Some(1));
    let shape = rule(&report, 0, "output-shape");
    assert!(evidence(shape).contains("the manifest YAML alone"), "{shape:#}");
}

#[test]
fn the_text_report_lists_calls_rules_and_evidence_without_secret_values() {
    let f = Fixture::new("stderr-no-secrets");
    let out = run(&["adapter", "check", "--config", f.config()]);
    assert_eq!(out.status.code(), Some(1));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("FAIL stderr-no-secrets"), "{stdout}");
    assert!(
        stdout.contains("create-binding (app binding): stderr contains the ODB-managed secret"),
        "{stdout}"
    );
    assert!(stdout.contains("PASS exit-codes"), "{stdout}");
    assert!(stdout.contains("create-binding         app binding"), "{stdout}");
    assert!(!stdout.contains("pw-"), "the password itself is never in the report: {stdout}");
    assert!(stdout.contains("fix the failures above"), "{stdout}");
}

/// One test per rule: the fixture broken for that rule fails it with the rule's message.
macro_rules! broken {
    ($($test:ident: $mode:literal => $message:literal,)*) => {$(
        #[test]
        fn $test() {
            let f = Fixture::new($mode);
            let (code, report) = check_json(f.config());
            assert_eq!(code, Some(1), "{report:#}");
            assert_eq!(report["ok"], false);
            let r = rule(&report, 0, $mode);
            assert_eq!(r["status"], "fail", "{report:#}");
            let evidence = evidence(r);
            assert!(evidence.contains($message), "rule {}: {evidence}\nfailed: {:?}", $mode, failed_rules(&report));
        }
    )*};
}

broken! {
    exit_codes_fail_for_an_unexpected_exit_code:
        "exit-codes" => "dashboard-url (dashboard): exit 3 (not a code of the contract), expected 0 or 10",
    stdout_is_output_fails_for_a_log_line_on_stdout:
        "stdout-is-output" => "stdout has 1 line(s) besides the result document, such as 'generating the manifest for service-instance_adapter-check-",
    output_shape_fails_for_a_binding_without_credentials:
        "output-shape" => "create-binding (app binding): \"credentials\" is missing",
    manifest_yaml_fails_for_a_manifest_bosh_cannot_decode:
        "manifest-yaml" => "generate-manifest (create): a BOSH manifest parser (the Go SDK's rules) refuses it",
    deployment_name_fails_for_another_name:
        "deployment-name" => "name is 'wrong-name', expected 'service-instance_adapter-check-",
    exact_versions_fail_for_latest:
        "exact-versions" => "releases pg has version 'latest'",
    releases_and_stemcells_fail_for_a_release_not_configured:
        "releases-and-stemcells" => "release 'extra-release' is not in service_deployment.releases",
    update_block_fails_for_max_in_flight_0:
        "update-block" => "update: max_in_flight 0 is neither a whole number of at least 1 nor a percentage",
    yaml_1_1_scalars_fail_for_a_plain_yes:
        "yaml-1.1-scalars" => "plain value `yes` is read differently: YAML 1.2 reads the string \"yes\", BOSH (YAML 1.1) reads the boolean true",
    odb_secrets_fail_for_a_secret_not_returned:
        "odb-secrets" => "references ((odb_secret:missing_key)) but the adapter returned no such secret",
    pending_changes_fail_when_regeneration_differs:
        "pending-changes" => "differs from the deployed manifest at instance_groups[0].jobs[0].properties.generation",
    idempotent_fails_when_each_regeneration_changes_the_manifest:
        "idempotent" => "given its own manifest as the previous one, it changed update.canaries: 2 vs 3",
    secrets_kept_on_update_fails_for_a_rotated_secret:
        "secrets-kept-on-update" => "generate-manifest (update): the value of ODB-managed secret admin_password changed",
    service_key_fails_for_exit_1_without_app_guid:
        "service-key" => "create-binding (service key): exit 1; answer credentials, or exit 42",
    unbind_unknown_fails_for_exit_1:
        "unbind-unknown" => "delete-binding (unknown binding): exit 1; succeed, or exit 41",
    plan_schemas_fail_for_draft_07:
        "plan-schemas" => "only JSON Schema version draft-04 is supported",
    stderr_no_secrets_fails_when_credentials_are_logged:
        "stderr-no-secrets" => "create-binding (app binding): stderr contains the ODB-managed secret admin_password",
    call_time_fails_for_a_call_past_the_timeout:
        "call-time" => "dashboard-url (dashboard): killed after 3.0 s (service_adapter.timeout_seconds)",
}

#[test]
fn plan_schemas_not_implemented_are_fine_only_while_schemas_are_off() {
    let f = Fixture::new("well-behaved");
    let dir = f.dir.path();
    let adapter = dir.join("no-schemas");
    std::fs::write(
        &adapter,
        format!(
            "#!/bin/sh\n[ \"$1\" = generate-plan-schemas ] && exit 10\nexec '{}' \"$@\"\n",
            dir.join("well-behaved").display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&adapter, std::fs::Permissions::from_mode(0o755)).unwrap();
    let config = dir.join("broker.yml");
    std::fs::write(&config, fixture_config(&adapter, "", "")).unwrap();
    let (code, report) = check_json(config.to_str().unwrap());
    assert_eq!(code, Some(1));
    assert!(
        evidence(rule(&report, 0, "plan-schemas")).contains("broker.enable_plan_schemas is on"),
        "{report:#}"
    );
    let off = fixture_config(&adapter, "", "")
        .replace("enable_plan_schemas: true", "enable_plan_schemas: false");
    std::fs::write(&config, off).unwrap();
    let (code, report) = check_json(config.to_str().unwrap());
    assert_eq!(code, Some(0), "{report:#}");
}

#[test]
fn adapter_call_prints_the_manifest_of_generate_manifest() {
    let config = repo().join("examples/adapter-python/broker.yml");
    let out = run(&[
        "adapter",
        "call",
        "generate-manifest",
        "--config",
        config.to_str().unwrap(),
        "--plan",
        "ha",
    ]);
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert!(out.status.success(), "{stdout}\n{stderr}");
    let manifest: serde_yaml::Value =
        serde_yaml::from_str(&stdout).expect("stdout is the manifest");
    assert!(manifest["name"].as_str().unwrap().starts_with("service-instance_adapter-check-"));
    assert_eq!(manifest["instance_groups"][0]["instances"], 3);
    assert!(stderr.contains("generate-manifest: exit 0 after"), "{stderr}");
    assert!(stderr.contains("[python-adapter] handling generate-manifest"), "{stderr}");
    assert!(stderr.contains("ODB-managed secrets (values not shown): admin_password"), "{stderr}");
}

#[test]
fn adapter_call_prints_the_credentials_of_create_binding_and_masks_the_envelope() {
    let config = repo().join("examples/adapter-python/broker.yml");
    let out = run(&[
        "adapter",
        "call",
        "create-binding",
        "--config",
        config.to_str().unwrap(),
        "--show-envelope",
    ]);
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert!(out.status.success(), "{stdout}\n{stderr}");
    let binding: Value = serde_json::from_str(&stdout).expect("stdout is the binding");
    let password = binding["credentials"]["password"].as_str().unwrap();
    assert!(password.len() >= 24, "{binding}");
    assert_eq!(binding["credentials"]["host"], "10.0.0.1");
    assert!(stderr.contains("envelope (create-binding on stdin):"), "{stderr}");
    assert!(stderr.contains("<masked>"), "{stderr}");
    assert!(
        !stderr.contains(password),
        "a secret the adapter generated is masked in the envelope: {stderr}"
    );
}

#[test]
fn adapter_call_shows_secrets_given_inline_and_masks_those_from_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = dir.path().join("manifest.yml");
    std::fs::write(&manifest, "name: service-instance_x\n").unwrap();
    let secrets =
        r#"{"((/odb/python-sample-service/service-instance_x/admin_password))":"given-inline-pw"}"#;
    let config = repo().join("examples/adapter-python/broker.yml");
    let config = config.to_str().unwrap();
    let manifest = manifest.to_str().unwrap();
    let out = run(&[
        "adapter",
        "call",
        "create-binding",
        "--config",
        config,
        "--previous-manifest",
        manifest,
        "--secrets",
        secrets,
        "--show-envelope",
    ]);
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("given-inline-pw"), "{stdout}");
    assert!(stderr.contains("given-inline-pw"), "inline secrets are shown: {stderr}");
    assert!(stderr.contains("prefer --secrets @FILE"), "{stderr}");

    let file = dir.path().join("secrets.json");
    std::fs::write(&file, secrets).unwrap();
    let at_file = format!("@{}", file.display());
    let out = run(&[
        "adapter",
        "call",
        "create-binding",
        "--config",
        config,
        "--previous-manifest",
        manifest,
        "--secrets",
        &at_file,
        "--show-envelope",
    ]);
    let stderr = text(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(!stderr.contains("given-inline-pw"), "secrets from a file are masked: {stderr}");
    assert!(stderr.contains("<masked>"), "{stderr}");
}

#[test]
fn adapter_call_exits_with_the_adapters_exit_code() {
    let f = Fixture::new("well-behaved");
    let manifest = f.dir.path().join("manifest.yml");
    std::fs::write(&manifest, "name: x\n").unwrap();
    let out = run(&[
        "adapter",
        "call",
        "delete-binding",
        "--config",
        f.config(),
        "--previous-manifest",
        manifest.to_str().unwrap(),
        "--binding-id",
        "never-created",
    ]);
    assert_eq!(out.status.code(), Some(41), "{}", text(&out.stderr));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("delete-binding: exit 41"), "{stderr}");
    assert!(
        stderr.contains("binding not found: never-created"),
        "the user-facing message is shown: {stderr}"
    );
}

#[test]
fn adapter_call_of_the_builtin_adapter_prints_dashboard_url_and_schemas() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("broker.yml");
    std::fs::copy(repo().join("config/default.yml"), &config).unwrap();
    let config = config.to_str().unwrap();
    let out = run(&["adapter", "call", "dashboard-url", "--config", config]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).starts_with("https://"), "{}", text(&out.stdout));
    let out = run(&["adapter", "call", "generate-plan-schemas", "--config", config]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let schemas: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(schemas["service_instance"]["create"]["parameters"].is_object());
    let out = run(&[
        "adapter",
        "call",
        "generate-manifest",
        "--config",
        config,
        "--operation",
        "upgrade",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("need --previous-manifest"));
}

#[test]
fn a_logged_credential_is_found_even_when_it_is_not_an_odb_secret() {
    // Legacy argv mode carries no secrets, so the fixture's password is a credential only.
    let f = Fixture::with(
        "stderr-no-secrets",
        "  use_stdin: false\n  allow_secrets_on_argv: true\n",
        "",
    );
    let (code, report) = check_json(f.config());
    assert_eq!(code, Some(1));
    let r = rule(&report, 0, "stderr-no-secrets");
    assert!(
        evidence(r)
            .contains("stderr contains credentials.password from create-binding (app binding)"),
        "{r:#}"
    );
    assert_eq!(failed_rules(&report), vec!["stderr-no-secrets"]);
}

#[test]
fn the_readme_shows_the_python_sample_as_it_is_in_the_repository() {
    let readme = std::fs::read_to_string(repo().join("README.md")).unwrap();
    let sample =
        std::fs::read_to_string(repo().join("examples/adapter-python/adapter.py")).unwrap();
    let section = readme
        .split("### A complete adapter in Python")
        .nth(1)
        .expect("the README has the section");
    let block = section
        .split("```python\n")
        .nth(1)
        .and_then(|b| b.split("```").next())
        .expect("the section shows the adapter");
    assert_eq!(block, sample, "update the README's copy of examples/adapter-python/adapter.py");
}

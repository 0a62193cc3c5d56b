//! Tests of the `test-adapter` binary itself: its default outputs, its scripting channels and their
//! precedence, its invocation log, and its answers to malformed input. The broker's tests rely on
//! all of these, so they are pinned here, independently of the broker.

use serde_json::{json, Value};
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// What one adapter run produced.
struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

/// Runs the adapter with `args`, a clean environment, and `stdin` (closed afterwards).
fn run(args: &[&str], stdin: &str) -> Run {
    let mut child = Command::new(env!("CARGO_BIN_EXE_test-adapter"))
        .args(args)
        .env_clear()
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("cannot start test-adapter");
    let mut input = child.stdin.take().unwrap();
    // In legacy mode the adapter may exit without reading stdin; a broken pipe is fine then.
    let _ = input.write_all(stdin.as_bytes());
    drop(input);
    let output = child.wait_with_output().unwrap();
    Run {
        code: output.status.code(),
        stdout: String::from_utf8(output.stdout).unwrap(),
        stderr: String::from_utf8(output.stderr).unwrap(),
    }
}

/// Runs `subcommand` in stdin mode with `inner` as its envelope object; the other four keys have
/// every field `""`, as the Go broker sends them.
fn run_sub(subcommand: &str, inner: Value) -> Run {
    run(&[subcommand], &envelope(subcommand, inner).to_string())
}

/// The full five-key envelope with `inner` under the subcommand's key.
fn envelope(subcommand: &str, inner: Value) -> Value {
    let mut envelope = json!({
        "generate_manifest": {"service_deployment": "", "plan": "", "previous_plan": "",
            "previous_manifest": "", "request_parameters": "", "previous_secrets": "",
            "previous_configs": "", "uaa_client": ""},
        "dashboard_url": {"instance_id": "", "plan": "", "manifest": ""},
        "create_binding": {"binding_id": "", "bosh_vms": "", "manifest": "",
            "request_parameters": "", "secrets": "", "dns_addresses": ""},
        "delete_binding": {"binding_id": "", "bosh_vms": "", "manifest": "",
            "request_parameters": "", "secrets": "", "dns_addresses": ""},
        "generate_plan_schemas": {"plan": ""},
    });
    envelope[subcommand.replace('-', "_")] = inner;
    envelope
}

fn service_deployment() -> Value {
    json!({
        "deployment_name": "service-instance_abc",
        "releases": [
            {"name": "redis", "version": "1.0.0", "jobs": ["redis-server"]},
            {"name": "metrics", "version": "2.3.4", "jobs": ["exporter"]},
        ],
        "stemcells": [{"stemcell_os": "ubuntu-jammy", "stemcell_version": "1.404"}],
    })
}

fn plan(properties: Value) -> Value {
    json!({
        "properties": properties,
        "lifecycle_errands": {},
        "instance_groups": [
            {"name": "redis-server", "vm_type": "small", "instances": 3,
             "networks": ["default"], "azs": ["z1", "z2"]},
            {"name": "smoke", "vm_type": "tiny", "instances": 1, "networks": ["default"],
             "azs": ["z1"], "lifecycle": "errand"},
        ],
    })
}

/// A generate-manifest envelope object for a create (or an update when `previous_manifest` is
/// not empty).
fn manifest_input(properties: Value, parameters: Value, previous_manifest: &str) -> Value {
    json!({
        "service_deployment": service_deployment().to_string(),
        "plan": plan(properties).to_string(),
        "previous_plan": if previous_manifest.is_empty() { "null".to_string() } else { plan(json!({})).to_string() },
        "previous_manifest": previous_manifest,
        "request_parameters": json!({"service_id": "svc", "plan_id": "plan", "parameters": parameters}).to_string(),
        "previous_secrets": "null",
        "previous_configs": "null",
        "uaa_client": "null",
    })
}

/// A create-binding / delete-binding envelope object.
fn binding_input(manifest: &str, parameters: Value) -> Value {
    json!({
        "binding_id": "binding-1",
        "bosh_vms": json!({"redis-server": ["10.0.0.1", "10.0.0.2"], "proxy": ["10.0.1.1"]}).to_string(),
        "manifest": manifest,
        "request_parameters": json!({"plan_id": "plan", "service_id": "svc", "app_guid": "app", "parameters": parameters}).to_string(),
        "secrets": "null",
        "dns_addresses": json!({"redis-address": "q-s0.redis-server.default.x.bosh"}).to_string(),
    })
}

/// Parses generate-manifest's JSON output and its manifest YAML.
fn parse_manifest_output(stdout: &str) -> (Value, Value) {
    let output: Value = serde_json::from_str(stdout).expect("generate-manifest output is JSON");
    let manifest: Value =
        serde_yaml::from_str(output["manifest"].as_str().expect("manifest is a string"))
            .expect("manifest is YAML");
    (output, manifest)
}

/// Generates a manifest with `properties` on the plan, for binding tests.
fn generated_manifest(properties: Value) -> String {
    let result = run_sub("generate-manifest", manifest_input(properties, json!({}), ""));
    assert_eq!(result.code, Some(0), "{}", result.stderr);
    let output: Value = serde_json::from_str(&result.stdout).unwrap();
    output["manifest"].as_str().unwrap().to_string()
}

#[test]
fn generate_manifest_builds_the_manifest_from_deployment_plan_and_parameters() {
    let result = run_sub(
        "generate-manifest",
        manifest_input(json!({"plan_prop": 1}), json!({"maxmemory": "1gb"}), ""),
    );
    assert_eq!(result.code, Some(0), "stderr: {}", result.stderr);
    assert!(!result.stdout.ends_with('\n'), "no trailing newline in stdin mode");
    assert!(result.stdout.starts_with("{\"manifest\":"));
    let (output, manifest) = parse_manifest_output(&result.stdout);
    assert_eq!(output["secrets"], Value::Null);
    assert_eq!(output["configs"], Value::Null);
    assert_eq!(
        manifest,
        json!({
            "name": "service-instance_abc",
            "releases": [{"name": "redis", "version": "1.0.0"}, {"name": "metrics", "version": "2.3.4"}],
            "stemcells": [{"alias": "default", "os": "ubuntu-jammy", "version": "1.404"}],
            "instance_groups": [
                {"name": "redis-server", "instances": 3, "jobs": [], "vm_type": "small",
                 "stemcell": "default", "azs": ["z1", "z2"], "networks": [{"name": "default"}]},
                {"name": "smoke", "lifecycle": "errand", "instances": 1, "jobs": [],
                 "vm_type": "tiny", "stemcell": "default", "azs": ["z1"],
                 "networks": [{"name": "default"}]},
            ],
            "update": {"canaries": 1, "canary_watch_time": "1000-30000",
                       "update_watch_time": "1000-30000", "max_in_flight": 1},
            "properties": {"maxmemory": "1gb"},
        })
    );
}

#[test]
fn generate_manifest_merges_parameters_over_the_previous_manifest_properties() {
    let previous = "name: service-instance_abc\nproperties:\n  maxmemory: 1gb\n  keep: me\n";
    let result = run_sub(
        "generate-manifest",
        manifest_input(json!({}), json!({"maxmemory": "2gb"}), previous),
    );
    assert_eq!(result.code, Some(0), "stderr: {}", result.stderr);
    let (_, manifest) = parse_manifest_output(&result.stdout);
    assert_eq!(manifest["properties"], json!({"maxmemory": "2gb", "keep": "me"}));
}

#[test]
fn generate_manifest_copies_plan_test_switches_into_the_manifest() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let script = json!({"create-binding": {"exit_code": 49}});
    let properties = json!({"adapter_script": script, "adapter_state_dir": state});
    let result = run_sub("generate-manifest", manifest_input(properties, json!({}), ""));
    assert_eq!(result.code, Some(0), "stderr: {}", result.stderr);
    let (_, manifest) = parse_manifest_output(&result.stdout);
    assert_eq!(manifest["properties"]["adapter_script"], script);
    assert_eq!(manifest["properties"]["adapter_state_dir"], json!(state));

    // A plan without the switches removes the ones a previous manifest carried.
    let previous = serde_yaml::to_string(&manifest).unwrap();
    let result = run_sub("generate-manifest", manifest_input(json!({}), json!({}), &previous));
    assert_eq!(result.code, Some(0), "stderr: {}", result.stderr);
    let (_, manifest) = parse_manifest_output(&result.stdout);
    assert_eq!(manifest["properties"], json!({}));
}

#[test]
fn generate_manifest_returns_secrets_and_configs_when_asked() {
    let result = run_sub(
        "generate-manifest",
        manifest_input(
            json!({"adapter_configs": {"cloud": "vm_types: []\n"}}),
            json!({"adapter_secrets": {"admin_password": "s3cr3t"}}),
            "",
        ),
    );
    assert_eq!(result.code, Some(0), "stderr: {}", result.stderr);
    let (output, manifest) = parse_manifest_output(&result.stdout);
    assert_eq!(output["secrets"], json!({"admin_password": "s3cr3t"}));
    assert_eq!(output["configs"], json!({"cloud": "vm_types: []\n"}));
    assert_eq!(manifest["properties"], json!({"admin_password": "((odb_secret:admin_password))"}));
    assert!(!result.stdout.contains("s3cr3t\\n"));
    assert!(!output["manifest"].as_str().unwrap().contains("s3cr3t"));
}

#[test]
fn generate_manifest_in_legacy_mode_prints_raw_yaml() {
    let result = run(
        &[
            "generate-manifest",
            &service_deployment().to_string(),
            &plan(json!({})).to_string(),
            &json!({"parameters": {"a": "b"}}).to_string(),
            "",
            "null",
        ],
        "",
    );
    assert_eq!(result.code, Some(0), "stderr: {}", result.stderr);
    assert!(result.stdout.ends_with('\n'));
    let manifest: Value = serde_yaml::from_str(&result.stdout).unwrap();
    assert_eq!(manifest["name"], "service-instance_abc");
    assert_eq!(manifest["properties"], json!({"a": "b"}));
}

#[test]
fn generate_manifest_rejects_fields_the_sdk_rejects() {
    let mut input = manifest_input(json!({}), json!({}), "");
    input["request_parameters"] = json!("");
    let result = run_sub("generate-manifest", input);
    assert_eq!(result.code, Some(1));
    assert_eq!(result.stdout, "");
    assert!(result.stderr.contains("unmarshalling requestParams"), "{}", result.stderr);

    let mut input = manifest_input(json!({}), json!({}), "");
    input["previous_plan"] = json!("");
    let result = run_sub("generate-manifest", input);
    assert_eq!(result.code, Some(1));
    assert!(result.stderr.contains("unmarshalling previous service plan"));

    let mut input = manifest_input(json!({}), json!({}), "");
    input["plan"] = json!({"instance_groups": []});
    let result = run_sub("generate-manifest", input);
    assert_eq!(result.code, Some(1));
    assert_eq!(result.stdout, "");
    assert!(result.stderr.contains("must be a JSON string"), "{}", result.stderr);
}

#[test]
fn create_binding_echoes_what_it_was_given() {
    let manifest = generated_manifest(json!({}));
    let result = run_sub("create-binding", binding_input(&manifest, json!({"role": "reader"})));
    assert_eq!(result.code, Some(0), "stderr: {}", result.stderr);
    assert!(result.stdout.ends_with('\n'));
    let output: Value = serde_json::from_str(&result.stdout).unwrap();
    let credentials = &output["credentials"];
    assert_eq!(credentials["binding_id"], "binding-1");
    assert_eq!(credentials["hosts"], json!(["10.0.1.1", "10.0.0.1", "10.0.0.2"]));
    assert_eq!(
        credentials["bosh_vms"],
        json!({"redis-server": ["10.0.0.1", "10.0.0.2"], "proxy": ["10.0.1.1"]})
    );
    assert_eq!(
        credentials["dns_addresses"],
        json!({"redis-address": "q-s0.redis-server.default.x.bosh"})
    );
    assert_eq!(credentials["parameters"], json!({"role": "reader"}));
    assert_eq!(credentials["secrets"], Value::Null);
}

#[test]
fn create_binding_rejects_an_empty_bosh_vms_field() {
    let mut input = binding_input("", json!({}));
    input["bosh_vms"] = json!("");
    let result = run_sub("create-binding", input);
    assert_eq!(result.code, Some(1));
    assert_eq!(result.stdout, "");
    assert!(result.stderr.contains("unmarshalling BOSH VMs"));
}

#[test]
fn delete_binding_prints_nothing() {
    let result = run_sub("delete-binding", binding_input("", json!({})));
    assert_eq!(result.code, Some(0), "stderr: {}", result.stderr);
    assert_eq!(result.stdout, "");
}

#[test]
fn dashboard_url_is_derived_from_the_instance_id() {
    let result = run_sub(
        "dashboard-url",
        json!({"instance_id": "inst-1", "plan": plan(json!({})).to_string(), "manifest": ""}),
    );
    assert_eq!(result.code, Some(0), "stderr: {}", result.stderr);
    assert_eq!(result.stdout, "{\"dashboard_url\":\"https://dashboard.example.com/inst-1\"}\n");
}

#[test]
fn generate_plan_schemas_is_not_implemented_by_default() {
    let result = run_sub("generate-plan-schemas", json!({"plan": plan(json!({})).to_string()}));
    assert_eq!(result.code, Some(10));
    assert_eq!(result.stdout, "");
    assert!(result.stderr.contains("not implemented"));
}

#[test]
fn generate_plan_schemas_returns_the_plan_schemas() {
    let schema = json!({"$schema": "http://json-schema.org/draft-04/schema#", "type": "object",
        "properties": {"maxmemory": {"type": "string"}}});
    let properties =
        json!({"adapter_schemas": {"instance_create": schema, "binding_create": schema}});
    let expected = json!({
        "service_instance": {"create": {"parameters": schema}, "update": {"parameters": null}},
        "service_binding": {"create": {"parameters": schema}},
    });
    for result in [
        run_sub("generate-plan-schemas", json!({"plan": plan(properties.clone()).to_string()})),
        run(&["generate-plan-schemas", "-plan-json", &plan(properties.clone()).to_string()], ""),
    ] {
        assert_eq!(result.code, Some(0), "stderr: {}", result.stderr);
        assert!(result.stdout.ends_with('\n'));
        let output: Value = serde_json::from_str(&result.stdout).unwrap();
        assert_eq!(output, expected);
    }
}

#[test]
fn a_script_sets_exit_code_stdout_and_stderr_verbatim() {
    let script =
        json!({"exit_code": 42, "stdout": "app GUID not provided: x", "stderr": "line 1\nline 2"});
    let result = run_sub(
        "generate-manifest",
        manifest_input(json!({}), json!({"adapter_script": script}), ""),
    );
    assert_eq!(result.code, Some(42));
    assert_eq!(result.stdout, "app GUID not provided: x");
    assert_eq!(result.stderr, "line 1\nline 2");
}

#[test]
fn a_script_can_repeat_output_to_make_it_large() {
    let script = json!({"generate-manifest": {"exit_code": 1, "stdout": "0123456789", "stdout_repeat": 100000}});
    let result = run_sub(
        "generate-manifest",
        manifest_input(json!({"adapter_script": script}), json!({}), ""),
    );
    assert_eq!(result.code, Some(1));
    assert_eq!(result.stdout.len(), 1_000_000);
}

#[test]
fn parameter_scripts_win_over_plan_scripts_which_win_over_manifest_scripts() {
    let plan_script = json!({"create-binding": {"exit_code": 49, "stdout": "from plan"}});
    let manifest_script = json!({"create-binding": {"exit_code": 41, "stdout": "from manifest"}});
    let parameter_script = json!({"exit_code": 42, "stdout": "from parameters"});

    // generate-manifest: parameters over plan.
    let result = run_sub(
        "generate-manifest",
        manifest_input(
            json!({"adapter_script": {"generate-manifest": {"exit_code": 3}}}),
            json!({"adapter_script": {"exit_code": 4}}),
            "",
        ),
    );
    assert_eq!(result.code, Some(4));
    let result = run_sub(
        "generate-manifest",
        manifest_input(
            json!({"adapter_script": {"generate-manifest": {"exit_code": 3}}}),
            json!({}),
            "",
        ),
    );
    assert_eq!(result.code, Some(3));

    // A plan script keyed to another subcommand does not apply.
    let result = run_sub(
        "generate-manifest",
        manifest_input(json!({"adapter_script": plan_script}), json!({}), ""),
    );
    assert_eq!(result.code, Some(0), "stderr: {}", result.stderr);

    // create-binding: the plan's script, copied into the manifest by generate-manifest.
    let manifest = generated_manifest(json!({"adapter_script": plan_script}));
    let result = run_sub("create-binding", binding_input(&manifest, json!({})));
    assert_eq!(result.code, Some(49));
    assert_eq!(result.stdout, "from plan");

    // create-binding: parameters win over the manifest.
    let result = run_sub(
        "create-binding",
        binding_input(&manifest, json!({"adapter_script": parameter_script})),
    );
    assert_eq!(result.code, Some(42));
    assert_eq!(result.stdout, "from parameters");

    // A manifest written by hand carries its own script.
    let manifest = format!("name: x\nproperties:\n  adapter_script: {}\n", manifest_script);
    let result = run_sub("create-binding", binding_input(&manifest, json!({})));
    assert_eq!(result.code, Some(41));
    assert_eq!(result.stdout, "from manifest");

    // dashboard-url: plan over manifest.
    let result = run_sub(
        "dashboard-url",
        json!({
            "instance_id": "i",
            "plan": plan(json!({"adapter_script": {"dashboard-url": {"exit_code": 7}}})).to_string(),
            "manifest": "properties:\n  adapter_script:\n    dashboard-url:\n      exit_code: 8\n",
        }),
    );
    assert_eq!(result.code, Some(7));
}

#[test]
fn a_script_with_a_long_sleep_hangs() {
    let script = json!({"sleep_seconds": 600, "stdout": "never printed"});
    let stdin = envelope(
        "generate-manifest",
        manifest_input(json!({}), json!({"adapter_script": script}), ""),
    )
    .to_string();
    let mut child = Command::new(env!("CARGO_BIN_EXE_test-adapter"))
        .arg("generate-manifest")
        .env_clear()
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    input.write_all(stdin.as_bytes()).unwrap();
    drop(input);
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(1) {
        assert!(child.try_wait().unwrap().is_none(), "the adapter exited instead of hanging");
        std::thread::sleep(Duration::from_millis(50));
    }
    child.kill().unwrap();
    let output = child.wait_with_output().unwrap();
    assert_eq!(output.stdout, b"");
}

#[test]
fn a_short_sleep_delays_the_answer() {
    let script = json!({"sleep_seconds": 0.3, "stdout": "late", "exit_code": 1});
    let started = Instant::now();
    let result = run_sub(
        "generate-manifest",
        manifest_input(json!({}), json!({"adapter_script": script}), ""),
    );
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert_eq!(result.code, Some(1));
    assert_eq!(result.stdout, "late");
}

#[test]
fn a_script_can_abort_the_adapter() {
    let result = run_sub(
        "generate-manifest",
        manifest_input(json!({}), json!({"adapter_script": {"abort": true}}), ""),
    );
    assert_eq!(result.code, None, "killed by a signal, no exit code");
}

#[test]
fn invocations_are_logged_with_argv_stdin_and_environment() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let properties = json!({"adapter_state_dir": state});
    let stdin = envelope("generate-manifest", manifest_input(properties.clone(), json!({}), ""))
        .to_string();
    let result = run(&["generate-manifest"], &stdin);
    assert_eq!(result.code, Some(0), "stderr: {}", result.stderr);

    // Bindings find the state dir through the generated manifest.
    let (_, manifest) = parse_manifest_output(&result.stdout);
    let manifest = serde_yaml::to_string(&manifest).unwrap();
    let result = run_sub("delete-binding", binding_input(&manifest, json!({})));
    assert_eq!(result.code, Some(0), "stderr: {}", result.stderr);

    let lines = read_log(&state);
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["subcommand"], "generate-manifest");
    assert_eq!(lines[0]["stdin"], stdin);
    assert_eq!(lines[0]["env"], json!({}), "the test ran the adapter with env_clear");
    assert_eq!(lines[0]["argv"][1], "generate-manifest");
    assert_eq!(lines[0]["argv"].as_array().unwrap().len(), 2);
    assert!(lines[0]["pid"].as_u64().is_some());
    assert_eq!(lines[1]["subcommand"], "delete-binding");
}

#[test]
fn invocations_are_logged_before_a_script_runs_and_in_legacy_mode_without_stdin() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let properties =
        json!({"adapter_state_dir": state, "adapter_script": {"dashboard-url": {"exit_code": 5}}});
    let result = run(&["dashboard-url", "inst-1", &plan(properties).to_string(), ""], "");
    assert_eq!(result.code, Some(5));
    let lines = read_log(&state);
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0]["subcommand"], "dashboard-url");
    assert_eq!(lines[0]["stdin"], Value::Null);
    assert_eq!(lines[0]["argv"][2], "inst-1");
}

#[test]
fn a_script_can_leave_a_child_process_behind() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let properties = json!({"adapter_state_dir": state,
        "adapter_script": {"dashboard-url": {"spawn_child_sleep_seconds": 0.2}}});
    let started = Instant::now();
    let result = run_sub(
        "dashboard-url",
        json!({"instance_id": "i", "plan": plan(properties).to_string(), "manifest": ""}),
    );
    assert_eq!(result.code, Some(0));
    // The child holds stdout open, so collecting output waits for it too.
    assert!(started.elapsed() >= Duration::from_millis(200));
    let pids = std::fs::read_to_string(state.join("child_pids")).unwrap();
    assert_eq!(pids.lines().count(), 1);
}

#[test]
fn malformed_stdin_exits_1_with_the_reason_on_stderr() {
    for (stdin, reason) in [
        ("", "expecting parameters to be passed via stdin"),
        ("{not json", "error unmarshalling input params JSON"),
        ("[1, 2]", "error unmarshalling input params JSON"),
        ("{\"generate_manifest\": \"oops\"}", "error unmarshalling input params JSON"),
        ("{}", "unmarshalling service deployment"),
    ] {
        let result = run(&["generate-manifest"], stdin);
        assert_eq!(result.code, Some(1), "stdin {stdin:?}");
        assert_eq!(result.stdout, "", "stdin {stdin:?}");
        assert!(result.stderr.contains(reason), "stdin {stdin:?}: {}", result.stderr);
    }
}

#[test]
fn unknown_or_missing_subcommands_exit_1() {
    let result = run(&["frobnicate"], "{}");
    assert_eq!(result.code, Some(1));
    assert!(result.stderr.contains("unknown subcommand: frobnicate"));
    let result = run(&[], "");
    assert_eq!(result.code, Some(1));
    assert!(result.stderr.contains("the following commands are supported"));
}

#[test]
fn legacy_mode_with_too_few_arguments_exits_1() {
    let result = run(&["create-binding", "binding-1"], "");
    assert_eq!(result.code, Some(1));
    assert!(result.stderr.contains("Missing arguments for create-binding"));
}

/// Reads `<state>/invocations.jsonl`.
fn read_log(state: &Path) -> Vec<Value> {
    broker_tests::read_invocations(state)
}

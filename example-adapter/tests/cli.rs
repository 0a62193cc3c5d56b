//! End-to-end tests: run the built `example-service-adapter` with stdin envelopes shaped
//! exactly as the Go broker sends them (all five keys, unused fields `""`, `"null"` for
//! absent previous plan/secrets/configs/UAA client) and with the legacy positional form,
//! and check exit codes and output shapes.

use std::io::Write;
use std::process::{Command, Stdio};

use serde_json::{json, Value};
use service_adapter::bosh::BoshManifest;

const BIN: &str = env!("CARGO_BIN_EXE_example-service-adapter");
const INSTANCE_ID: &str = "6f1c2a7e-1d2b-4c3d-9e8f-0a1b2c3d4e5f";

struct Output {
    code: i32,
    stdout: String,
    stderr: String,
}

fn run(args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(BIN)
        .args(args)
        .env_clear()
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the adapter");
    // In legacy mode the adapter never reads stdin and may exit before the write: a broken
    // pipe is expected then, and the exit code and output tell the rest.
    if let Err(e) = child.stdin.take().unwrap().write_all(stdin.as_bytes()) {
        assert_eq!(e.kind(), std::io::ErrorKind::BrokenPipe, "{e}");
    }
    let out = child.wait_with_output().unwrap();
    Output {
        code: out.status.code().expect("exited normally"),
        stdout: String::from_utf8(out.stdout).unwrap(),
        stderr: String::from_utf8(out.stderr).unwrap(),
    }
}

/// The whole envelope with every field `""`, then `section` filled in.
fn envelope(section: &str, fields: Value) -> String {
    let mut env = json!({
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
    for (k, v) in fields.as_object().unwrap() {
        env[section][k] = v.clone();
    }
    // The Go broker writes with json.Encoder: a trailing newline.
    format!("{env}\n")
}

fn service_deployment() -> String {
    json!({
        "deployment_name": format!("service-instance_{INSTANCE_ID}"),
        "releases": [{"name": "redis", "version": "7.2.4", "jobs": ["redis-server", "redis-smoke-tests"]}],
        "stemcells": [{"stemcell_os": "ubuntu-jammy", "stemcell_version": "1.404"}],
    })
    .to_string()
}

fn cache_small() -> String {
    json!({
        "properties": {"persistence": false, "maxmemory_mb": 256, "max_clients": 1000},
        "lifecycle_errands": {},
        "instance_groups": [{"name": "redis-server", "vm_type": "small", "instances": 1,
            "networks": ["default"], "azs": ["z1"]}],
    })
    .to_string()
}

fn persistent() -> String {
    json!({
        "properties": {"persistence": true, "maxmemory_mb": 1024, "max_clients": 10000},
        "lifecycle_errands": {},
        "instance_groups": [{"name": "redis-server", "vm_type": "medium", "persistent_disk_type": "10GB",
            "instances": 3, "networks": ["default"], "azs": ["z1", "z2", "z3"]}],
        "update": {"canaries": 1, "canary_watch_time": "30000-240000",
            "update_watch_time": "30000-240000", "max_in_flight": 1},
    })
    .to_string()
}

fn provision_params(parameters: Value) -> String {
    json!({
        "service_id": "svc-id", "plan_id": "plan-id", "organization_guid": "org-guid",
        "space_guid": "space-guid",
        "context": {"platform": "cloudfoundry", "organization_guid": "org-guid",
            "space_guid": "space-guid", "instance_name": "my-redis"},
        "parameters": parameters,
    })
    .to_string()
}

fn update_params(parameters: Value) -> String {
    json!({
        "service_id": "svc-id", "plan_id": "plan-id",
        "previous_values": {"plan_id": "plan-id", "service_id": "svc-id",
            "organization_id": "org-guid", "space_id": "space-guid"},
        "context": {"platform": "cloudfoundry", "instance_name": "my-redis"},
        "parameters": parameters,
    })
    .to_string()
}

fn create(plan: &str, parameters: Value) -> Output {
    run(
        &["generate-manifest"],
        &envelope(
            "generate_manifest",
            json!({
                "service_deployment": service_deployment(), "plan": plan,
                "previous_plan": "null", "previous_manifest": "",
                "request_parameters": provision_params(parameters),
                "previous_secrets": "null", "previous_configs": "null", "uaa_client": "null",
            }),
        ),
    )
}

fn regenerate(plan: &str, previous_plan: &str, previous_manifest: &str, rp: &str) -> Output {
    run(
        &["generate-manifest"],
        &envelope(
            "generate_manifest",
            json!({
                "service_deployment": service_deployment(), "plan": plan,
                "previous_plan": previous_plan, "previous_manifest": previous_manifest,
                "request_parameters": rp,
                "previous_secrets": "null", "previous_configs": "{}", "uaa_client": "null",
            }),
        ),
    )
}

/// Checks the stdin-mode generate-manifest output and returns the manifest text.
fn manifest_text(out: &Output) -> String {
    assert_eq!(out.code, 0, "stderr: {}", out.stderr);
    assert!(!out.stdout.ends_with('\n'), "no trailing newline");
    let doc: Value = serde_json::from_str(&out.stdout).unwrap();
    let keys: Vec<&String> = doc.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["configs", "labels", "manifest", "secrets"]);
    assert_eq!(doc["secrets"], Value::Null);
    assert_eq!(doc["configs"], Value::Null);
    assert_eq!(doc["labels"], json!({"service": "redis-example"}));
    doc["manifest"].as_str().unwrap().to_string()
}

fn redis_props(manifest_yaml: &str) -> Value {
    let m = BoshManifest::from_yaml(manifest_yaml).unwrap().unwrap();
    m.instance_groups[0].jobs[0].properties["redis"].clone()
}

#[test]
fn generate_manifest_for_a_new_instance() {
    let out = create(&persistent(), json!({"maxclients": 500}));
    let yaml = manifest_text(&out);
    assert!(yaml.starts_with(&format!("name: service-instance_{INSTANCE_ID}\n")));
    assert!(yaml.contains("        persistence: \"yes\"\n"), "{yaml}");
    assert!(yaml.contains("\nupdate:\n"), "{yaml}");
    let redis = redis_props(&yaml);
    assert_eq!(redis["maxclients"], 500);
    assert_eq!(redis["maxmemory"], "1024mb");
    assert_eq!(redis["password"].as_str().unwrap().len(), 32);
    assert!(out.stderr.starts_with("[odb-sdk] handling generate-manifest\n"));
}

#[test]
fn update_and_upgrade_keep_the_password_and_settings() {
    let first = manifest_text(&create(&persistent(), json!({"maxclients": 500})));
    let password = redis_props(&first)["password"].clone();

    let updated = manifest_text(&regenerate(
        &persistent(),
        &persistent(),
        &first,
        &update_params(json!({"maxmemory_policy": "allkeys-lfu"})),
    ));
    let redis = redis_props(&updated);
    assert_eq!(redis["password"], password);
    assert_eq!(redis["maxclients"], 500);
    assert_eq!(redis["maxmemory_policy"], "allkeys-lfu");

    let upgraded =
        manifest_text(&regenerate(&persistent(), &persistent(), &updated, r#"{"context":null}"#));
    assert_eq!(upgraded, updated);

    // The pending-changes check sends `{}` and the existing plan twice.
    let pending = manifest_text(&regenerate(&persistent(), &persistent(), &updated, "{}"));
    assert_eq!(pending, updated);
}

#[test]
fn adapter_errors_go_to_stdout_with_exit_1() {
    let out = create(&cache_small(), json!({"foo": "bar", "baz": 1}));
    assert_eq!(out.code, 1);
    assert_eq!(out.stdout, "unsupported parameter(s) for this service plan: baz, foo");
    assert!(out
        .stderr
        .contains("[odb-sdk] unsupported parameter(s) for this service plan: baz, foo"));

    let first = manifest_text(&create(&persistent(), json!({})));
    let out = regenerate(&cache_small(), &persistent(), &first, &update_params(json!({})));
    assert_eq!(out.code, 1);
    assert!(
        out.stdout
            .starts_with("cannot reduce redis-server from 3 to 1 instances: data would be lost."),
        "{}",
        out.stdout
    );
}

#[test]
fn generate_manifest_legacy_positional_form_prints_raw_yaml() {
    let out = run(
        &[
            "generate-manifest",
            &service_deployment(),
            &cache_small(),
            &provision_params(json!({})),
            "",
            "null",
        ],
        "ignored stdin",
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stdout.ends_with('\n'));
    assert!(out.stdout.contains("persistence: \"no\""));
    assert!(BoshManifest::from_yaml(&out.stdout).unwrap().is_some());
}

fn binding_fields(manifest: &str, parameters: Value, app_guid: Option<&str>) -> Value {
    let mut rp = json!({"plan_id": "plan-id", "service_id": "svc-id", "parameters": parameters});
    if let Some(guid) = app_guid {
        rp["app_guid"] = json!(guid);
        rp["bind_resource"] = json!({"app_guid": guid});
        rp["context"] = json!({"platform": "cloudfoundry"});
    }
    json!({
        "binding_id": "binding-1",
        "bosh_vms": r#"{"redis-server":["10.0.8.5","10.0.8.6"]}"#,
        "manifest": manifest,
        "request_parameters": rp.to_string(),
        "secrets": "null",
        "dns_addresses": "{}",
    })
}

#[test]
fn create_binding_returns_credentials() {
    let manifest = manifest_text(&create(&cache_small(), json!({})));
    let password = redis_props(&manifest)["password"].clone();
    let out = run(
        &["create-binding"],
        &envelope("create_binding", binding_fields(&manifest, json!({}), Some("app-guid"))),
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stdout.ends_with('\n'));
    let doc: Value = serde_json::from_str(&out.stdout).unwrap();
    let creds = &doc["credentials"];
    assert_eq!(creds["host"], "10.0.8.5");
    assert_eq!(creds["hosts"], json!(["10.0.8.5", "10.0.8.6"]));
    assert_eq!(creds["port"], 6379);
    assert_eq!(creds["password"], password);
    assert_eq!(creds["uri"], format!("redis://:{}@10.0.8.5:6379", password.as_str().unwrap()));

    let mut fields = binding_fields(&manifest, json!({}), Some("app-guid"));
    fields["dns_addresses"] = json!(r#"{"redis-address":"q-s0.redis-server.default.x.bosh"}"#);
    let out = run(&["create-binding"], &envelope("create_binding", fields));
    let doc: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(doc["credentials"]["host"], "q-s0.redis-server.default.x.bosh");
    assert_eq!(doc["credentials"]["dns_address"], "q-s0.redis-server.default.x.bosh");
}

#[test]
fn create_binding_typed_and_plain_errors() {
    let manifest = manifest_text(&create(&cache_small(), json!({})));
    let out = run(
        &["create-binding"],
        &envelope("create_binding", binding_fields(&manifest, json!({"app_scoped": true}), None)),
    );
    assert_eq!(out.code, 42, "{}", out.stderr);
    assert!(out.stdout.starts_with("app GUID not provided: binding binding-1"));

    let mut fields = binding_fields(&manifest, json!({}), Some("app-guid"));
    fields["bosh_vms"] = json!("{}");
    let out = run(&["create-binding"], &envelope("create_binding", fields));
    assert_eq!(out.code, 1);
    assert!(out.stdout.starts_with("no redis-server VMs found"));
}

#[test]
fn create_binding_legacy_positional_form() {
    let manifest = manifest_text(&create(&cache_small(), json!({})));
    let rp = json!({"app_guid": "a", "plan_id": "p", "service_id": "s", "parameters": {}});
    let out = run(
        &[
            "create-binding",
            "binding-1",
            r#"{"redis-server":["10.0.8.5"]}"#,
            &manifest,
            &rp.to_string(),
        ],
        "",
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    let doc: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(doc["credentials"]["host"], "10.0.8.5");
}

#[test]
fn delete_binding_succeeds_with_empty_stdout() {
    let manifest = manifest_text(&create(&cache_small(), json!({})));
    let fields = json!({
        "binding_id": "binding-1",
        "bosh_vms": r#"{"redis-server":["10.0.8.5"]}"#,
        "manifest": manifest,
        "request_parameters": r#"{"plan_id":"plan-id","service_id":"svc-id"}"#,
        "secrets": "null",
        "dns_addresses": "{}",
    });
    let out = run(&["delete-binding"], &envelope("delete_binding", fields));
    assert_eq!((out.code, out.stdout.as_str()), (0, ""), "{}", out.stderr);

    // A deployment that is already gone: no manifest, no VMs.
    let fields = json!({
        "binding_id": "binding-1", "bosh_vms": "null", "manifest": "",
        "request_parameters": r#"{"plan_id":"plan-id","service_id":"svc-id"}"#,
        "secrets": "null", "dns_addresses": "null",
    });
    let out = run(&["delete-binding"], &envelope("delete_binding", fields));
    assert_eq!((out.code, out.stdout.as_str()), (0, ""), "{}", out.stderr);
}

#[test]
fn dashboard_url_both_forms() {
    let expected = format!(
        "{{\"dashboard_url\":\"https://redis-dashboard.example.com/instances/{INSTANCE_ID}\"}}\n"
    );
    let out = run(
        &["dashboard-url"],
        &envelope(
            "dashboard_url",
            json!({"instance_id": INSTANCE_ID, "plan": cache_small(), "manifest": ""}),
        ),
    );
    assert_eq!((out.code, out.stdout.as_str()), (0, expected.as_str()));
    let out = run(&["dashboard-url", INSTANCE_ID, &cache_small(), ""], "");
    assert_eq!((out.code, out.stdout.as_str()), (0, expected.as_str()));
}

#[test]
fn generate_plan_schemas_both_forms() {
    let out = run(
        &["generate-plan-schemas"],
        &envelope("generate_plan_schemas", json!({"plan": persistent()})),
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stdout.ends_with('\n'));
    let doc: Value = serde_json::from_str(&out.stdout).unwrap();
    let create = &doc["service_instance"]["create"]["parameters"];
    assert_eq!(create["$schema"], "http://json-schema.org/draft-04/schema#");
    assert_eq!(create["properties"]["maxclients"]["maximum"], 10000);
    assert_eq!(create["additionalProperties"], false);
    assert_eq!(doc["service_instance"]["update"]["parameters"], *create);
    assert_eq!(
        doc["service_binding"]["create"]["parameters"]["properties"]["app_scoped"]["type"],
        "boolean"
    );

    let legacy = run(&["generate-plan-schemas", "-plan-json", &persistent()], "");
    assert_eq!((legacy.code, legacy.stdout), (0, out.stdout));
}

#[test]
fn dispatch_errors() {
    let out = run(&["frobnicate"], "");
    assert_eq!((out.code, out.stdout.as_str()), (1, ""));
    assert!(out.stderr.contains(
        "unknown subcommand: frobnicate. The following commands are supported: create-binding, \
         dashboard-url, delete-binding, generate-manifest, generate-plan-schemas"
    ));

    let out = run(&[], "");
    assert_eq!(out.code, 1);

    for bad in ["{not json", "", r#"{"generate_manifest":"#] {
        let out = run(&["generate-manifest"], bad);
        assert_eq!((out.code, out.stdout.as_str()), (1, ""), "stdin {bad:?}");
    }
    let out = run(&["generate-manifest"], "{not json");
    assert!(out
        .stderr
        .contains("[odb-sdk] error unmarshalling input params JSON, error: invalid character"));
}

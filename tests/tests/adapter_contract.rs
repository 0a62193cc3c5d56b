//! Black-box tests of what the broker hands the service adapter, read from the test adapter's
//! invocation log: the stdin envelope on create and on update, the request parameters, the clean
//! environment, and the legacy positional-argument mode (`use_stdin: false`).

mod common;

use broker_tests::{
    bind_body, context, provision_body, unique_id, update_body, BrokerConfig, ORGANIZATION_GUID,
    PLAN_LARGE, PLAN_SMALL, SERVICE_ID, SPACE_GUID,
};
use common::{
    envelope_section, invocations_of, json_field, provision_ready, start, OPERATION_TIMEOUT,
};
use serde_json::{json, Value};

/// The five top-level keys of the stdin envelope.
const ENVELOPE_KEYS: [&str; 5] = [
    "generate_manifest",
    "dashboard_url",
    "create_binding",
    "delete_binding",
    "generate_plan_schemas",
];

#[test]
fn the_create_envelope_has_every_section_and_only_string_fields() {
    let config = BrokerConfig::new().with_adapter_state_dir();
    let state_dir = config.adapter_state_dir();
    let (_broker, client) = start(&config);
    let id = unique_id("instance");
    provision_ready(&client, &id, PLAN_SMALL, json!({"maxmemory": "1gb"}));

    let generated = invocations_of(&state_dir, "generate-manifest");
    assert_eq!(generated.len(), 1, "{generated:?}");
    let stdin = generated[0]["stdin"].as_str().expect("stdin mode");
    let envelope: Value = serde_json::from_str(stdin).expect("the envelope is JSON");
    let object = envelope.as_object().expect("the envelope is an object");
    let mut keys: Vec<&str> = object.keys().map(String::as_str).collect();
    keys.sort_unstable();
    let mut expected = ENVELOPE_KEYS.to_vec();
    expected.sort_unstable();
    assert_eq!(keys, expected, "{stdin}");
    for (key, section) in object {
        let section =
            section.as_object().unwrap_or_else(|| panic!("{key} is not an object: {stdin}"));
        for (field, value) in section {
            assert!(value.is_string(), "{key}.{field} is not a string: {value}");
        }
    }

    let gm = &envelope["generate_manifest"];
    assert_eq!(gm["previous_plan"], "null");
    assert_eq!(gm["previous_manifest"], "");
    assert_eq!(gm["previous_secrets"], "null");
    assert_eq!(gm["previous_configs"], "null");
    assert_eq!(gm["uaa_client"], "null");
    let deployment = json_field(gm, "service_deployment");
    assert_eq!(deployment["deployment_name"], format!("service-instance_{id}"));
    let plan = json_field(gm, "plan");
    assert_eq!(plan["instance_groups"][0]["instances"], 1);
}

#[test]
fn request_parameters_carry_ids_guids_parameters_and_context() {
    let config = BrokerConfig::new().with_adapter_state_dir();
    let state_dir = config.adapter_state_dir();
    let (_broker, client) = start(&config);

    let with_context = unique_id("instance");
    provision_ready(&client, &with_context, PLAN_SMALL, json!({"maxmemory": "1gb"}));
    // Without parameters and without context.
    let bare = unique_id("instance");
    let mut body = provision_body(SERVICE_ID, PLAN_LARGE, Value::Null);
    body.as_object_mut().unwrap().remove("context");
    let response = client.provision(&bare, &body, true);
    assert_eq!(response.status, 202, "{}", response.text);

    let generated = invocations_of(&state_dir, "generate-manifest");
    assert_eq!(generated.len(), 2);
    let first =
        json_field(&envelope_section(&generated[0], "generate_manifest"), "request_parameters");
    assert_eq!(first["service_id"], SERVICE_ID);
    assert_eq!(first["plan_id"], PLAN_SMALL);
    assert_eq!(first["organization_guid"], ORGANIZATION_GUID);
    assert_eq!(first["space_guid"], SPACE_GUID);
    assert_eq!(first["parameters"], json!({"maxmemory": "1gb"}));
    assert_eq!(first["context"], context());

    let second =
        json_field(&envelope_section(&generated[1], "generate_manifest"), "request_parameters");
    assert_eq!(second["plan_id"], PLAN_LARGE);
    assert_eq!(second["parameters"], json!({}));
    assert!(second.get("context").is_none(), "{second}");
}

#[test]
fn the_adapter_runs_with_a_clean_environment() {
    let config = BrokerConfig::new().with_adapter_state_dir();
    let state_dir = config.adapter_state_dir();
    let (_broker, client) = start(&config);
    let id = unique_id("instance");
    provision_ready(&client, &id, PLAN_SMALL, json!({}));
    let binding = client.bind(&id, "b1", &bind_body(SERVICE_ID, PLAN_SMALL, json!({})));
    assert_eq!(binding.status, 201, "{}", binding.text);

    let invocations = broker_tests::read_invocations(&state_dir);
    let subcommands: Vec<&str> =
        invocations.iter().filter_map(|inv| inv["subcommand"].as_str()).collect();
    assert_eq!(subcommands, ["generate-manifest", "dashboard-url", "create-binding"]);
    for invocation in &invocations {
        let env = invocation["env"].as_object().expect("env is logged");
        let names: Vec<&str> = env.keys().map(String::as_str).collect();
        assert_eq!(
            names,
            ["PATH"],
            "{}: the adapter sees more than PATH",
            invocation["subcommand"]
        );
    }
}

#[test]
fn the_update_envelope_carries_the_deployed_manifest_the_old_plan_and_previous_values() {
    let config = BrokerConfig::new().with_adapter_state_dir();
    let state_dir = config.adapter_state_dir();
    let (_broker, client) = start(&config);
    let id = unique_id("instance");
    provision_ready(&client, &id, PLAN_SMALL, json!({"maxmemory": "1gb"}));
    let response = client.update(
        &id,
        &update_body(SERVICE_ID, PLAN_LARGE, json!({"tls": true}), Some(PLAN_SMALL)),
        true,
    );
    assert_eq!(response.status, 202, "{}", response.text);
    assert_eq!(client.wait_for_operation(&id, None, OPERATION_TIMEOUT), "succeeded");

    // The manifest deployed on create is what dashboard-url was given then.
    let dashboards = invocations_of(&state_dir, "dashboard-url");
    let deployed = envelope_section(&dashboards[0], "dashboard_url")["manifest"].clone();
    assert!(deployed.as_str().is_some_and(|m| m.contains("maxmemory")), "{deployed}");

    // create, the pending-changes check (the instance as deployed: its own plan, no new
    // parameters), then the update itself.
    let generated = invocations_of(&state_dir, "generate-manifest");
    assert_eq!(generated.len(), 3);
    let check = envelope_section(&generated[1], "generate_manifest");
    assert_eq!(json_field(&check, "request_parameters"), json!({}));
    assert_eq!(check["previous_manifest"], deployed);
    assert_eq!(json_field(&check, "plan"), json_field(&check, "previous_plan"));
    let gm = envelope_section(&generated[2], "generate_manifest");
    assert_eq!(gm["previous_manifest"], deployed);
    let previous_plan = json_field(&gm, "previous_plan");
    assert_eq!(previous_plan["instance_groups"][0]["instances"], 1, "{previous_plan}");
    let plan = json_field(&gm, "plan");
    assert_eq!(plan["instance_groups"][0]["instances"], 3, "{plan}");
    let request_parameters = json_field(&gm, "request_parameters");
    assert_eq!(request_parameters["plan_id"], PLAN_LARGE);
    assert_eq!(request_parameters["parameters"], json!({"tls": true}));
    assert_eq!(
        request_parameters["previous_values"]["plan_id"], PLAN_SMALL,
        "{request_parameters}"
    );
    assert_eq!(
        request_parameters["previous_values"]["service_id"], SERVICE_ID,
        "{request_parameters}"
    );
}

#[test]
fn legacy_mode_passes_positional_arguments_and_no_stdin() {
    let config = BrokerConfig::new().with_adapter_state_dir().extra_yaml(
        serde_yaml::from_str("service_adapter: {use_stdin: false, allow_secrets_on_argv: true}")
            .unwrap(),
    );
    let state_dir = config.adapter_state_dir();
    let (_broker, client) = start(&config);
    let id = unique_id("instance");
    provision_ready(&client, &id, PLAN_SMALL, json!({"maxmemory": "1gb"}));
    let binding = client.bind(&id, "b1", &bind_body(SERVICE_ID, PLAN_SMALL, json!({})));
    assert_eq!(binding.status, 201, "{}", binding.text);
    let hosts = binding.body["credentials"]["hosts"].as_array().cloned();
    assert_eq!(hosts.map(|h| h.len()), Some(1), "{}", binding.text);

    let generated = invocations_of(&state_dir, "generate-manifest");
    assert_eq!(generated.len(), 1);
    assert_eq!(generated[0]["stdin"], Value::Null, "legacy mode reads no stdin");
    let argv = generated[0]["argv"].as_array().expect("argv is logged");
    // program, subcommand, service deployment, plan, request params, previous manifest,
    // previous plan.
    assert_eq!(argv.len(), 7, "{argv:?}");
    assert_eq!(argv[1], "generate-manifest");
    let deployment: Value = serde_json::from_str(argv[2].as_str().unwrap()).unwrap();
    assert_eq!(deployment["deployment_name"], format!("service-instance_{id}"));
    let request_parameters: Value = serde_json::from_str(argv[4].as_str().unwrap()).unwrap();
    assert_eq!(request_parameters["parameters"], json!({"maxmemory": "1gb"}));
    assert_eq!(argv[5], "");
    assert_eq!(argv[6], "null");

    let bindings = invocations_of(&state_dir, "create-binding");
    assert_eq!(bindings.len(), 1);
    assert_eq!(bindings[0]["stdin"], Value::Null);
    let argv = bindings[0]["argv"].as_array().unwrap();
    // program, subcommand, binding id, VMs, manifest, request params.
    assert_eq!(argv.len(), 6, "{argv:?}");
    assert_eq!(argv[1], "create-binding");
    assert_eq!(argv[2], "b1");
}

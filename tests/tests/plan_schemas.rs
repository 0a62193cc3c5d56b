//! Black-box tests of plan schemas (`broker.enable_plan_schemas`): the schemas the adapter's
//! generate-plan-schemas returns are published in the catalog under each plan's `schemas`, and
//! provision, update and bind parameters are validated against them (400 listing every
//! violation); schemas that are not draft-04, or an adapter without generate-plan-schemas, stop
//! the broker at start-up; with the flag off nothing is published or validated.

mod common;

use broker_tests::{
    bind_body, provision_body, unique_id, update_body, BrokerConfig, BrokerProcess, PLAN_LARGE,
    PLAN_SMALL, SERVICE_ID,
};
use common::{assert_error, invocations_of, provision_ready, start, OPERATION_TIMEOUT};
use serde_json::{json, Value};

const DRAFT_04: &str = "http://json-schema.org/draft-04/schema#";

/// Provision schema: `maxclients` an integer up to 100, `policy` one of `a`/`b`, nothing else.
fn create_schema() -> Value {
    json!({
        "$schema": DRAFT_04,
        "type": "object",
        "properties": {
            "maxclients": {"type": "integer", "maximum": 100},
            "policy": {"enum": ["a", "b"]}
        },
        "additionalProperties": false
    })
}

/// Update schema: `maxclients` an integer of at least 1, nothing else.
fn update_schema() -> Value {
    json!({
        "$schema": DRAFT_04,
        "type": "object",
        "properties": {"maxclients": {"type": "integer", "minimum": 1}},
        "additionalProperties": false
    })
}

/// Bind schema: `role` one of `ro`/`rw`, required.
fn binding_schema() -> Value {
    json!({
        "$schema": DRAFT_04,
        "type": "object",
        "properties": {"role": {"enum": ["ro", "rw"]}},
        "required": ["role"]
    })
}

fn schemas() -> Value {
    json!({
        "instance_create": create_schema(),
        "instance_update": update_schema(),
        "binding_create": binding_schema(),
    })
}

fn enable_schemas(config: BrokerConfig) -> BrokerConfig {
    config
        .extra_yaml(serde_yaml::to_value(json!({"broker": {"enable_plan_schemas": true}})).unwrap())
}

/// Schemas enabled, every plan with [`schemas`], invocations logged.
fn schema_config() -> BrokerConfig {
    enable_schemas(
        BrokerConfig::new()
            .property_on_all_plans("adapter_schemas", schemas())
            .with_adapter_state_dir(),
    )
}

fn catalog_plan<'a>(catalog: &'a Value, plan_id: &str) -> &'a Value {
    catalog["services"][0]["plans"]
        .as_array()
        .expect("plans is an array")
        .iter()
        .find(|p| p["id"] == plan_id)
        .unwrap_or_else(|| panic!("no plan {plan_id} in the catalog: {catalog}"))
}

/// Asserts a 400 whose description is the schema-validation failure and names every `needle`.
fn assert_schema_violation(response: &broker_tests::Response, needles: &[&str]) {
    assert_error(response, 400, "validation against JSON schema failed");
    let description = response.str_field("description").unwrap_or_default();
    for needle in needles {
        assert!(
            description.contains(needle),
            "description {description:?} does not name {needle:?}"
        );
    }
}

/// Starts a broker that must fail; returns the failure text (exit status and log).
fn start_fails(config: &BrokerConfig) -> String {
    match BrokerProcess::try_start(config) {
        Ok(_) => panic!("the broker started, but it should have refused to"),
        Err(message) => {
            assert!(
                message.contains("exited with") && !message.contains("exit status: 0"),
                "the broker did not exit with a failure: {message}"
            );
            message
        }
    }
}

#[test]
fn the_catalog_publishes_each_plans_schemas_with_their_draft_04_marker() {
    let (_broker, client) = start(&schema_config());
    let catalog = client.catalog();
    assert_eq!(catalog.status, 200, "{}", catalog.text);
    for plan_id in [PLAN_SMALL, PLAN_LARGE] {
        let schemas = &catalog_plan(&catalog.body, plan_id)["schemas"];
        assert_eq!(
            schemas["service_instance"]["create"]["parameters"],
            create_schema(),
            "{plan_id}: {schemas}"
        );
        assert_eq!(
            schemas["service_instance"]["update"]["parameters"],
            update_schema(),
            "{plan_id}: {schemas}"
        );
        assert_eq!(
            schemas["service_binding"]["create"]["parameters"],
            binding_schema(),
            "{plan_id}: {schemas}"
        );
        assert_eq!(schemas["service_instance"]["create"]["parameters"]["$schema"], DRAFT_04);
    }
}

#[test]
fn a_provision_violating_the_schema_is_400_naming_every_violation() {
    let config = schema_config();
    let state_dir = config.adapter_state_dir();
    let (_broker, client) = start(&config);
    let id = unique_id("instance");
    let response = client.provision(
        &id,
        &provision_body(SERVICE_ID, PLAN_SMALL, json!({"maxclients": 500, "policy": "c"})),
        true,
    );
    assert_schema_violation(&response, &["maxclients", "policy"]);
    // Wrong type and an unknown key are violations too.
    let other = client.provision(
        &id,
        &provision_body(SERVICE_ID, PLAN_SMALL, json!({"maxclients": "ten", "unknown": 1})),
        true,
    );
    assert_schema_violation(&other, &["maxclients", "unknown"]);
    // Nothing was created and the adapter was never asked for a manifest.
    assert_eq!(client.last_operation(&id, None).status, 404);
    assert!(invocations_of(&state_dir, "generate-manifest").is_empty());
}

#[test]
fn valid_parameters_pass_on_provision_update_and_bind() {
    let (_broker, client) = start(&schema_config());
    let id = unique_id("instance");
    provision_ready(&client, &id, PLAN_SMALL, json!({"maxclients": 100, "policy": "b"}));
    let update = client.update(
        &id,
        &update_body(SERVICE_ID, PLAN_SMALL, json!({"maxclients": 7}), None),
        true,
    );
    assert_eq!(update.status, 202, "{}", update.text);
    let operation = update.str_field("operation").unwrap_or_default().to_string();
    let state = client.wait_for_operation(&id, Some(&operation), OPERATION_TIMEOUT);
    assert_eq!(state, "succeeded");
    let binding = client.bind(
        &id,
        &unique_id("binding"),
        &bind_body(SERVICE_ID, PLAN_SMALL, json!({"role": "rw"})),
    );
    assert_eq!(binding.status, 201, "{}", binding.text);
    assert_eq!(binding.body["credentials"]["parameters"], json!({"role": "rw"}));
}

#[test]
fn an_update_violating_the_update_schema_is_400() {
    let config = schema_config();
    let state_dir = config.adapter_state_dir();
    let (_broker, client) = start(&config);
    let id = unique_id("instance");
    provision_ready(&client, &id, PLAN_SMALL, json!({"maxclients": 10}));
    // `policy` is allowed on provision but not by the update schema.
    let response = client.update(
        &id,
        &update_body(SERVICE_ID, PLAN_SMALL, json!({"maxclients": 0, "policy": "a"}), None),
        true,
    );
    assert_schema_violation(&response, &["maxclients", "policy"]);
    assert_eq!(invocations_of(&state_dir, "generate-manifest").len(), 1);
    let instance = client.get_instance(&id);
    assert_eq!(instance.status, 200, "{}", instance.text);
    assert_eq!(instance.body["parameters"], json!({"maxclients": 10}));
}

#[test]
fn a_bind_violating_the_binding_schema_is_400() {
    let config = schema_config();
    let state_dir = config.adapter_state_dir();
    let (_broker, client) = start(&config);
    let id = unique_id("instance");
    provision_ready(&client, &id, PLAN_SMALL, json!({}));
    let binding_id = unique_id("binding");
    let wrong =
        client.bind(&id, &binding_id, &bind_body(SERVICE_ID, PLAN_SMALL, json!({"role": "admin"})));
    assert_schema_violation(&wrong, &["role"]);
    // The schema requires `role`.
    let missing = client.bind(&id, &binding_id, &bind_body(SERVICE_ID, PLAN_SMALL, json!({})));
    assert_schema_violation(&missing, &["role"]);
    assert!(invocations_of(&state_dir, "create-binding").is_empty());
    assert_eq!(client.get_binding(&id, &binding_id).status, 404);
}

#[test]
fn a_schema_without_dollar_schema_stops_the_broker_naming_the_plan() {
    let mut bad = schemas();
    bad["instance_update"].as_object_mut().unwrap().remove("$schema");
    let config =
        enable_schemas(
            BrokerConfig::new()
                .plan_property(PLAN_SMALL, "adapter_schemas", schemas())
                .plan_property(PLAN_LARGE, "adapter_schemas", bad),
        );
    let message = start_fails(&config);
    assert!(message.contains("plan large"), "{message}");
    assert!(message.contains("instance update"), "{message}");
    assert!(message.contains("$schema"), "{message}");
}

#[test]
fn a_draft_07_schema_stops_the_broker_naming_the_plan() {
    let mut bad = schemas();
    bad["binding_create"]["$schema"] = json!("http://json-schema.org/draft-07/schema#");
    let config = enable_schemas(
        BrokerConfig::new().plan_property(PLAN_SMALL, "adapter_schemas", bad).plan_property(
            PLAN_LARGE,
            "adapter_schemas",
            schemas(),
        ),
    );
    let message = start_fails(&config);
    assert!(message.contains("plan small"), "{message}");
    assert!(message.contains("binding create"), "{message}");
    assert!(message.contains("draft-04"), "{message}");
}

#[test]
fn schemas_enabled_with_an_adapter_without_generate_plan_schemas_stops_the_broker() {
    // The default test adapter exits 10 (not implemented) for generate-plan-schemas.
    let message = start_fails(&enable_schemas(BrokerConfig::new()));
    assert!(message.contains("generate-plan-schemas"), "{message}");
    assert!(message.contains("enable_plan_schemas"), "{message}");
}

#[test]
fn with_schemas_disabled_nothing_is_published_or_validated() {
    // The adapter could answer generate-plan-schemas, but the flag is off (the default).
    let config = BrokerConfig::new()
        .property_on_all_plans("adapter_schemas", schemas())
        .with_adapter_state_dir();
    let state_dir = config.adapter_state_dir();
    let (_broker, client) = start(&config);
    let catalog = client.catalog();
    assert_eq!(catalog.status, 200, "{}", catalog.text);
    for plan_id in [PLAN_SMALL, PLAN_LARGE] {
        let plan = catalog_plan(&catalog.body, plan_id);
        assert!(plan.get("schemas").is_none(), "{plan}");
    }
    assert!(invocations_of(&state_dir, "generate-plan-schemas").is_empty());

    let id = unique_id("instance");
    provision_ready(&client, &id, PLAN_SMALL, json!({"maxclients": 500, "policy": "c"}));
    let update = client.update(
        &id,
        &update_body(SERVICE_ID, PLAN_SMALL, json!({"maxclients": 0}), None),
        true,
    );
    assert_eq!(update.status, 202, "{}", update.text);
    let operation = update.str_field("operation").unwrap_or_default().to_string();
    assert_eq!(client.wait_for_operation(&id, Some(&operation), OPERATION_TIMEOUT), "succeeded");
    let binding = client.bind(
        &id,
        &unique_id("binding"),
        &bind_body(SERVICE_ID, PLAN_SMALL, json!({"role": "admin"})),
    );
    assert_eq!(binding.status, 201, "{}", binding.text);
}

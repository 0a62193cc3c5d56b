//! End-to-end tests of the broker with its builtin example (Redis) adapter
//! (`service_adapter: {builtin: example}`) and plan schemas enabled: the whole life of an
//! instance from provision to deprovision with a binding in between, a refused scale-down plan
//! change (the adapter's message reaches the platform), and a parameter the adapter's schema
//! does not allow.

mod common;

use broker_tests::{
    bind_body, provision_body, unique_id, update_body, BrokerConfig, BrokerProcess, OsbClient,
    Response, PLAN_LARGE, PLAN_SMALL, SERVICE_ID,
};
use common::{assert_error, OPERATION_TIMEOUT};
use serde_json::{json, Value};

/// Starts the broker with the builtin example adapter in place of the test adapter, a release
/// that provides the `redis-server` job, and plan schemas enabled.
fn start_example() -> (BrokerProcess, OsbClient) {
    let config = BrokerConfig::new().extra_yaml(
        serde_yaml::to_value(json!({
            "broker": {"enable_plan_schemas": true},
            "service_deployment": {"releases": [
                {"name": "redis", "version": "7.2.4", "jobs": ["redis-server"]}
            ]},
        }))
        .expect("JSON converts to YAML"),
    );
    let mut yaml = config.render();
    let adapter = yaml
        .get_mut("service_adapter")
        .and_then(serde_yaml::Value::as_mapping_mut)
        .expect("service_adapter is a mapping");
    adapter.remove("path");
    adapter.insert("builtin".into(), "example".into());
    let broker = BrokerProcess::start_with_yaml(&config, yaml);
    let client = broker.client();
    (broker, client)
}

/// Asserts a 202 and waits for its operation to succeed.
fn wait_succeeded(client: &OsbClient, id: &str, response: &Response) {
    assert_eq!(response.status, 202, "{}", response.text);
    let operation = response
        .str_field("operation")
        .unwrap_or_else(|| panic!("no operation: {}", response.text))
        .to_string();
    assert_eq!(client.wait_for_operation(id, Some(&operation), OPERATION_TIMEOUT), "succeeded");
}

fn provision(client: &OsbClient, id: &str, plan_id: &str, parameters: Value) -> Response {
    client.provision(id, &provision_body(SERVICE_ID, plan_id, parameters), true)
}

#[test]
fn an_instance_lives_from_provision_through_binding_and_update_to_deprovision() {
    let (_broker, client) = start_example();
    let catalog = client.catalog();
    assert_eq!(catalog.status, 200, "{}", catalog.text);
    let small = &catalog.body["services"][0]["plans"][0];
    assert_eq!(small["id"], PLAN_SMALL);
    let create_schema = &small["schemas"]["service_instance"]["create"]["parameters"];
    assert_eq!(create_schema["$schema"], "http://json-schema.org/draft-04/schema#");
    assert!(create_schema["properties"].get("maxclients").is_some(), "{create_schema}");

    let id = unique_id("instance");
    let created = provision(&client, &id, PLAN_SMALL, json!({"maxclients": 500}));
    assert_eq!(
        created.str_field("dashboard_url"),
        Some(format!("https://redis-dashboard.example.com/instances/{id}").as_str()),
        "{}",
        created.text
    );
    assert_eq!(created.body["metadata"]["labels"]["service"], "redis-example", "{}", created.text);
    wait_succeeded(&client, &id, &created);

    let binding_id = unique_id("binding");
    let bound = client.bind(&id, &binding_id, &bind_body(SERVICE_ID, PLAN_SMALL, json!({})));
    assert_eq!(bound.status, 201, "{}", bound.text);
    let credentials = &bound.body["credentials"];
    let host = credentials["host"].as_str().unwrap_or_else(|| panic!("no host: {credentials}"));
    assert!(!host.is_empty(), "{credentials}");
    assert_eq!(credentials["port"], 6379, "{credentials}");
    let password =
        credentials["password"].as_str().unwrap_or_else(|| panic!("no password: {credentials}"));
    assert_eq!(password.len(), 32, "{credentials}");
    assert_eq!(credentials["uri"], format!("redis://:{password}@{host}:6379"), "{credentials}");

    let fetched = client.get_binding(&id, &binding_id);
    assert_eq!(fetched.status, 200, "{}", fetched.text);
    assert_eq!(fetched.body["credentials"], *credentials);

    let updated = client.update(
        &id,
        &update_body(SERVICE_ID, PLAN_SMALL, json!({"maxclients": 100}), None),
        true,
    );
    wait_succeeded(&client, &id, &updated);
    let instance = client.get_instance(&id);
    assert_eq!(instance.status, 200, "{}", instance.text);
    assert_eq!(instance.body["parameters"]["maxclients"], 100, "{}", instance.text);
    // The update kept the admin password that bindings hold.
    let rebound =
        client.bind(&id, &unique_id("binding"), &bind_body(SERVICE_ID, PLAN_SMALL, json!({})));
    assert_eq!(rebound.status, 201, "{}", rebound.text);
    assert_eq!(rebound.body["credentials"]["password"], password);

    let unbound = client.unbind(&id, &binding_id, SERVICE_ID, PLAN_SMALL);
    assert_eq!(unbound.status, 200, "{}", unbound.text);
    assert_eq!(client.get_binding(&id, &binding_id).status, 404);

    let deleted = client.deprovision(&id, SERVICE_ID, PLAN_SMALL, true);
    assert_eq!(deleted.status, 202, "{}", deleted.text);
    let operation = deleted.str_field("operation").unwrap_or_default().to_string();
    assert_eq!(client.wait_for_operation(&id, Some(&operation), OPERATION_TIMEOUT), "succeeded");
    let last = client.last_operation(&id, Some(&operation));
    assert_eq!(last.status, 200, "{}", last.text);
    assert_eq!(last.body["state"], "succeeded");
}

#[test]
fn a_scale_down_plan_change_is_500_with_the_adapters_message() {
    let (_broker, client) = start_example();
    let id = unique_id("instance");
    let created = provision(&client, &id, PLAN_LARGE, json!({}));
    wait_succeeded(&client, &id, &created);

    let response = client.update(
        &id,
        &update_body(SERVICE_ID, PLAN_SMALL, Value::Null, Some(PLAN_LARGE)),
        true,
    );
    assert_error(&response, 500, "cannot reduce redis-server from 3 to 1 instances");
    let instance = client.get_instance(&id);
    assert_eq!(instance.status, 200, "{}", instance.text);
    assert_eq!(instance.body["plan_id"], PLAN_LARGE);
}

#[test]
fn an_unknown_parameter_is_400_from_the_adapters_schema() {
    let (_broker, client) = start_example();
    let id = unique_id("instance");
    let response = provision(&client, &id, PLAN_SMALL, json!({"maxclients": 10, "shards": 4}));
    assert_error(&response, 400, "validation against JSON schema failed");
    assert!(
        response.text.contains("shards"),
        "the description does not name the parameter: {}",
        response.text
    );
    assert_eq!(client.last_operation(&id, None).status, 404);
}

//! Black-box tests of bindings: bind (`PUT .../service_bindings/:bid`), fetch and last operation
//! of a binding, and unbind (`DELETE .../service_bindings/:bid`), including the adapter's typed
//! exit codes (41, 42, 49) and how they map to OSB answers.

mod common;

use broker_tests::{bind_body, unique_id, BrokerConfig, PLAN_LARGE, PLAN_SMALL, SERVICE_ID};
use common::{assert_error, assert_error_code, provision_ready, provision_started, start};
use serde_json::{json, Value};

/// Bind parameters that script create-binding with `entry`.
fn bind_script(entry: Value) -> Value {
    json!({"adapter_script": {"create-binding": entry}})
}

#[test]
fn bind_answers_201_with_credentials_holding_the_vms_hosts() {
    let (_broker, client) = start(&BrokerConfig::new());
    let id = unique_id("instance");
    provision_ready(&client, &id, PLAN_LARGE, json!({}));
    let binding_id = unique_id("binding");
    let response =
        client.bind(&id, &binding_id, &bind_body(SERVICE_ID, PLAN_LARGE, json!({"role": "ro"})));
    assert_eq!(response.status, 201, "{}", response.text);
    let credentials = &response.body["credentials"];
    assert_eq!(credentials["binding_id"], binding_id.as_str());
    assert_eq!(credentials["parameters"], json!({"role": "ro"}));
    let hosts = credentials["hosts"].as_array().expect("hosts is an array");
    assert_eq!(hosts.len(), 3, "the large plan has three VMs: {}", response.text);
    assert!(hosts.iter().all(|h| h.as_str().is_some_and(|h| h.starts_with("10."))), "{hosts:?}");
    assert_eq!(credentials["bosh_vms"], json!({"redis-server": hosts}), "{}", response.text);
}

#[test]
fn an_identical_rebind_is_200_with_the_same_body_and_a_different_one_is_409() {
    let (_broker, client) = start(&BrokerConfig::new());
    let id = unique_id("instance");
    provision_ready(&client, &id, PLAN_SMALL, json!({}));
    let binding_id = unique_id("binding");
    let body = bind_body(SERVICE_ID, PLAN_SMALL, json!({"role": "ro"}));
    let first = client.bind(&id, &binding_id, &body);
    assert_eq!(first.status, 201, "{}", first.text);
    let again = client.bind(&id, &binding_id, &body);
    assert_eq!(again.status, 200, "{}", again.text);
    assert_eq!(again.body, first.body);

    let different =
        client.bind(&id, &binding_id, &bind_body(SERVICE_ID, PLAN_SMALL, json!({"role": "rw"})));
    assert_error(&different, 409, &binding_id);
}

#[test]
fn adapter_exit_49_on_bind_is_409() {
    let (_broker, client) = start(&BrokerConfig::new());
    let id = unique_id("instance");
    provision_ready(&client, &id, PLAN_SMALL, json!({}));
    let binding_id = unique_id("binding");
    let response = client.bind(
        &id,
        &binding_id,
        &bind_body(SERVICE_ID, PLAN_SMALL, bind_script(json!({"exit_code": 49}))),
    );
    assert_error(&response, 409, "binding already exists");
    assert_eq!(client.get_binding(&id, &binding_id).status, 404);
}

#[test]
fn adapter_exit_42_on_bind_is_422_requires_app() {
    let (_broker, client) = start(&BrokerConfig::new());
    let id = unique_id("instance");
    provision_ready(&client, &id, PLAN_SMALL, json!({}));
    let binding_id = unique_id("binding");
    let response = client.bind(
        &id,
        &binding_id,
        &bind_body(SERVICE_ID, PLAN_SMALL, bind_script(json!({"exit_code": 42}))),
    );
    assert_error_code(&response, 422, "RequiresApp");
    assert_eq!(client.get_binding(&id, &binding_id).status, 404);
}

#[test]
fn adapter_exit_1_with_stdout_on_bind_is_500_with_that_text() {
    let (_broker, client) = start(&BrokerConfig::new());
    let id = unique_id("instance");
    provision_ready(&client, &id, PLAN_SMALL, json!({}));
    let binding_id = unique_id("binding");
    let message = "binding quota exhausted: remove an old binding first";
    let response = client.bind(
        &id,
        &binding_id,
        &bind_body(
            SERVICE_ID,
            PLAN_SMALL,
            bind_script(json!({"exit_code": 1, "stdout": message, "stderr": "internal"})),
        ),
    );
    assert_eq!(response.status, 500, "{}", response.text);
    assert_eq!(response.body, json!({"description": message}));
    assert_eq!(client.get_binding(&id, &binding_id).status, 404);
}

#[test]
fn bind_to_an_unknown_instance_is_404() {
    let (_broker, client) = start(&BrokerConfig::new());
    let response =
        client.bind("no-such-instance", "b1", &bind_body(SERVICE_ID, PLAN_SMALL, json!({})));
    assert_error(&response, 404, "no-such-instance");
}

#[test]
fn bind_requires_service_id_and_plan_id() {
    let (_broker, client) = start(&BrokerConfig::new());
    let id = unique_id("instance");
    provision_ready(&client, &id, PLAN_SMALL, json!({}));
    for field in ["service_id", "plan_id"] {
        let binding_id = unique_id("binding");
        let mut body = bind_body(SERVICE_ID, PLAN_SMALL, json!({}));
        body.as_object_mut().unwrap().remove(field);
        let response = client.bind(&id, &binding_id, &body);
        assert_error(&response, 400, field);
        assert_eq!(client.get_binding(&id, &binding_id).status, 404);
    }
}

#[test]
fn bind_while_the_instance_is_provisioning_is_422_concurrency_error() {
    let (_broker, client) = start(&BrokerConfig::new().task_seconds(2));
    let id = unique_id("instance");
    provision_started(&client, &id, PLAN_SMALL, json!({}));
    let response = client.bind(&id, "b1", &bind_body(SERVICE_ID, PLAN_SMALL, json!({})));
    assert_error_code(&response, 422, "ConcurrencyError");
}

#[test]
fn get_binding_returns_credentials_and_parameters_and_its_last_operation_succeeded() {
    let (_broker, client) = start(&BrokerConfig::new());
    let id = unique_id("instance");
    provision_ready(&client, &id, PLAN_SMALL, json!({}));
    let binding_id = unique_id("binding");
    let created =
        client.bind(&id, &binding_id, &bind_body(SERVICE_ID, PLAN_SMALL, json!({"role": "ro"})));
    assert_eq!(created.status, 201, "{}", created.text);

    let fetched = client.get_binding(&id, &binding_id);
    assert_eq!(fetched.status, 200, "{}", fetched.text);
    assert_eq!(fetched.body["credentials"], created.body["credentials"]);
    assert_eq!(fetched.body["parameters"], json!({"role": "ro"}));

    let last = client.binding_last_operation(&id, &binding_id, None);
    assert_eq!(last.status, 200, "{}", last.text);
    assert_eq!(last.body["state"], "succeeded");

    let unknown = client.get_binding(&id, "no-such-binding");
    assert_error(&unknown, 404, "no-such-binding");
}

#[test]
fn unbind_answers_200_empty_and_the_binding_is_gone() {
    let (_broker, client) = start(&BrokerConfig::new());
    let id = unique_id("instance");
    provision_ready(&client, &id, PLAN_SMALL, json!({}));
    let binding_id = unique_id("binding");
    let created = client.bind(&id, &binding_id, &bind_body(SERVICE_ID, PLAN_SMALL, json!({})));
    assert_eq!(created.status, 201, "{}", created.text);
    let response = client.unbind(&id, &binding_id, SERVICE_ID, PLAN_SMALL);
    assert_eq!(response.status, 200, "{}", response.text);
    assert_eq!(response.body, json!({}));
    assert_eq!(client.get_binding(&id, &binding_id).status, 404);
    let again = client.unbind(&id, &binding_id, SERVICE_ID, PLAN_SMALL);
    assert_eq!(again.status, 410, "{}", again.text);
    assert_eq!(again.body, json!({}));
}

#[test]
fn unbind_of_an_unknown_binding_is_410() {
    let (_broker, client) = start(&BrokerConfig::new());
    let id = unique_id("instance");
    provision_ready(&client, &id, PLAN_SMALL, json!({}));
    let response = client.unbind(&id, "no-such-binding", SERVICE_ID, PLAN_SMALL);
    assert_eq!(response.status, 410, "{}", response.text);
    assert_eq!(response.body, json!({}));
    let no_instance = client.unbind("no-such-instance", "no-such-binding", SERVICE_ID, PLAN_SMALL);
    assert_eq!(no_instance.status, 410, "{}", no_instance.text);
}

#[test]
fn adapter_exit_41_on_unbind_is_410_and_the_binding_is_removed() {
    let config = BrokerConfig::new()
        .adapter_script(PLAN_SMALL, json!({"delete-binding": {"exit_code": 41}}));
    let (_broker, client) = start(&config);
    let id = unique_id("instance");
    provision_ready(&client, &id, PLAN_SMALL, json!({}));
    let binding_id = unique_id("binding");
    let created = client.bind(&id, &binding_id, &bind_body(SERVICE_ID, PLAN_SMALL, json!({})));
    assert_eq!(created.status, 201, "{}", created.text);
    let response = client.unbind(&id, &binding_id, SERVICE_ID, PLAN_SMALL);
    assert_eq!(response.status, 410, "{}", response.text);
    assert_eq!(response.body, json!({}));
    assert_eq!(client.get_binding(&id, &binding_id).status, 404);
}

#[test]
fn unbind_requires_service_id_and_plan_id() {
    let (_broker, client) = start(&BrokerConfig::new());
    let id = unique_id("instance");
    provision_ready(&client, &id, PLAN_SMALL, json!({}));
    let binding_id = unique_id("binding");
    let created = client.bind(&id, &binding_id, &bind_body(SERVICE_ID, PLAN_SMALL, json!({})));
    assert_eq!(created.status, 201, "{}", created.text);
    let no_service = client.unbind(&id, &binding_id, "", PLAN_SMALL);
    assert_error(&no_service, 400, "service_id");
    let no_plan = client.unbind(&id, &binding_id, SERVICE_ID, "");
    assert_error(&no_plan, 400, "plan_id");
    assert_eq!(client.get_binding(&id, &binding_id).status, 200);
}

#[test]
fn binding_rotation_needs_a_rotatable_plan_and_an_existing_predecessor() {
    let mut config = BrokerConfig::new();
    config.plan_mut(PLAN_SMALL).extra.insert("binding_rotatable".into(), true.into());
    let (_broker, client) = start(&config);
    let catalog = client.catalog();
    let plans = catalog.body["services"][0]["plans"].as_array().unwrap().clone();
    let small = plans.iter().find(|p| p["id"] == PLAN_SMALL).unwrap();
    assert_eq!(small["binding_rotatable"], true, "{small}");

    let id = unique_id("instance");
    provision_ready(&client, &id, PLAN_SMALL, json!({}));
    let first = client.bind(&id, "first", &bind_body(SERVICE_ID, PLAN_SMALL, json!({})));
    assert_eq!(first.status, 201, "{}", first.text);
    let mut rotated = bind_body(SERVICE_ID, PLAN_SMALL, json!({}));
    rotated["predecessor_binding_id"] = json!("first");
    let second = client.bind(&id, "second", &rotated);
    assert_eq!(second.status, 201, "{}", second.text);
    // Both stay valid until deleted.
    assert_eq!(client.get_binding(&id, "first").status, 200);
    assert_eq!(client.get_binding(&id, "second").status, 200);

    let mut unknown = bind_body(SERVICE_ID, PLAN_SMALL, json!({}));
    unknown["predecessor_binding_id"] = json!("nope");
    assert_error(&client.bind(&id, "third", &unknown), 400, "predecessor_binding_id 'nope'");

    let large = unique_id("instance");
    provision_ready(&client, &large, PLAN_LARGE, json!({}));
    assert_eq!(client.bind(&large, "a", &bind_body(SERVICE_ID, PLAN_LARGE, json!({}))).status, 201);
    let mut not_rotatable = bind_body(SERVICE_ID, PLAN_LARGE, json!({}));
    not_rotatable["predecessor_binding_id"] = json!("a");
    assert_error(&client.bind(&large, "b", &not_rotatable), 400, "does not allow binding rotation");
}

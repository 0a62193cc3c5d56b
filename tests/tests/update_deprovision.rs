//! Black-box tests of updating (`PATCH /v2/service_instances/:id`) and deprovisioning
//! (`DELETE /v2/service_instances/:id`): request validation, plan changes, concurrency between
//! operations on one instance, idempotent re-sends, and the tombstone a completed delete leaves.

mod common;

use broker_tests::{
    provision_body, unique_id, update_body, BrokerConfig, PLAN_LARGE, PLAN_SMALL, SERVICE_ID,
};
use common::{
    assert_error, assert_error_code, envelope_section, invocations_of, json_field, provision_ready,
    provision_started, start, OPERATION_TIMEOUT,
};
use serde_json::{json, Value};

#[test]
fn update_answers_202_and_changes_the_plan() {
    let (_broker, client) = start(&BrokerConfig::new());
    let id = unique_id("instance");
    provision_ready(&client, &id, PLAN_SMALL, json!({}));
    let response = client.update(
        &id,
        &update_body(SERVICE_ID, PLAN_LARGE, Value::Null, Some(PLAN_SMALL)),
        true,
    );
    assert_eq!(response.status, 202, "{}", response.text);
    let operation = response.str_field("operation").expect("an operation").to_string();
    let in_flight = client.last_operation(&id, Some(&operation));
    assert_eq!(in_flight.status, 200);
    let state = client.wait_for_operation(&id, Some(&operation), OPERATION_TIMEOUT);
    assert_eq!(state, "succeeded");
    let last = client.last_operation(&id, Some(&operation));
    assert_eq!(last.body["description"], "Instance update completed");
    let instance = client.get_instance(&id);
    assert_eq!(instance.status, 200, "{}", instance.text);
    assert_eq!(instance.body["plan_id"], PLAN_LARGE);
}

#[test]
fn update_without_accepts_incomplete_is_422_async_required() {
    let (_broker, client) = start(&BrokerConfig::new());
    let id = unique_id("instance");
    provision_ready(&client, &id, PLAN_SMALL, json!({}));
    let response = client.update(
        &id,
        &update_body(SERVICE_ID, PLAN_LARGE, Value::Null, Some(PLAN_SMALL)),
        false,
    );
    assert_error_code(&response, 422, "AsyncRequired");
    assert_eq!(client.get_instance(&id).body["plan_id"], PLAN_SMALL);
}

#[test]
fn update_without_service_id_is_400() {
    let (_broker, client) = start(&BrokerConfig::new());
    let id = unique_id("instance");
    provision_ready(&client, &id, PLAN_SMALL, json!({}));
    let mut body = update_body(SERVICE_ID, PLAN_LARGE, Value::Null, Some(PLAN_SMALL));
    body.as_object_mut().unwrap().remove("service_id");
    let response = client.update(&id, &body, true);
    assert_error(&response, 400, "service_id");
}

#[test]
fn update_of_an_unknown_instance_is_404() {
    let (_broker, client) = start(&BrokerConfig::new());
    let response = client.update(
        "no-such-instance",
        &update_body(SERVICE_ID, PLAN_LARGE, Value::Null, Some(PLAN_SMALL)),
        true,
    );
    assert_error(&response, 404, "no-such-instance");
}

#[test]
fn a_plan_change_is_422_when_plans_are_not_updatable() {
    let (_broker, client) = start(&BrokerConfig::new().plan_updatable(false));
    let id = unique_id("instance");
    provision_ready(&client, &id, PLAN_SMALL, json!({}));
    let response = client.update(
        &id,
        &update_body(SERVICE_ID, PLAN_LARGE, Value::Null, Some(PLAN_SMALL)),
        true,
    );
    assert_error(&response, 422, "plan");
    // A parameters-only update on the same plan is still allowed.
    let same_plan = client.update(
        &id,
        &update_body(SERVICE_ID, PLAN_SMALL, json!({"maxmemory": "2gb"}), Some(PLAN_SMALL)),
        true,
    );
    assert_eq!(same_plan.status, 202, "{}", same_plan.text);
}

#[test]
fn update_while_another_operation_is_in_progress_is_422_concurrency_error() {
    let (_broker, client) = start(&BrokerConfig::new().task_seconds(2));
    let id = unique_id("instance");
    provision_started(&client, &id, PLAN_SMALL, json!({}));
    // While the provision runs.
    let during_provision = client.update(
        &id,
        &update_body(SERVICE_ID, PLAN_LARGE, Value::Null, Some(PLAN_SMALL)),
        true,
    );
    assert_error_code(&during_provision, 422, "ConcurrencyError");

    // While another update runs.
    let state = client.wait_for_operation(&id, None, OPERATION_TIMEOUT);
    assert_eq!(state, "succeeded");
    let first = client.update(
        &id,
        &update_body(SERVICE_ID, PLAN_SMALL, json!({"maxmemory": "2gb"}), Some(PLAN_SMALL)),
        true,
    );
    assert_eq!(first.status, 202, "{}", first.text);
    let second = client.update(
        &id,
        &update_body(SERVICE_ID, PLAN_LARGE, json!({"maxmemory": "3gb"}), Some(PLAN_SMALL)),
        true,
    );
    assert_error_code(&second, 422, "ConcurrencyError");
    // Fetching the instance while it is being updated.
    let fetched = client.get_instance(&id);
    assert_error_code(&fetched, 422, "ConcurrencyError");
    // Once the update has finished, the instance can be fetched with its new parameters.
    assert_eq!(client.wait_for_operation(&id, None, OPERATION_TIMEOUT), "succeeded");
    let fetched = client.get_instance(&id);
    assert_eq!(fetched.status, 200, "{}", fetched.text);
    assert_eq!(fetched.body["parameters"], json!({"maxmemory": "2gb"}));
}

#[test]
fn update_parameters_reach_the_adapter() {
    let config = BrokerConfig::new().with_adapter_state_dir();
    let state_dir = config.adapter_state_dir();
    let (_broker, client) = start(&config);
    let id = unique_id("instance");
    provision_ready(&client, &id, PLAN_SMALL, json!({"maxmemory": "1gb"}));
    let response = client.update(
        &id,
        &update_body(
            SERVICE_ID,
            PLAN_SMALL,
            json!({"maxmemory": "2gb", "tls": true}),
            Some(PLAN_SMALL),
        ),
        true,
    );
    assert_eq!(response.status, 202, "{}", response.text);
    let generated = invocations_of(&state_dir, "generate-manifest");
    assert_eq!(
        generated.len(),
        3,
        "one for create, one for the pending-changes check, one for update"
    );
    let section = envelope_section(&generated[2], "generate_manifest");
    let request_parameters = json_field(&section, "request_parameters");
    assert_eq!(request_parameters["parameters"], json!({"maxmemory": "2gb", "tls": true}));
    let state = client.wait_for_operation(&id, None, OPERATION_TIMEOUT);
    assert_eq!(state, "succeeded");
    let instance = client.get_instance(&id);
    assert_eq!(instance.body["parameters"], json!({"maxmemory": "2gb", "tls": true}));
}

#[test]
fn deprovision_answers_202_and_completes() {
    let (_broker, client) = start(&BrokerConfig::new());
    let id = unique_id("instance");
    provision_ready(&client, &id, PLAN_SMALL, json!({}));
    let response = client.deprovision(&id, SERVICE_ID, PLAN_SMALL, true);
    assert_eq!(response.status, 202, "{}", response.text);
    let operation = response.str_field("operation").expect("an operation").to_string();
    // A delete answer carries only the operation (no dashboard_url, no metadata).
    assert_eq!(response.body, json!({ "operation": operation }));
    let state = client.wait_for_operation(&id, Some(&operation), OPERATION_TIMEOUT);
    assert_eq!(state, "succeeded");
    assert_eq!(client.get_instance(&id).status, 404);
}

#[test]
fn deprovision_requires_service_id_and_plan_id() {
    let (_broker, client) = start(&BrokerConfig::new());
    let id = unique_id("instance");
    provision_ready(&client, &id, PLAN_SMALL, json!({}));
    let no_service = client.deprovision(&id, "", PLAN_SMALL, true);
    assert_error(&no_service, 400, "service_id");
    let no_plan = client.deprovision(&id, SERVICE_ID, "", true);
    assert_error(&no_plan, 400, "plan_id");
    let path = format!("/v2/service_instances/{id}?accepts_incomplete=true");
    let headers =
        [("Authorization", "Basic YWRtaW46cGFzc3dvcmQ="), ("X-Broker-API-Version", "2.17")];
    let neither = client.request("DELETE", &path, &headers, None);
    assert_eq!(neither.status, 400, "{}", neither.text);
    // The instance is untouched.
    assert_eq!(client.get_instance(&id).status, 200);
}

#[test]
fn deprovision_of_an_unknown_instance_is_410() {
    let (_broker, client) = start(&BrokerConfig::new());
    let response = client.deprovision("no-such-instance", SERVICE_ID, PLAN_SMALL, true);
    assert_eq!(response.status, 410, "{}", response.text);
    assert_eq!(response.body, json!({}));
}

#[test]
fn deprovision_without_accepts_incomplete_is_422_async_required() {
    let (_broker, client) = start(&BrokerConfig::new());
    let id = unique_id("instance");
    provision_ready(&client, &id, PLAN_SMALL, json!({}));
    let response = client.deprovision(&id, SERVICE_ID, PLAN_SMALL, false);
    assert_error_code(&response, 422, "AsyncRequired");
    assert_eq!(client.get_instance(&id).status, 200);
}

#[test]
fn a_repeated_deprovision_while_in_progress_returns_the_same_operation_then_410() {
    let (_broker, client) = start(&BrokerConfig::new().task_seconds(1));
    let id = unique_id("instance");
    provision_ready(&client, &id, PLAN_SMALL, json!({}));
    let first = client.deprovision(&id, SERVICE_ID, PLAN_SMALL, true);
    assert_eq!(first.status, 202, "{}", first.text);
    let again = client.deprovision(&id, SERVICE_ID, PLAN_SMALL, true);
    assert_eq!(again.status, 202, "{}", again.text);
    assert_eq!(again.body["operation"], first.body["operation"]);

    let state = client.wait_for_operation(&id, None, OPERATION_TIMEOUT);
    assert_eq!(state, "succeeded");
    let after = client.deprovision(&id, SERVICE_ID, PLAN_SMALL, true);
    assert_eq!(after.status, 410, "{}", after.text);
    assert_eq!(after.body, json!({}));
}

#[test]
fn last_operation_after_a_completed_deprovision_is_200_succeeded() {
    let (_broker, client) = start(&BrokerConfig::new());
    let id = unique_id("instance");
    provision_ready(&client, &id, PLAN_SMALL, json!({}));
    let response = client.deprovision(&id, SERVICE_ID, PLAN_SMALL, true);
    assert_eq!(response.status, 202, "{}", response.text);
    let operation = response.str_field("operation").unwrap().to_string();
    client.wait_for_operation(&id, Some(&operation), OPERATION_TIMEOUT);
    for operation in [Some(operation.as_str()), None] {
        let last = client.last_operation(&id, operation);
        assert_eq!(last.status, 200, "{operation:?}: {}", last.text);
        assert_eq!(last.body["state"], "succeeded");
        assert_eq!(last.body["description"], "Instance deletion completed");
    }
}

#[test]
fn deprovision_while_provisioning_is_422_concurrency_error() {
    let (_broker, client) = start(&BrokerConfig::new().task_seconds(2));
    let id = unique_id("instance");
    provision_started(&client, &id, PLAN_SMALL, json!({}));
    let response = client.deprovision(&id, SERVICE_ID, PLAN_SMALL, true);
    assert_error_code(&response, 422, "ConcurrencyError");
}

#[test]
fn provision_while_deprovisioning_is_422_concurrency_error() {
    let (_broker, client) = start(&BrokerConfig::new().task_seconds(2));
    let id = unique_id("instance");
    let body = provision_body(SERVICE_ID, PLAN_SMALL, json!({}));
    let created = client.provision(&id, &body, true);
    assert_eq!(created.status, 202, "{}", created.text);
    assert_eq!(client.wait_for_operation(&id, None, OPERATION_TIMEOUT), "succeeded");
    let delete = client.deprovision(&id, SERVICE_ID, PLAN_SMALL, true);
    assert_eq!(delete.status, 202, "{}", delete.text);
    let response = client.provision(&id, &body, true);
    assert_error_code(&response, 422, "ConcurrencyError");
}

//! Black-box tests of provisioning (`PUT /v2/service_instances/:id`), of fetching an instance
//! (`GET /v2/service_instances/:id`) and of polling its `last_operation`: the happy path, request
//! validation, idempotent and conflicting re-sends, maintenance_info, and failed director tasks.

mod common;

use broker_tests::{provision_body, unique_id, BrokerConfig, PLAN_LARGE, PLAN_SMALL, SERVICE_ID};
use common::{assert_error, assert_error_code, provision_ready, provision_started, start};
use serde_json::{json, Value};

#[test]
fn provision_answers_202_with_an_operation_and_the_adapters_dashboard_url() {
    let (_broker, client) = start(&BrokerConfig::new());
    let id = unique_id("instance");
    let response = client.provision(&id, &provision_body(SERVICE_ID, PLAN_SMALL, json!({})), true);
    assert_eq!(response.status, 202, "{}", response.text);
    let operation = response.str_field("operation").unwrap_or_default();
    assert!(!operation.is_empty(), "no operation: {}", response.text);
    assert_eq!(
        response.str_field("dashboard_url"),
        Some(format!("https://dashboard.example.com/{id}").as_str()),
        "{}",
        response.text
    );
    let state = client.wait_for_operation(&id, Some(operation), common::OPERATION_TIMEOUT);
    assert_eq!(state, "succeeded");
    let last = client.last_operation(&id, Some(operation));
    assert_eq!(last.status, 200);
    assert_eq!(last.body["state"], "succeeded");
    assert_eq!(last.body["description"], "Instance provisioning completed");
}

#[test]
fn provision_without_accepts_incomplete_is_422_async_required() {
    let (_broker, client) = start(&BrokerConfig::new());
    let id = unique_id("instance");
    let response = client.provision(&id, &provision_body(SERVICE_ID, PLAN_SMALL, json!({})), false);
    assert_error_code(&response, 422, "AsyncRequired");
    // Nothing was created.
    assert_eq!(client.last_operation(&id, None).status, 404);
}

#[test]
fn provision_requires_ids_and_guids() {
    let (_broker, client) = start(&BrokerConfig::new());
    for field in ["service_id", "plan_id", "organization_guid", "space_guid"] {
        let id = unique_id("instance");
        let mut body = provision_body(SERVICE_ID, PLAN_SMALL, json!({}));
        body.as_object_mut().unwrap().remove(field);
        let missing = client.provision(&id, &body, true);
        assert_error(&missing, 400, field);

        body[field] = json!("");
        let empty = client.provision(&id, &body, true);
        assert_error(&empty, 400, field);
        assert_eq!(client.last_operation(&id, None).status, 404, "{field}");
    }
}

#[test]
fn provision_with_an_unknown_service_or_plan_is_400() {
    let (_broker, client) = start(&BrokerConfig::new());
    let id = unique_id("instance");
    let service =
        client.provision(&id, &provision_body("other-service", PLAN_SMALL, json!({})), true);
    assert_error(&service, 400, "other-service");
    let plan = client.provision(&id, &provision_body(SERVICE_ID, "other-plan", json!({})), true);
    assert_error(&plan, 400, "other-plan");
    assert_eq!(client.last_operation(&id, None).status, 404);
}

#[test]
fn provision_with_a_malformed_body_is_400() {
    let (_broker, client) = start(&BrokerConfig::new());
    let id = unique_id("instance");
    let path = format!("/v2/service_instances/{id}?accepts_incomplete=true");
    let headers =
        [("Authorization", "Basic YWRtaW46cGFzc3dvcmQ="), ("X-Broker-API-Version", "2.17")];
    for (what, body) in [
        ("malformed JSON", "{\"service_id\": "),
        ("an array", "[1, 2]"),
        ("a string", "\"hello\""),
        ("empty", ""),
    ] {
        let response = client.request("PUT", &path, &headers, Some(body));
        assert_eq!(response.status, 400, "{what}: {}", response.text);
        assert!(
            response.str_field("description").is_some_and(|d| !d.is_empty()),
            "{what}: {}",
            response.text
        );
    }
    for parameters in [json!("a string"), json!([1]), json!(3)] {
        let mut body = provision_body(SERVICE_ID, PLAN_SMALL, Value::Null);
        body["parameters"] = parameters.clone();
        let response = client.provision(&id, &body, true);
        assert_error(&response, 400, "parameters");
    }
    assert_eq!(client.last_operation(&id, None).status, 404);
}

#[test]
fn an_identical_provision_while_in_progress_returns_the_same_operation() {
    let (_broker, client) = start(&BrokerConfig::new().task_seconds(2));
    let id = unique_id("instance");
    let body = provision_body(SERVICE_ID, PLAN_SMALL, json!({"maxmemory": "1gb"}));
    let first = client.provision(&id, &body, true);
    assert_eq!(first.status, 202, "{}", first.text);
    let again = client.provision(&id, &body, true);
    assert_eq!(again.status, 202, "{}", again.text);
    assert_eq!(again.body["operation"], first.body["operation"]);
    assert_eq!(again.body["dashboard_url"], first.body["dashboard_url"]);
}

#[test]
fn an_identical_provision_after_success_is_200_and_a_different_one_is_409() {
    let (_broker, client) = start(&BrokerConfig::new());
    let id = unique_id("instance");
    provision_ready(&client, &id, PLAN_SMALL, json!({"maxmemory": "1gb"}));

    let same = client.provision(
        &id,
        &provision_body(SERVICE_ID, PLAN_SMALL, json!({"maxmemory": "1gb"})),
        true,
    );
    assert_eq!(same.status, 200, "{}", same.text);
    assert_eq!(
        same.str_field("dashboard_url"),
        Some(format!("https://dashboard.example.com/{id}").as_str())
    );
    assert!(same.body.get("operation").is_none(), "{}", same.text);

    let other_plan = client.provision(
        &id,
        &provision_body(SERVICE_ID, PLAN_LARGE, json!({"maxmemory": "1gb"})),
        true,
    );
    assert_error(&other_plan, 409, &id);
    let other_parameters = client.provision(
        &id,
        &provision_body(SERVICE_ID, PLAN_SMALL, json!({"maxmemory": "2gb"})),
        true,
    );
    assert_error(&other_parameters, 409, &id);
}

#[test]
fn empty_maintenance_info_is_accepted() {
    let (_broker, client) = start(&BrokerConfig::new());
    let id = unique_id("instance");
    let mut body = provision_body(SERVICE_ID, PLAN_SMALL, json!({}));
    body["maintenance_info"] = json!({});
    let response = client.provision(&id, &body, true);
    assert_eq!(response.status, 202, "{}", response.text);
    assert!(response.str_field("operation").is_some());
}

#[test]
fn a_maintenance_info_version_on_a_plan_without_one_is_422_conflict() {
    let (_broker, client) = start(&BrokerConfig::new());
    let id = unique_id("instance");
    let mut body = provision_body(SERVICE_ID, PLAN_SMALL, json!({}));
    body["maintenance_info"] = json!({"version": "1.2.3"});
    let response = client.provision(&id, &body, true);
    assert_error_code(&response, 422, "MaintenanceInfoConflict");
    assert_eq!(client.last_operation(&id, None).status, 404);
}

#[test]
fn get_instance_returns_ids_and_parameters_after_success() {
    let (_broker, client) = start(&BrokerConfig::new());
    let id = unique_id("instance");
    provision_ready(&client, &id, PLAN_LARGE, json!({"maxmemory": "1gb", "n": 2}));
    let response = client.get_instance(&id);
    assert_eq!(response.status, 200, "{}", response.text);
    assert_eq!(response.body["service_id"], SERVICE_ID);
    assert_eq!(response.body["plan_id"], PLAN_LARGE);
    assert_eq!(response.body["parameters"], json!({"maxmemory": "1gb", "n": 2}));
    assert_eq!(response.body["dashboard_url"], format!("https://dashboard.example.com/{id}"));
}

#[test]
fn get_instance_is_404_for_unknown_and_for_provisioning_instances() {
    let (_broker, client) = start(&BrokerConfig::new().task_seconds(2));
    let unknown = client.get_instance("no-such-instance");
    assert_error(&unknown, 404, "no-such-instance");

    let id = unique_id("instance");
    provision_started(&client, &id, PLAN_SMALL, json!({}));
    let provisioning = client.get_instance(&id);
    assert_error(&provisioning, 404, &id);
}

#[test]
fn last_operation_reports_in_progress_then_succeeded() {
    // Long enough that a loaded machine still polls before the task ends.
    let (_broker, client) = start(&BrokerConfig::new().task_seconds(3));
    let id = unique_id("instance");
    let operation = provision_started(&client, &id, PLAN_SMALL, json!({}));
    let response = client.last_operation(&id, Some(&operation));
    assert_eq!(response.status, 200, "{}", response.text);
    assert_eq!(response.body["state"], "in progress");
    assert_eq!(response.body["description"], "Instance provisioning in progress");
    let state = client.wait_for_operation(&id, Some(&operation), common::OPERATION_TIMEOUT);
    assert_eq!(state, "succeeded");
}

#[test]
fn last_operation_without_or_with_an_unknown_operation_reports_the_latest() {
    let (_broker, client) = start(&BrokerConfig::new());
    let id = unique_id("instance");
    provision_ready(&client, &id, PLAN_SMALL, json!({}));
    for operation in [None, Some("not-an-operation"), Some("")] {
        let response = client.last_operation(&id, operation);
        assert_eq!(response.status, 200, "{operation:?}: {}", response.text);
        assert_eq!(response.body["state"], "succeeded", "{operation:?}");
        assert_eq!(
            response.body["description"], "Instance provisioning completed",
            "{operation:?}"
        );
    }
}

#[test]
fn last_operation_of_an_unknown_instance_is_404() {
    let (_broker, client) = start(&BrokerConfig::new());
    let response = client.last_operation("no-such-instance", Some("some-operation"));
    assert_error(&response, 404, "no-such-instance");
}

#[test]
fn a_failed_deploy_task_is_reported_as_failed_with_the_task_id() {
    let (_broker, client) = start(&BrokerConfig::new());
    let id = unique_id("instance");
    let operation =
        provision_started(&client, &id, PLAN_SMALL, json!({"simulate_task_failure": "deploy"}));
    let state = client.wait_for_operation(&id, Some(&operation), common::OPERATION_TIMEOUT);
    assert_eq!(state, "failed");
    let response = client.last_operation(&id, Some(&operation));
    assert_eq!(response.status, 200);
    let description = response.str_field("description").unwrap_or_default();
    assert!(description.starts_with("Instance provisioning failed"), "{description}");
    assert!(description.contains("task-id: "), "{description}");
    assert!(
        description.contains("the BOSH deploy did not succeed (BOSH task "),
        "the failing step is named: {description}"
    );
    assert!(description.contains(&id), "{description}");
    assert!(description.contains("operation: create"), "{description}");
    // The operator detail stays out of the user's view.
    assert!(!description.contains("simulated deploy failure"), "{description}");
}

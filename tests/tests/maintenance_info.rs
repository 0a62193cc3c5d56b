//! Black-box tests of maintenance_info and of out-of-date instances: the catalog publishes each
//! plan's maintenance_info (service-level values overlaid by the plan's, `private` as a hash);
//! provision and update check a requested version against the plan's; after the operator bumps
//! the version (the broker restarted on the same database), an update carrying only the new
//! maintenance_info is an upgrade, and an update with parameters on an outdated instance is
//! refused. Also the pending-changes check: after the operator changes the deployment (a new
//! release version), an update with parameters is refused unless
//! `broker.skip_check_for_pending_changes` is set.

mod common;

use broker_tests::{
    context, provision_body, unique_id, update_body, BrokerConfig, BrokerProcess, OsbClient,
    Response, PLAN_LARGE, PLAN_SMALL, SERVICE_ID,
};
use common::{
    assert_error, assert_error_code, envelope_section, invocations_of, json_field, provision_ready,
    OPERATION_TIMEOUT,
};
use serde_json::{json, Value};

/// The published hash of `private: {key: value}` (the Go broker's test vector).
const KEY_VALUE_HASH: &str = "81dc6f83e3da3843e6d79fc3cf866ed57e2a50fc89e1879053bef112dc889512";

/// The text of the 422 for an update of an instance with pending changes.
const OUT_OF_DATE: &str = "The service broker has been updated, and this service instance is out of date. Please contact your operator.";

fn yaml(value: Value) -> serde_yaml::Value {
    serde_yaml::to_value(value).expect("JSON converts to YAML")
}

/// Service-level maintenance_info at `version`, with a description, private and public entries.
fn with_maintenance_info(config: BrokerConfig, version: &str) -> BrokerConfig {
    config.extra_yaml(yaml(json!({
        "service_catalog": {"maintenance_info": {
            "version": version,
            "description": "service-wide maintenance",
            "private": {"key": "value"},
            "public": {"edition": "gold"},
        }}
    })))
}

/// Rewrites the config file from `config` and restarts the broker on it (same database).
fn restart_with(broker: &mut BrokerProcess, config: &BrokerConfig) -> OsbClient {
    let text = serde_yaml::to_string(&config.render()).expect("the config renders");
    std::fs::write(config.config_path(), text).expect("cannot rewrite the config file");
    broker.restart();
    broker.client()
}

fn catalog_plan(client: &OsbClient, plan_id: &str) -> Value {
    let catalog = client.catalog();
    assert_eq!(catalog.status, 200, "{}", catalog.text);
    catalog.body["services"][0]["plans"]
        .as_array()
        .expect("plans is an array")
        .iter()
        .find(|p| p["id"] == plan_id)
        .unwrap_or_else(|| panic!("no plan {plan_id}: {}", catalog.text))
        .clone()
}

/// `update_body` with `maintenance_info` set (and `previous_values.maintenance_info` when given).
fn update_with_mi(parameters: Value, version: &str, previous: Option<&str>) -> Value {
    let mut body = update_body(SERVICE_ID, PLAN_SMALL, parameters, Some(PLAN_SMALL));
    body["maintenance_info"] = json!({ "version": version });
    if let Some(previous) = previous {
        body["previous_values"]["maintenance_info"] = json!({ "version": previous });
    }
    body
}

/// Asserts a 202 and waits for the operation to succeed.
fn assert_accepted_and_succeeds(client: &OsbClient, id: &str, response: &Response) {
    assert_eq!(response.status, 202, "{}", response.text);
    let operation = response
        .str_field("operation")
        .unwrap_or_else(|| panic!("no operation: {}", response.text))
        .to_string();
    assert_eq!(client.wait_for_operation(id, Some(&operation), OPERATION_TIMEOUT), "succeeded");
}

#[test]
fn the_catalog_publishes_maintenance_info_per_plan_with_plan_overrides() {
    let mut config = with_maintenance_info(BrokerConfig::new(), "1.0.0");
    config.plan_mut(PLAN_LARGE).extra.insert(
        "maintenance_info".into(),
        yaml(json!({
            "version": "2.0.0",
            "description": "large maintenance",
            "public": {"size": "large"},
        })),
    );
    let (_broker, client) = common::start(&config);
    assert_eq!(
        catalog_plan(&client, PLAN_SMALL)["maintenance_info"],
        json!({
            "version": "1.0.0",
            "description": "service-wide maintenance",
            "public": {"edition": "gold"},
            "private": KEY_VALUE_HASH,
        })
    );
    assert_eq!(
        catalog_plan(&client, PLAN_LARGE)["maintenance_info"],
        json!({
            "version": "2.0.0",
            "description": "large maintenance",
            "public": {"edition": "gold", "size": "large"},
            "private": KEY_VALUE_HASH,
        })
    );
}

#[test]
fn without_maintenance_info_the_catalog_publishes_none() {
    let (_broker, client) = common::start(&BrokerConfig::new());
    for plan_id in [PLAN_SMALL, PLAN_LARGE] {
        let plan = catalog_plan(&client, plan_id);
        assert!(plan.get("maintenance_info").is_none(), "{plan}");
    }
}

#[test]
fn provision_checks_the_requested_version_and_get_instance_shows_it() {
    let (_broker, client) = common::start(&with_maintenance_info(BrokerConfig::new(), "1.0.0"));
    let id = unique_id("instance");
    let mut body = provision_body(SERVICE_ID, PLAN_SMALL, json!({}));
    body["maintenance_info"] = json!({"version": "0.9.0"});
    let mismatch = client.provision(&id, &body, true);
    assert_error_code(&mismatch, 422, "MaintenanceInfoConflict");
    assert!(
        mismatch
            .str_field("description")
            .is_some_and(|d| d.contains("does not match the catalog maintenance_info")),
        "{}",
        mismatch.text
    );
    assert_eq!(client.last_operation(&id, None).status, 404);

    body["maintenance_info"] = json!({"version": "1.0.0"});
    let matching = client.provision(&id, &body, true);
    assert_accepted_and_succeeds(&client, &id, &matching);
    let instance = client.get_instance(&id);
    assert_eq!(instance.status, 200, "{}", instance.text);
    assert_eq!(instance.body["maintenance_info"]["version"], "1.0.0");
}

#[test]
fn after_a_version_bump_an_update_with_only_maintenance_info_upgrades_the_instance() {
    let base = BrokerConfig::new().with_adapter_state_dir();
    let state_dir = base.adapter_state_dir();
    let config = with_maintenance_info(base.clone(), "1.0.0");
    let mut broker = BrokerProcess::start(&config);
    let id = unique_id("instance");
    provision_ready(&broker.client(), &id, PLAN_SMALL, json!({"maxmemory": "1gb"}));

    // The operator bumps the version and, in the same release, the deployment's release version:
    // an upgrade ships that change (it is not refused as a pending change).
    let bumped = with_maintenance_info(base, "1.1.0").extra_yaml(yaml(json!({
        "service_deployment": {"releases": [
            {"name": "redis", "version": "1.0.1", "jobs": ["redis-server"]}
        ]}
    })));
    let client = restart_with(&mut broker, &bumped);
    assert_eq!(catalog_plan(&client, PLAN_SMALL)["maintenance_info"]["version"], "1.1.0");
    let before = invocations_of(&state_dir, "generate-manifest").len();

    let upgrade = client.update(&id, &update_with_mi(Value::Null, "1.1.0", Some("1.0.0")), true);
    assert_accepted_and_succeeds(&client, &id, &upgrade);

    let generated = invocations_of(&state_dir, "generate-manifest");
    assert_eq!(
        generated.len(),
        before + 1,
        "an upgrade generates one manifest (no pending-changes check): {generated:?}"
    );
    let section = envelope_section(&generated[before], "generate_manifest");
    assert_eq!(json_field(&section, "request_parameters"), json!({ "context": context() }));
    let deployment = json_field(&section, "service_deployment");
    assert_eq!(deployment["releases"][0]["version"], "1.0.1");

    let instance = client.get_instance(&id);
    assert_eq!(instance.status, 200, "{}", instance.text);
    assert_eq!(instance.body["maintenance_info"]["version"], "1.1.0");
    assert_eq!(instance.body["parameters"], json!({"maxmemory": "1gb"}));

    // Up to date again: an ordinary update goes through.
    let update = client.update(
        &id,
        &update_body(SERVICE_ID, PLAN_SMALL, json!({"maxmemory": "2gb"}), None),
        true,
    );
    assert_accepted_and_succeeds(&client, &id, &update);
}

#[test]
fn an_update_with_parameters_of_an_outdated_instance_must_upgrade_first() {
    let base = BrokerConfig::new();
    let mut broker = BrokerProcess::start(&with_maintenance_info(base.clone(), "1.0.0"));
    let id = unique_id("instance");
    provision_ready(&broker.client(), &id, PLAN_SMALL, json!({}));
    let client = restart_with(&mut broker, &with_maintenance_info(base, "1.1.0"));

    let response = client.update(
        &id,
        &update_body(SERVICE_ID, PLAN_SMALL, json!({"maxmemory": "2gb"}), None),
        true,
    );
    assert_error(&response, 422, "service instance needs to be upgraded before updating");
    // Nothing started: the instance still reports its provision and its old version.
    let last = client.last_operation(&id, None);
    assert_eq!(last.body["description"], "Instance provisioning completed", "{}", last.text);
    let instance = client.get_instance(&id);
    assert_eq!(instance.body["maintenance_info"]["version"], "1.0.0");
    assert_eq!(instance.body["parameters"], json!({}));
}

#[test]
fn an_update_with_a_mismatching_maintenance_info_is_422_conflict() {
    let (_broker, client) = common::start(&with_maintenance_info(BrokerConfig::new(), "1.0.0"));
    let id = unique_id("instance");
    provision_ready(&client, &id, PLAN_SMALL, json!({}));
    let response = client.update(&id, &update_with_mi(Value::Null, "3.0.0", None), true);
    assert_error_code(&response, 422, "MaintenanceInfoConflict");
    assert!(
        response
            .str_field("description")
            .is_some_and(|d| d.contains("does not match the catalog maintenance_info")),
        "{}",
        response.text
    );
}

#[test]
fn maintenance_info_on_an_update_when_the_catalog_has_none_is_422_conflict() {
    let (_broker, client) = common::start(&BrokerConfig::new());
    let id = unique_id("instance");
    provision_ready(&client, &id, PLAN_SMALL, json!({}));
    let response = client.update(&id, &update_with_mi(Value::Null, "1.0.0", None), true);
    assert_error_code(&response, 422, "MaintenanceInfoConflict");
    assert!(
        response
            .str_field("description")
            .is_some_and(|d| d.contains("the broker catalog contains no maintenance_info")),
        "{}",
        response.text
    );
}

/// A config whose deployment uses release `redis` at `version`.
fn with_release(config: BrokerConfig, version: &str) -> BrokerConfig {
    config.extra_yaml(yaml(json!({
        "service_deployment": {"releases": [
            {"name": "redis", "version": version, "jobs": ["redis-server"]}
        ]}
    })))
}

#[test]
fn an_update_after_the_deployment_changed_is_422_out_of_date() {
    let base = BrokerConfig::new();
    let mut broker = BrokerProcess::start(&base);
    let client = broker.client();
    let id = unique_id("instance");
    provision_ready(&client, &id, PLAN_SMALL, json!({"maxmemory": "1gb"}));
    // Before the change an update goes through.
    let first = client.update(
        &id,
        &update_body(SERVICE_ID, PLAN_SMALL, json!({"maxclients": 10}), None),
        true,
    );
    assert_accepted_and_succeeds(&client, &id, &first);

    let client = restart_with(&mut broker, &with_release(base, "1.0.1"));
    let response = client.update(
        &id,
        &update_body(SERVICE_ID, PLAN_SMALL, json!({"maxclients": 20}), None),
        true,
    );
    assert_eq!(response.status, 422, "{}", response.text);
    assert_eq!(response.str_field("description"), Some(OUT_OF_DATE));
    // The refused update left the instance as it was.
    let instance = client.get_instance(&id);
    assert_eq!(instance.status, 200, "{}", instance.text);
    assert_eq!(instance.body["parameters"], json!({"maxmemory": "1gb", "maxclients": 10}));
}

#[test]
fn with_skip_check_for_pending_changes_the_same_update_is_accepted() {
    let base = BrokerConfig::new().extra_yaml(yaml(json!({
        "broker": {"skip_check_for_pending_changes": true}
    })));
    let mut broker = BrokerProcess::start(&base);
    let id = unique_id("instance");
    provision_ready(&broker.client(), &id, PLAN_SMALL, json!({"maxmemory": "1gb"}));

    let client = restart_with(&mut broker, &with_release(base, "1.0.1"));
    let response = client.update(
        &id,
        &update_body(SERVICE_ID, PLAN_SMALL, json!({"maxclients": 20}), None),
        true,
    );
    assert_accepted_and_succeeds(&client, &id, &response);
}

#[test]
fn an_update_with_parameters_and_the_new_maintenance_info_upgrades_and_updates_together() {
    // The Go broker refuses this (it wants the upgrade first, then the update). Here the
    // request carries the catalog's new maintenance_info, so the platform has agreed to the
    // upgrade: both happen in one deploy.
    let base = BrokerConfig::new();
    let mut broker = BrokerProcess::start(&with_maintenance_info(base.clone(), "1.0.0"));
    let id = unique_id("instance");
    provision_ready(&broker.client(), &id, PLAN_SMALL, json!({}));
    let client = restart_with(&mut broker, &with_maintenance_info(base, "1.1.0"));

    let response = client.update(
        &id,
        &update_with_mi(json!({"maxmemory": "2gb"}), "1.1.0", Some("1.0.0")),
        true,
    );
    assert_eq!(response.status, 202, "{}", response.text);
    let operation = response.str_field("operation").map(str::to_string);
    assert_eq!(
        client.wait_for_operation(&id, operation.as_deref(), OPERATION_TIMEOUT),
        "succeeded"
    );
    let instance = client.get_instance(&id);
    assert_eq!(instance.body["maintenance_info"]["version"], "1.1.0", "{}", instance.text);
    assert_eq!(instance.body["parameters"], json!({"maxmemory": "2gb"}));
}

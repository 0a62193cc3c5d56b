//! Full lifecycles with an adapter that follows the Go redis example adapter's secrets rules
//! (the test adapter's plan property `adapter_redis_secure`): with its secure mode on it
//! declares BOSH variables (a password, a CA and a certificate it signs), returns an
//! ODB-managed secret, and fails create-binding and delete-binding unless every reference
//! comes back resolved; with it off it fails them when any secrets are sent. The broker must
//! satisfy both, on the simulated director and on a BOSH director with CredHub.

mod common;

use broker_tests::{
    bind_body, provision_body, unique_id, update_body, BrokerConfig, BrokerProcess, FakeCredhub,
    FakeDirector, OsbClient, PLAN_SMALL, SERVICE_ID,
};
use common::OPERATION_TIMEOUT;
use serde_json::{json, Value};

fn redis_like(secure_adapter: bool, secure_broker: bool) -> BrokerConfig {
    BrokerConfig::new()
        .plan_property(PLAN_SMALL, "adapter_redis_secure", json!(secure_adapter))
        .extra_yaml(
            serde_yaml::to_value(json!({"broker": {"enable_secure_manifests": secure_broker}}))
                .unwrap(),
        )
}

fn wait_succeeded(client: &OsbClient, id: &str) {
    assert_eq!(client.wait_for_operation(id, None, OPERATION_TIMEOUT), "succeeded");
}

/// Provision, bind, update, unbind, deprovision: every step must succeed. Returns the
/// binding's credentials.
fn full_lifecycle(client: &OsbClient) -> Value {
    let id = unique_id("redis");
    let r = client.provision(&id, &provision_body(SERVICE_ID, PLAN_SMALL, json!({})), true);
    assert_eq!(r.status, 202, "{}", r.text);
    wait_succeeded(client, &id);
    let r = client.bind(&id, "b1", &bind_body(SERVICE_ID, PLAN_SMALL, json!({})));
    assert_eq!(r.status, 201, "bind: {}", r.text);
    let credentials = r.body["credentials"].clone();
    let r = client.update(
        &id,
        &update_body(SERVICE_ID, PLAN_SMALL, json!({"maxclients": 10}), None),
        true,
    );
    assert_eq!(r.status, 202, "{}", r.text);
    wait_succeeded(client, &id);
    let r = client.unbind(&id, "b1", SERVICE_ID, PLAN_SMALL);
    assert_eq!(r.status, 200, "unbind: {}", r.text);
    let r = client.deprovision(&id, SERVICE_ID, PLAN_SMALL, true);
    assert_eq!(r.status, 202, "{}", r.text);
    wait_succeeded(client, &id);
    credentials
}

#[test]
fn secure_on_both_sides_on_the_simulated_director() {
    let broker = BrokerProcess::start(&redis_like(true, true));
    let credentials = full_lifecycle(&broker.client());
    let secrets = &credentials["secrets"];
    let password = secrets["((secret_pass))"].as_str().unwrap_or_default();
    assert_eq!(password.len(), 20, "{secrets}");
    assert!(secrets["((instance_certificate.ca))"]
        .as_str()
        .unwrap_or_default()
        .starts_with("-----BEGIN CERTIFICATE-----"));
}

#[test]
fn secure_off_on_both_sides_on_the_simulated_director() {
    let broker = BrokerProcess::start(&redis_like(false, false));
    let credentials = full_lifecycle(&broker.client());
    assert_eq!(credentials["secrets"], Value::Null);
}

#[test]
fn an_adapter_in_secure_mode_refuses_a_broker_without_secure_manifests() {
    let broker = BrokerProcess::start(&redis_like(true, false));
    let client = broker.client();
    let id = unique_id("redis");
    let r = client.provision(&id, &provision_body(SERVICE_ID, PLAN_SMALL, json!({})), true);
    assert_eq!(r.status, 202, "{}", r.text);
    wait_succeeded(&client, &id);
    let r = client.bind(&id, "b1", &bind_body(SERVICE_ID, PLAN_SMALL, json!({})));
    assert_eq!(r.status, 500, "{}", r.text);
    assert!(
        broker
            .logs()
            .iter()
            .any(|l| l.contains("The required secret was not provided to CreateBinding")),
        "the adapter's refusal is in the log"
    );
}

#[test]
fn secure_on_both_sides_with_a_bosh_director_and_credhub() {
    let director = FakeDirector::start_uaa("odb", "director-secret");
    let credhub = FakeCredhub::start("odb-credhub", "credhub-client-secret");
    director.use_config_server(credhub.store());
    let config = redis_like(true, true).bosh(director.bosh_config()).extra_yaml(
        serde_yaml::to_value(json!({"bosh_credhub": credhub.bosh_credhub_config()})).unwrap(),
    );
    let broker = BrokerProcess::start(&config);
    let credentials = full_lifecycle(&broker.client());
    let secrets = &credentials["secrets"];
    assert_eq!(secrets["((instance_certificate.ca))"], "GENERATED-CA", "{secrets}");
    let odb = secrets
        .as_object()
        .unwrap()
        .iter()
        .find(|(k, _)| k.ends_with("/odb_managed_secret))"))
        .map(|(_, v)| v.clone());
    assert_eq!(odb, Some(json!("HardcodedAdapterValue")));
}

#[test]
fn secure_off_on_both_sides_with_a_bosh_director() {
    let director = FakeDirector::start_uaa("odb", "director-secret");
    let config = redis_like(false, false).bosh(director.bosh_config());
    let broker = BrokerProcess::start(&config);
    let credentials = full_lifecycle(&broker.client());
    assert_eq!(credentials["secrets"], Value::Null);
}

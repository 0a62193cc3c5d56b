//! ODB-managed secrets with and without `broker.enable_secure_manifests`, read from what the
//! test adapter was handed: without (the default, as in the Go broker) the manifest is deployed
//! with its `((odb_secret:K))` placeholders and the adapter gets `"null"` secrets; with it (on
//! the simulated director) the secret is stored, the placeholder becomes its path, and
//! create-binding and the next generate-manifest get it back.

mod common;

use broker_tests::{bind_body, unique_id, update_body, BrokerConfig, PLAN_SMALL, SERVICE_ID};
use common::{
    envelope_section, invocations_of, provision_ready, provision_started, start, OPERATION_TIMEOUT,
};
use serde_json::{json, Value};

/// A config whose plan makes the test adapter return the secret `admin_password` and
/// reference it (a plan property, so that the value is in no request the broker stores).
fn config_with_secret() -> BrokerConfig {
    BrokerConfig::new().with_adapter_state_dir().plan_property(
        PLAN_SMALL,
        "adapter_secrets",
        json!({"admin_password": "s3cr3t-value"}),
    )
}

/// Updates the instance's parameters and waits until the update succeeded.
fn update_to_completion(client: &broker_tests::OsbClient, id: &str) {
    let r = client.update(id, &update_body(SERVICE_ID, PLAN_SMALL, json!({"a": 1}), None), true);
    assert_eq!(r.status, 202, "{}", r.text);
    assert_eq!(client.wait_for_operation(id, None, OPERATION_TIMEOUT), "succeeded");
}

/// Provisions with a secret, binds, updates; returns the instance id.
fn lifecycle(client: &broker_tests::OsbClient) -> String {
    let id = unique_id("secrets");
    provision_ready(client, &id, PLAN_SMALL, json!({}));
    let r = client.bind(&id, "b", &bind_body(SERVICE_ID, PLAN_SMALL, json!({})));
    assert_eq!(r.status, 201, "{}", r.text);
    update_to_completion(client, &id);
    id
}

#[test]
fn without_secure_manifests_placeholders_stay_and_the_adapter_gets_null_secrets() {
    let config = config_with_secret();
    let state_dir = config.adapter_state_dir();
    let (broker, client) = start(&config);
    lifecycle(&client);

    let bind = &invocations_of(&state_dir, "create-binding")[0];
    let section = envelope_section(bind, "create_binding");
    assert_eq!(section["secrets"], "null", "{section}");
    let manifest = section["manifest"].as_str().unwrap();
    assert!(
        manifest.contains("((odb_secret:admin_password))"),
        "the placeholder is deployed untouched: {manifest}"
    );
    assert!(!manifest.contains("/odb/"), "{manifest}");
    let generations = invocations_of(&state_dir, "generate-manifest");
    let update = envelope_section(generations.last().unwrap(), "generate_manifest");
    assert_eq!(update["previous_secrets"], "null", "{update}");
    // Nothing of the secret was stored.
    drop(broker);
    let db = std::fs::read(config.database_path()).unwrap_or_default();
    let wal = std::fs::read(config.database_path().with_extension("db-wal")).unwrap_or_default();
    for bytes in [db, wal] {
        assert!(!bytes.windows(12).any(|w| w == b"s3cr3t-value"), "the secret is in the database");
    }
}

#[test]
fn with_secure_manifests_the_secret_is_stored_and_handed_back() {
    let config = config_with_secret()
        .extra_yaml(serde_yaml::from_str("broker: {enable_secure_manifests: true}").unwrap());
    let state_dir = config.adapter_state_dir();
    let (_broker, client) = start(&config);
    let id = lifecycle(&client);
    let path = format!("((/odb/{SERVICE_ID}/service-instance_{id}/admin_password))");

    let bind = &invocations_of(&state_dir, "create-binding")[0];
    let section = envelope_section(bind, "create_binding");
    let secrets: Value = serde_json::from_str(section["secrets"].as_str().unwrap()).unwrap();
    assert_eq!(secrets, json!({ path.clone(): "s3cr3t-value" }));
    let manifest = section["manifest"].as_str().unwrap();
    assert!(manifest.contains(&path), "{manifest}");
    assert!(!manifest.contains("odb_secret:"), "{manifest}");

    let generations = invocations_of(&state_dir, "generate-manifest");
    let update = envelope_section(generations.last().unwrap(), "generate_manifest");
    let previous: Value =
        serde_json::from_str(update["previous_secrets"].as_str().unwrap()).unwrap();
    assert_eq!(previous, json!({ path: "s3cr3t-value" }));
}

#[test]
fn the_simulated_director_generates_variables_and_bind_gets_them_by_reference() {
    let config = config_with_secret()
        .plan_property(
            PLAN_SMALL,
            "adapter_variables",
            json!([
                {"name": "secret_pass", "type": "password"},
                {"name": "redis_ca", "type": "certificate", "options": {"is_ca": true, "common_name": "ca"}},
                {"name": "redis_cert", "type": "certificate", "options": {"ca": "redis_ca", "common_name": "redis"}},
            ]),
        )
        .extra_yaml(serde_yaml::from_str("broker: {enable_secure_manifests: true}").unwrap());
    let state_dir = config.adapter_state_dir();
    let (_broker, client) = start(&config);
    let id = unique_id("variables");
    let references = json!({
        "pass": "((secret_pass))",
        "ca": "((redis_cert.ca))",
        "cert": "((redis_cert.certificate))",
        "key": "((redis_cert.private_key))",
    });
    provision_ready(&client, &id, PLAN_SMALL, references);
    let r = client.bind(&id, "b", &bind_body(SERVICE_ID, PLAN_SMALL, json!({})));
    assert_eq!(r.status, 201, "{}", r.text);

    let bind = &invocations_of(&state_dir, "create-binding")[0];
    let section = envelope_section(bind, "create_binding");
    let secrets: Value = serde_json::from_str(section["secrets"].as_str().unwrap()).unwrap();
    let text = |k: &str| secrets[k].as_str().unwrap_or_default().to_string();
    assert_eq!(text("((secret_pass))").len(), 20, "{secrets}");
    assert!(text("((redis_cert.ca))").starts_with("-----BEGIN CERTIFICATE-----"));
    assert!(text("((redis_cert.certificate))").starts_with("-----BEGIN CERTIFICATE-----"));
    assert_ne!(text("((redis_cert.ca))"), text("((redis_cert.certificate))"));
    assert!(text("((redis_cert.private_key))").contains("PRIVATE KEY"));
    let odb = format!("((/odb/{SERVICE_ID}/service-instance_{id}/admin_password))");
    assert_eq!(text(&odb), "s3cr3t-value");

    // A redeploy keeps the generated values.
    update_to_completion(&client, &id);
    let generations = invocations_of(&state_dir, "generate-manifest");
    let update = envelope_section(generations.last().unwrap(), "generate_manifest");
    let previous: Value =
        serde_json::from_str(update["previous_secrets"].as_str().unwrap()).unwrap();
    assert_eq!(previous["((secret_pass))"], secrets["((secret_pass))"]);
}

#[test]
fn a_reference_the_config_server_does_not_have_fails_the_deploy() {
    let config = BrokerConfig::new()
        .extra_yaml(serde_yaml::from_str("broker: {enable_secure_manifests: true}").unwrap());
    let (_broker, client) = start(&config);
    let id = unique_id("missing");
    provision_started(&client, &id, PLAN_SMALL, json!({"p": "((nowhere))"}));
    assert_eq!(client.wait_for_operation(&id, None, OPERATION_TIMEOUT), "failed");
    let r = client.instance_history(&id);
    assert_eq!(r.status, 200, "{}", r.text);
    let expected = format!(
        "Failed to find variable '/simulated-director/service-instance_{id}/nowhere' from config server"
    );
    assert!(r.text.contains(&expected), "{}", r.text);
}

#[test]
fn secure_manifests_with_a_bosh_director_are_refused_with_the_way_out() {
    let config = BrokerConfig::new().extra_yaml(
        serde_yaml::from_str(
            "broker: {enable_secure_manifests: true}\nbosh: {url: 'https://127.0.0.1:1', authentication: {basic: {username: a, password: b}}}\nsimulated_director: null",
        )
        .unwrap(),
    );
    let err = match broker_tests::BrokerProcess::try_start(&config) {
        Ok(_) => panic!("the broker started"),
        Err(e) => e,
    };
    assert!(
        err.contains("broker.enable_secure_manifests") && err.contains("set it to false"),
        "{err}"
    );
}

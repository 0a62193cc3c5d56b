//! Black-box tests of what the catalog publishes about the service and its plans (metadata in
//! camelCase, `free`, `bindable`, `plan_updateable`, `allow_context_updates`, `requires`, `tags`,
//! `dashboard_client`), and of instance metadata from the adapter: labels returned by
//! generate-manifest (in the 202 of provision and update and in GET instance) and the dashboard
//! URL from dashboard-url (on provision and on update, and left out when the adapter does not
//! implement dashboard-url).

mod common;

use broker_tests::{
    provision_body, unique_id, update_body, BrokerConfig, OsbClient, Response, PLAN_LARGE,
    PLAN_SMALL, SERVICE_ID, SERVICE_NAME,
};
use common::{start, OPERATION_TIMEOUT};
use serde_json::{json, Value};

fn yaml(value: Value) -> serde_yaml::Value {
    serde_yaml::to_value(value).expect("JSON converts to YAML")
}

fn service(client: &OsbClient) -> Value {
    let catalog = client.catalog();
    assert_eq!(catalog.status, 200, "{}", catalog.text);
    let services = catalog.body["services"]
        .as_array()
        .unwrap_or_else(|| panic!("no services: {}", catalog.text));
    assert_eq!(services.len(), 1, "{}", catalog.text);
    services[0].clone()
}

fn plan(service: &Value, plan_id: &str) -> Value {
    service["plans"]
        .as_array()
        .expect("plans is an array")
        .iter()
        .find(|p| p["id"] == plan_id)
        .unwrap_or_else(|| panic!("no plan {plan_id}: {service}"))
        .clone()
}

/// A config with every optional service field and a fully described small plan.
fn described_config() -> BrokerConfig {
    let mut config =
        BrokerConfig::new().bindable(true).plan_updatable(true).extra_yaml(yaml(json!({
            "service_catalog": {
                "metadata": {
                    "display_name": "Test Service",
                    "image_url": "https://example.com/logo.png",
                    "long_description": "A longer description",
                    "provider_display_name": "Example Inc.",
                    "documentation_url": "https://example.com/docs",
                    "support_url": "https://example.com/support",
                    "shareable": true,
                },
                "requires": ["syslog_drain", "route_forwarding"],
                "tags": ["redis", "key-value"],
                "dashboard_client": {
                    "id": "dashboard-client-id",
                    "secret": "dashboard-secret",
                    "redirect_uri": "https://dashboard.example.com/callback",
                },
                "allow_context_updates": true,
            }
        })));
    config.plan_mut(PLAN_SMALL).extra = yaml(json!({
        "free": false,
        "bindable": false,
        "plan_updatable": false,
        "metadata": {
            "display_name": "Small",
            "bullets": ["1 node", "256 MB"],
            "costs": [{"amount": {"usd": 10.5}, "unit": "MONTHLY"}],
        },
    }))
    .as_mapping()
    .cloned()
    .expect("a mapping");
    config
}

#[test]
fn the_catalog_publishes_service_metadata_in_camel_case_and_the_service_fields() {
    let (_broker, client) = start(&described_config());
    let service = service(&client);
    assert_eq!(service["id"], SERVICE_ID);
    assert_eq!(service["name"], SERVICE_NAME);
    assert_eq!(service["description"], "a test service");
    assert_eq!(service["bindable"], true);
    assert_eq!(service["plan_updateable"], true);
    assert!(service.get("plan_updatable").is_none(), "{service}");
    assert_eq!(service["allow_context_updates"], true);
    assert_eq!(service["requires"], json!(["syslog_drain", "route_forwarding"]));
    assert_eq!(service["tags"], json!(["redis", "key-value"]));
    assert_eq!(
        service["dashboard_client"],
        json!({
            "id": "dashboard-client-id",
            "secret": "dashboard-secret",
            "redirect_uri": "https://dashboard.example.com/callback",
        })
    );
    assert_eq!(
        service["metadata"],
        json!({
            "displayName": "Test Service",
            "imageUrl": "https://example.com/logo.png",
            "longDescription": "A longer description",
            "providerDisplayName": "Example Inc.",
            "documentationUrl": "https://example.com/docs",
            "supportUrl": "https://example.com/support",
            "shareable": true,
        })
    );
}

#[test]
fn the_catalog_publishes_plan_metadata_and_flags() {
    let (_broker, client) = start(&described_config());
    let service = service(&client);
    let small = plan(&service, PLAN_SMALL);
    assert_eq!(small["name"], "small");
    assert_eq!(small["description"], "a small plan");
    assert_eq!(small["free"], false);
    assert_eq!(small["bindable"], false);
    assert_eq!(small["plan_updateable"], false);
    assert_eq!(
        small["metadata"],
        json!({
            "displayName": "Small",
            "bullets": ["1 node", "256 MB"],
            "costs": [{"amount": {"usd": 10.5}, "unit": "MONTHLY"}],
        })
    );
    // A plan that sets none of them publishes none of them.
    let large = plan(&service, PLAN_LARGE);
    for key in ["free", "bindable", "plan_updateable", "metadata"] {
        assert!(large.get(key).is_none(), "{key} in {large}");
    }
}

#[test]
fn a_minimal_catalog_leaves_out_the_optional_service_fields() {
    let (_broker, client) = start(&BrokerConfig::new().bindable(false).plan_updatable(false));
    let service = service(&client);
    assert_eq!(service["bindable"], false);
    assert_eq!(service["plan_updateable"], false);
    assert_eq!(service["allow_context_updates"], false);
    for key in ["requires", "tags", "dashboard_client", "metadata"] {
        assert!(service.get(key).is_none(), "{key} in {service}");
    }
}

/// Asserts a 202 with an operation and waits for it to succeed.
fn wait_succeeded(client: &OsbClient, id: &str, response: &Response) {
    assert_eq!(response.status, 202, "{}", response.text);
    let operation = response.str_field("operation").unwrap_or_default();
    assert!(!operation.is_empty(), "no operation: {}", response.text);
    assert_eq!(client.wait_for_operation(id, Some(operation), OPERATION_TIMEOUT), "succeeded");
}

#[test]
fn labels_from_generate_manifest_are_returned_on_provision_update_and_get() {
    let labels = json!({"team": "data", "tier": "gold"});
    let config = BrokerConfig::new().plan_property(PLAN_SMALL, "adapter_labels", labels.clone());
    let (_broker, client) = start(&config);
    let id = unique_id("instance");
    let provision = client.provision(&id, &provision_body(SERVICE_ID, PLAN_SMALL, json!({})), true);
    assert_eq!(provision.body["metadata"]["labels"], labels, "{}", provision.text);
    wait_succeeded(&client, &id, &provision);
    let instance = client.get_instance(&id);
    assert_eq!(instance.status, 200, "{}", instance.text);
    assert_eq!(instance.body["metadata"]["labels"], labels, "{}", instance.text);

    // The adapter returns other labels on update (taken from the parameters here).
    let silver = json!({"tier": "silver"});
    let update = client.update(
        &id,
        &update_body(SERVICE_ID, PLAN_SMALL, json!({"adapter_labels": silver}), None),
        true,
    );
    assert_eq!(update.body["metadata"]["labels"], silver, "{}", update.text);
    wait_succeeded(&client, &id, &update);
    let instance = client.get_instance(&id);
    assert_eq!(instance.body["metadata"]["labels"], silver, "{}", instance.text);
}

#[test]
fn without_labels_provision_has_no_metadata_and_get_instance_has_empty_labels() {
    let (_broker, client) = start(&BrokerConfig::new());
    let id = unique_id("instance");
    let provision = client.provision(&id, &provision_body(SERVICE_ID, PLAN_SMALL, json!({})), true);
    assert!(provision.body.get("metadata").is_none(), "{}", provision.text);
    wait_succeeded(&client, &id, &provision);
    let instance = client.get_instance(&id);
    assert_eq!(instance.status, 200, "{}", instance.text);
    assert_eq!(instance.body["metadata"]["labels"], json!({}), "{}", instance.text);
}

#[test]
fn the_dashboard_url_is_returned_on_provision_and_on_update() {
    let (_broker, client) = start(&BrokerConfig::new());
    let id = unique_id("instance");
    let expected = format!("https://dashboard.example.com/{id}");
    let provision = client.provision(&id, &provision_body(SERVICE_ID, PLAN_SMALL, json!({})), true);
    assert_eq!(provision.str_field("dashboard_url"), Some(expected.as_str()), "{}", provision.text);
    wait_succeeded(&client, &id, &provision);
    let update = client.update(
        &id,
        &update_body(SERVICE_ID, PLAN_LARGE, json!({"maxclients": 5}), Some(PLAN_SMALL)),
        true,
    );
    assert_eq!(update.str_field("dashboard_url"), Some(expected.as_str()), "{}", update.text);
    wait_succeeded(&client, &id, &update);
    let instance = client.get_instance(&id);
    assert_eq!(instance.body["dashboard_url"], expected.as_str(), "{}", instance.text);
}

#[test]
fn an_adapter_without_dashboard_url_gives_no_dashboard_url_and_provision_still_succeeds() {
    let config = BrokerConfig::new().adapter_script(
        PLAN_SMALL,
        json!({"dashboard-url": {"exit_code": 10, "stderr": "not implemented\n"}}),
    );
    let (_broker, client) = start(&config);
    let id = unique_id("instance");
    let provision = client.provision(&id, &provision_body(SERVICE_ID, PLAN_SMALL, json!({})), true);
    assert!(provision.body.get("dashboard_url").is_none(), "{}", provision.text);
    wait_succeeded(&client, &id, &provision);
    let instance = client.get_instance(&id);
    assert_eq!(instance.status, 200, "{}", instance.text);
    assert!(instance.body.get("dashboard_url").is_none(), "{}", instance.text);

    let update = client.update(
        &id,
        &update_body(SERVICE_ID, PLAN_SMALL, json!({"maxclients": 5}), None),
        true,
    );
    assert!(update.body.get("dashboard_url").is_none(), "{}", update.text);
    wait_succeeded(&client, &id, &update);
}

#[test]
fn the_catalog_has_an_etag_and_answers_304_when_it_is_unchanged() {
    let (_broker, client) = start(&BrokerConfig::new());
    let first = client.catalog();
    assert_eq!(first.status, 200);
    let etag = first.header("etag").expect("an ETag header").to_string();
    let auth = "Basic YWRtaW46cGFzc3dvcmQ="; // admin:password
    let again = client.request(
        "GET",
        "/v2/catalog",
        &[("Authorization", auth), ("X-Broker-API-Version", "2.17"), ("If-None-Match", &etag)],
        None,
    );
    assert_eq!(again.status, 304, "{}", again.text);
    assert!(again.text.is_empty());
    let stale = client.request(
        "GET",
        "/v2/catalog",
        &[("Authorization", auth), ("X-Broker-API-Version", "2.17"), ("If-None-Match", "\"old\"")],
        None,
    );
    assert_eq!(stale.status, 200);
    assert_eq!(stale.body, first.body);
}

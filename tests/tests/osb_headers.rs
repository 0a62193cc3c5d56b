//! Black-box tests of what every `/v2` request goes through before a handler runs: basic
//! authentication, the `X-Broker-API-Version` header, the echoed
//! `X-Broker-API-Request-Identity`, the 2.14 gate on the fetch endpoints, and the catalog.

mod common;

use broker_tests::{BrokerConfig, PLAN_LARGE, PLAN_SMALL, SERVICE_ID, SERVICE_NAME};
use common::{assert_error, start};
use serde_json::Value;

/// `Basic base64("admin:password")`, the default test credentials.
const GOOD_AUTH: &str = "Basic YWRtaW46cGFzc3dvcmQ=";
/// `Basic base64("admin:wrong")`.
const BAD_AUTH: &str = "Basic YWRtaW46d3Jvbmc=";

#[test]
fn requests_without_or_with_wrong_basic_auth_get_401_with_a_description() {
    let (_broker, client) = start(&BrokerConfig::new());

    let none = client.request("GET", "/v2/catalog", &[("X-Broker-API-Version", "2.17")], None);
    assert_error(&none, 401, "Not Authorized");
    assert!(
        none.header("www-authenticate").is_some_and(|h| h.starts_with("Basic")),
        "401 without a Basic challenge: {:?}",
        none.headers
    );

    let wrong = client.request(
        "GET",
        "/v2/catalog",
        &[("X-Broker-API-Version", "2.17"), ("Authorization", BAD_AUTH)],
        None,
    );
    assert_error(&wrong, 401, "Not Authorized");

    let wrong_user = client.clone().with_credentials("someone", "password").catalog();
    assert_error(&wrong_user, 401, "Not Authorized");

    // Auth is checked before anything else: no catalog, no instance handler runs.
    let put = client.request(
        "PUT",
        "/v2/service_instances/x?accepts_incomplete=true",
        &[("X-Broker-API-Version", "2.17")],
        Some("{}"),
    );
    assert_error(&put, 401, "Not Authorized");

    let good = client.request(
        "GET",
        "/v2/catalog",
        &[("X-Broker-API-Version", "2.17"), ("Authorization", GOOD_AUTH)],
        None,
    );
    assert_eq!(good.status, 200, "{}", good.text);
}

#[test]
fn a_missing_api_version_header_is_400() {
    let (_broker, client) = start(&BrokerConfig::new());
    let response = client.clone().with_api_version(None).catalog();
    assert_error(&response, 400, "X-Broker-API-Version");
}

#[test]
fn unsupported_api_versions_are_412() {
    let (_broker, client) = start(&BrokerConfig::new());
    for version in ["", "2", "1.17", "2.12", "3.0", "garbage", "2.x"] {
        let response = client.clone().with_api_version(Some(version)).catalog();
        assert_eq!(
            response.status, 412,
            "version {version:?} answered {}: {}",
            response.status, response.text
        );
        let description = response.str_field("description").unwrap_or_default();
        assert!(
            description.contains("X-Broker-API-Version"),
            "version {version:?}: description {description:?}"
        );
    }
}

#[test]
fn api_versions_2_13_to_2_17_are_accepted() {
    let (_broker, client) = start(&BrokerConfig::new());
    for version in ["2.13", "2.14", "2.17"] {
        let response = client.clone().with_api_version(Some(version)).catalog();
        assert_eq!(response.status, 200, "version {version}: {}", response.text);
        assert_eq!(response.body["services"][0]["id"], SERVICE_ID);
    }
}

#[test]
fn the_request_identity_is_echoed_on_success_and_on_errors() {
    let (_broker, client) = start(&BrokerConfig::new());
    let identity = "b6f3c4a2-request-identity";
    let with = |extra: &[(&'static str, &'static str)]| {
        let mut headers = vec![("X-Broker-API-Request-Identity", identity)];
        headers.extend_from_slice(extra);
        headers
    };
    let cases = [
        // (what, method, path, headers, body, expected status)
        (
            "catalog",
            "GET",
            "/v2/catalog",
            with(&[("Authorization", GOOD_AUTH), ("X-Broker-API-Version", "2.17")]),
            None,
            200,
        ),
        ("no auth", "GET", "/v2/catalog", with(&[("X-Broker-API-Version", "2.17")]), None, 401),
        ("no version", "GET", "/v2/catalog", with(&[("Authorization", GOOD_AUTH)]), None, 400),
        (
            "bad version",
            "GET",
            "/v2/catalog",
            with(&[("Authorization", GOOD_AUTH), ("X-Broker-API-Version", "1.0")]),
            None,
            412,
        ),
        (
            "unknown instance",
            "GET",
            "/v2/service_instances/nope/last_operation",
            with(&[("Authorization", GOOD_AUTH), ("X-Broker-API-Version", "2.17")]),
            None,
            404,
        ),
        (
            "bad body",
            "PUT",
            "/v2/service_instances/nope?accepts_incomplete=true",
            with(&[("Authorization", GOOD_AUTH), ("X-Broker-API-Version", "2.17")]),
            Some("{not json"),
            400,
        ),
        (
            "gone",
            "DELETE",
            "/v2/service_instances/nope?service_id=test-service-id&plan_id=plan-small",
            with(&[("Authorization", GOOD_AUTH), ("X-Broker-API-Version", "2.17")]),
            None,
            410,
        ),
    ];
    for (what, method, path, headers, body, status) in cases {
        let response = client.request(method, path, &headers, body);
        assert_eq!(response.status, status, "{what}: {}", response.text);
        assert_eq!(
            response.header("X-Broker-API-Request-Identity"),
            Some(identity),
            "{what}: identity not echoed; headers {:?}",
            response.headers
        );
    }
    // Without the header, none is invented.
    let response = client.catalog();
    assert_eq!(response.status, 200);
    assert_eq!(response.header("X-Broker-API-Request-Identity"), None);
}

#[test]
fn fetch_endpoints_need_api_version_2_14() {
    let (_broker, client) = start(&BrokerConfig::new());
    let old = client.clone().with_api_version(Some("2.13"));
    let instance = old.get_instance("some-instance");
    assert_error(&instance, 412, "2.14");
    let binding = old.get_binding("some-instance", "some-binding");
    assert_error(&binding, 412, "2.14");
    let binding_op = old.binding_last_operation("some-instance", "some-binding", None);
    assert_error(&binding_op, 412, "2.14");

    // The same requests with 2.14 reach the handlers (and find nothing).
    let new = client.clone().with_api_version(Some("2.14"));
    assert_eq!(new.get_instance("some-instance").status, 404);
    assert_eq!(new.get_binding("some-instance", "some-binding").status, 404);
    assert_eq!(new.binding_last_operation("some-instance", "some-binding", None).status, 404);
}

#[test]
fn the_catalog_lists_one_service_with_its_plans() {
    let (_broker, client) = start(&BrokerConfig::new());
    let response = client.catalog();
    assert_eq!(response.status, 200, "{}", response.text);
    let services = response.body["services"]
        .as_array()
        .unwrap_or_else(|| panic!("no services array: {}", response.text));
    assert_eq!(services.len(), 1, "{}", response.text);
    let service = &services[0];
    assert_eq!(service["id"], SERVICE_ID);
    assert_eq!(service["name"], SERVICE_NAME);
    assert_eq!(service["description"], "a test service");
    assert_eq!(service["bindable"], true);
    assert_eq!(service["plan_updateable"], true);
    assert_eq!(service["instances_retrievable"], true);
    assert_eq!(service["bindings_retrievable"], true);
    let plans = service["plans"].as_array().expect("plans is an array");
    let ids: Vec<&str> = plans.iter().filter_map(|p| p["id"].as_str()).collect();
    assert_eq!(ids, [PLAN_SMALL, PLAN_LARGE]);
    assert_eq!(plans[0]["name"], "small");
    assert_eq!(plans[0]["description"], "a small plan");
    assert!(plans.iter().all(|p| p["id"].is_string() && p["name"].is_string()));
}

#[test]
fn the_catalog_reflects_bindable_and_plan_updatable_settings() {
    let config = BrokerConfig::new().bindable(false).plan_updatable(false);
    let (_broker, client) = start(&config);
    let response = client.catalog();
    assert_eq!(response.status, 200, "{}", response.text);
    let service: &Value = &response.body["services"][0];
    assert_eq!(service["bindable"], false);
    assert_eq!(service["plan_updateable"], false);
}

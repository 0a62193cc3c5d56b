//! Black-box tests of the management API (`/mgmt`) and of quotas: the real broker binary with
//! the test adapter and the simulated director, driven over HTTP.

use broker_tests::{
    bind_body, provision_body, unique_id, update_body, BrokerConfig, BrokerProcess, OsbClient,
    Response, PLAN_LARGE, PLAN_SMALL, SERVICE_ID, SERVICE_NAME,
};
use reqwest::Method;
use serde_json::{json, Value};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(30);
/// `admin:password`, base64.
const AUTH: &str = "Basic YWRtaW46cGFzc3dvcmQ=";

/// Sets `quotas` on a plan.
fn plan_quotas(mut config: BrokerConfig, plan_id: &str, quotas: Value) -> BrokerConfig {
    config.plan_mut(plan_id).extra.insert("quotas".into(), serde_yaml::to_value(quotas).unwrap());
    config
}

/// Sets the service's `global_quotas`.
fn global_quotas(config: BrokerConfig, quotas: Value) -> BrokerConfig {
    config.extra_yaml(
        serde_yaml::to_value(json!({"service_catalog": {"global_quotas": quotas}})).unwrap(),
    )
}

/// Provisions an instance and waits for the create to succeed; returns its id.
fn provision(client: &OsbClient, plan_id: &str) -> String {
    let id = unique_id("instance");
    let r = client.provision(&id, &provision_body(SERVICE_ID, plan_id, Value::Null), true);
    assert_eq!(r.status, 202, "{}", r.text);
    assert_eq!(client.wait_for_operation(&id, None, WAIT), "succeeded");
    id
}

fn mgmt_get(client: &OsbClient, path: &str) -> Response {
    client.send(Method::GET, path, &[], None)
}

fn mgmt_patch(client: &OsbClient, id: &str, operation_type: Option<&str>) -> Response {
    let query: Vec<(&str, &str)> =
        operation_type.map(|t| ("operation_type", t)).into_iter().collect();
    client.send(Method::PATCH, &format!("/mgmt/service_instances/{id}"), &query, None)
}

/// The value of one metric.
fn metric(metrics: &Value, key: &str) -> Option<u64> {
    metrics.as_array().unwrap().iter().find(|m| m["key"] == key).map(|m| {
        assert_eq!(m["unit"], "count");
        m["value"].as_u64().unwrap()
    })
}

#[test]
fn mgmt_needs_basic_auth_but_no_version_header() {
    let broker = BrokerProcess::start(&BrokerConfig::new());
    let client = broker.client();
    let r = client.request("GET", "/mgmt/service_instances", &[], None);
    assert_eq!(r.status, 401);
    let r = client.request("GET", "/mgmt/service_instances", &[("Authorization", AUTH)], None);
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body, json!([]));
}

#[test]
fn instances_are_listed_with_their_last_operation() {
    let broker = BrokerProcess::start(&BrokerConfig::new());
    let client = broker.client();
    let small = provision(&client, PLAN_SMALL);
    let large = provision(&client, PLAN_LARGE);
    let deleted = provision(&client, PLAN_SMALL);
    let r = client.deprovision(&deleted, SERVICE_ID, PLAN_SMALL, true);
    assert_eq!(r.status, 202, "{}", r.text);
    client.wait_for_operation(&deleted, None, WAIT);

    let r = mgmt_get(&client, "/mgmt/service_instances");
    assert_eq!(r.status, 200, "{}", r.text);
    let list = r.body.as_array().unwrap();
    assert_eq!(list.len(), 2, "deleted instances are not listed: {}", r.text);
    let entry = list.iter().find(|i| i["service_instance_id"] == small.as_str()).unwrap();
    assert_eq!(entry["plan_id"], PLAN_SMALL);
    assert_eq!(entry["state"], "ready");
    assert_eq!(entry["deployment_name"], format!("service-instance_{small}"));
    assert_eq!(entry["space_guid"], broker_tests::SPACE_GUID);
    assert_eq!(entry["organization_guid"], broker_tests::ORGANIZATION_GUID);
    assert_eq!(entry["last_operation"]["type"], "create");
    assert_eq!(entry["last_operation"]["state"], "succeeded");
    assert!(entry["last_operation"]["description"].is_string());
    assert!(list
        .iter()
        .any(|i| i["service_instance_id"] == large.as_str() && i["plan_id"] == PLAN_LARGE));
}

#[test]
fn orphan_deployments_are_director_deployments_without_a_live_instance() {
    let config = BrokerConfig::new();
    let broker = BrokerProcess::start(&config);
    let client = broker.client();
    let live = provision(&client, PLAN_SMALL);
    let r = mgmt_get(&client, "/mgmt/orphan_deployments");
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body, json!([]), "a live instance's deployment is no orphan");

    // Make an orphan the way it happens in real life: a deployment with the broker's prefix
    // that the director has and the broker does not know (someone deployed it by hand, or the
    // broker's state was lost). The simulated director keeps its deployments in the broker's
    // SQLite file, so "the director" gets it directly; nothing in the broker's own tables is
    // touched. A deployment without the prefix is not the broker's and must not be listed.
    for name in ["service-instance_forgotten-1", "someone-elses-deployment"] {
        let plant = format!(
            "INSERT INTO sim_deployments (name, manifest) VALUES ('{name}', 'name: {name}')"
        );
        if config.postgres_query(&plant).is_none() {
            let db = rusqlite::Connection::open(config.database_path()).unwrap();
            db.busy_timeout(Duration::from_secs(10)).unwrap();
            db.execute(&plant, []).unwrap();
        }
    }
    let r = mgmt_get(&client, "/mgmt/orphan_deployments");
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        r.body,
        json!([{"deployment_name": "service-instance_forgotten-1"}]),
        "live instance {live} must not be listed"
    );
}

#[test]
fn metrics_count_instances_and_quota_use() {
    let config = plan_quotas(
        BrokerConfig::new(),
        PLAN_SMALL,
        json!({"service_instance_limit": 3, "resources": {"memory": {"limit": 10, "cost": 2}}}),
    );
    let config = plan_quotas(config, PLAN_LARGE, json!({"resources": {"memory": {"cost": 3}}}));
    let config = global_quotas(
        config,
        json!({"service_instance_limit": 5, "resources": {"memory": {"limit": 20}}}),
    );
    let broker = BrokerProcess::start(&config);
    let client = broker.client();
    provision(&client, PLAN_SMALL);
    provision(&client, PLAN_SMALL);
    provision(&client, PLAN_LARGE);

    let r = mgmt_get(&client, "/mgmt/metrics");
    assert_eq!(r.status, 200, "{}", r.text);
    let m = &r.body;
    let key = |suffix: &str| format!("/on-demand-broker/{SERVICE_NAME}/{suffix}");
    assert_eq!(metric(m, &key("small/total_instances")), Some(2));
    assert_eq!(metric(m, &key("small/quota_remaining")), Some(1));
    assert_eq!(metric(m, &key("small/memory/used")), Some(4));
    assert_eq!(metric(m, &key("small/memory/remaining")), Some(6));
    assert_eq!(metric(m, &key("large/total_instances")), Some(1));
    assert_eq!(metric(m, &key("large/quota_remaining")), None, "no limit, no metric");
    assert_eq!(metric(m, &key("large/memory/used")), Some(3));
    assert_eq!(metric(m, &key("total_instances")), Some(3));
    assert_eq!(metric(m, &key("quota_remaining")), Some(2));
    // Σ over plans of cost × count: 2×2 + 3×1.
    assert_eq!(metric(m, &key("memory/used")), Some(7));
    assert_eq!(metric(m, &key("memory/remaining")), Some(13));
}

#[test]
fn patch_upgrade_regenerates_the_manifest_with_the_current_plan() {
    let config = BrokerConfig::new().with_adapter_state_dir();
    let broker = BrokerProcess::start(&config);
    let client = broker.client();
    let id = provision(&client, PLAN_LARGE);

    let r = mgmt_patch(&client, &id, Some("upgrade"));
    assert_eq!(r.status, 202, "{}", r.text);
    assert_eq!(r.body["operation_type"], "upgrade");
    let op = r.str_field("operation").unwrap().to_string();
    assert_eq!(client.wait_for_operation(&id, Some(&op), WAIT), "succeeded");

    // The adapter got the upgrade's request parameters and the instance's plan.
    let invocations = broker_tests::read_invocations(&config.adapter_state_dir());
    let last = invocations.iter().rev().find(|i| i["subcommand"] == "generate-manifest").unwrap();
    let stdin: Value = serde_json::from_str(last["stdin"].as_str().unwrap()).unwrap();
    let gm = &stdin["generate_manifest"];
    let rp: Value = serde_json::from_str(gm["request_parameters"].as_str().unwrap()).unwrap();
    assert_eq!(rp, json!({"context": broker_tests::context()}));
    let plan: Value = serde_json::from_str(gm["plan"].as_str().unwrap()).unwrap();
    assert_eq!(plan["instance_groups"][0]["instances"], 3);
    assert!(!gm["previous_manifest"].as_str().unwrap().is_empty());

    let list = mgmt_get(&client, "/mgmt/service_instances").body;
    assert_eq!(list[0]["last_operation"]["type"], "upgrade");
    assert_eq!(list[0]["last_operation"]["state"], "succeeded");
}

#[test]
fn patch_recreate_runs_a_recreate_operation() {
    let broker = BrokerProcess::start(&BrokerConfig::new());
    let client = broker.client();
    let id = provision(&client, PLAN_SMALL);
    let r = mgmt_patch(&client, &id, Some("recreate"));
    assert_eq!(r.status, 202, "{}", r.text);
    assert_eq!(r.body["operation_type"], "recreate");
    let op = r.str_field("operation").unwrap().to_string();
    assert_eq!(client.wait_for_operation(&id, Some(&op), WAIT), "succeeded");
    let list = mgmt_get(&client, "/mgmt/service_instances").body;
    assert_eq!(list[0]["last_operation"]["type"], "recreate");
    assert_eq!(list[0]["state"], "ready");
    let r = client.last_operation(&id, Some(&op));
    assert_eq!(r.str_field("description"), Some("Instance recreate completed"));
}

#[test]
fn patch_refuses_unknown_instances_bad_operation_types_and_bad_bodies() {
    let broker = BrokerProcess::start(&BrokerConfig::new());
    let client = broker.client();
    let id = provision(&client, PLAN_SMALL);

    let r = mgmt_patch(&client, &id, None);
    assert_eq!(r.status, 400, "{}", r.text);
    assert!(r.str_field("description").unwrap().contains("operation_type"));
    let r = mgmt_patch(&client, &id, Some("reboot"));
    assert_eq!(r.status, 400, "{}", r.text);
    assert!(r.str_field("description").unwrap().contains("reboot"));

    let path = format!("/mgmt/service_instances/{id}?operation_type=upgrade");
    let r = client.request("PATCH", &path, &[("Authorization", AUTH)], Some("{not json"));
    assert_eq!(r.status, 422, "{}", r.text);
    assert!(r.str_field("description").unwrap().contains("Invalid JSON"));
    let r = client.request("PATCH", &path, &[("Authorization", AUTH)], Some("[1]"));
    assert_eq!(r.status, 422, "{}", r.text);

    let r = mgmt_patch(&client, "no-such-instance", Some("upgrade"));
    assert_eq!(r.status, 410, "{}", r.text);
    assert!(r.str_field("description").is_some());

    let r = client.deprovision(&id, SERVICE_ID, PLAN_SMALL, true);
    assert_eq!(r.status, 202, "{}", r.text);
    client.wait_for_operation(&id, None, WAIT);
    for kind in ["upgrade", "recreate"] {
        let r = mgmt_patch(&client, &id, Some(kind));
        assert_eq!(r.status, 410, "{kind} of a deleted instance: {}", r.text);
    }
}

#[test]
fn patch_answers_409_while_an_operation_is_in_progress() {
    let broker = BrokerProcess::start(&BrokerConfig::new().task_seconds(3));
    let client = broker.client();
    let id = unique_id("instance");
    let r = client.provision(&id, &provision_body(SERVICE_ID, PLAN_SMALL, Value::Null), true);
    assert_eq!(r.status, 202, "{}", r.text);
    for kind in ["upgrade", "recreate"] {
        let r = mgmt_patch(&client, &id, Some(kind));
        assert_eq!(r.status, 409, "{kind} during the create: {}", r.text);
        assert!(r.str_field("description").unwrap().contains("in progress"));
    }
    assert_eq!(client.wait_for_operation(&id, None, WAIT), "succeeded");
    let r = mgmt_patch(&client, &id, Some("upgrade"));
    assert_eq!(r.status, 202, "{}", r.text);
    let r = mgmt_patch(&client, &id, Some("recreate"));
    assert_eq!(r.status, 409, "recreate during the upgrade: {}", r.text);
}

#[test]
fn bindings_of_an_instance_are_listed_without_credentials() {
    let broker = BrokerProcess::start(&BrokerConfig::new());
    let client = broker.client();
    let id = provision(&client, PLAN_SMALL);
    let r = client.bind(&id, "binding-1", &bind_body(SERVICE_ID, PLAN_SMALL, Value::Null));
    assert!(r.status == 201 || r.status == 200, "{}", r.text);
    let r = mgmt_get(&client, &format!("/mgmt/service_instances/{id}/bindings"));
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        r.body,
        json!([{"binding_id": "binding-1", "service_id": SERVICE_ID, "plan_id": PLAN_SMALL}])
    );
    let r = mgmt_get(&client, "/mgmt/service_instances/nope/bindings");
    assert_eq!(r.status, 404, "{}", r.text);
}

// ----- quotas -----

fn description(r: &Response) -> String {
    r.str_field("description").unwrap_or_default().to_string()
}

#[test]
fn plan_instance_limit_refuses_the_next_provision() {
    let config = plan_quotas(BrokerConfig::new(), PLAN_SMALL, json!({"service_instance_limit": 2}));
    let broker = BrokerProcess::start(&config);
    let client = broker.client();
    provision(&client, PLAN_SMALL);
    provision(&client, PLAN_SMALL);
    let id = unique_id("instance");
    let r = client.provision(&id, &provision_body(SERVICE_ID, PLAN_SMALL, Value::Null), true);
    assert_eq!(r.status, 422, "{}", r.text);
    assert!(
        description(&r).contains(
            "plan instance limit exceeded for plan 'small': limit 2, current instances 2"
        ),
        "{}",
        r.text
    );
    // Nothing was recorded, and the other plan is not limited.
    assert_eq!(client.last_operation(&id, None).status, 404);
    provision(&client, PLAN_LARGE);
}

#[test]
fn global_instance_limit_counts_every_plan() {
    let config = global_quotas(BrokerConfig::new(), json!({"service_instance_limit": 2}));
    let broker = BrokerProcess::start(&config);
    let client = broker.client();
    provision(&client, PLAN_SMALL);
    let deleted = provision(&client, PLAN_LARGE);
    let r = client.provision(
        &unique_id("instance"),
        &provision_body(SERVICE_ID, PLAN_SMALL, Value::Null),
        true,
    );
    assert_eq!(r.status, 422, "{}", r.text);
    assert!(
        description(&r).contains(&format!(
            "global instance limit exceeded for service '{SERVICE_NAME}': limit 2, current instances 2"
        )),
        "{}",
        r.text
    );
    // A deleted instance frees its place.
    client.deprovision(&deleted, SERVICE_ID, PLAN_LARGE, true);
    client.wait_for_operation(&deleted, None, WAIT);
    provision(&client, PLAN_SMALL);
}

#[test]
fn resource_quotas_say_which_resource_its_limit_use_and_need() {
    let config =
        plan_quotas(BrokerConfig::new(), PLAN_SMALL, json!({"resources": {"memory": {"cost": 4}}}));
    let config =
        plan_quotas(config, PLAN_LARGE, json!({"resources": {"memory": {"cost": 6, "limit": 6}}}));
    let config = global_quotas(config, json!({"resources": {"memory": {"limit": 10}}}));
    let broker = BrokerProcess::start(&config);
    let client = broker.client();
    provision(&client, PLAN_SMALL);
    provision(&client, PLAN_LARGE);
    let r = client.provision(
        &unique_id("instance"),
        &provision_body(SERVICE_ID, PLAN_SMALL, Value::Null),
        true,
    );
    assert_eq!(r.status, 422, "{}", r.text);
    assert!(
        description(&r).starts_with(
            "global quotas [memory: (limit 10, used 10, requires 4)] would be exceeded by this deployment"
        ),
        "{}",
        r.text
    );
    // Two quotas exceeded at once are both listed.
    let r = client.provision(
        &unique_id("instance"),
        &provision_body(SERVICE_ID, PLAN_LARGE, Value::Null),
        true,
    );
    assert_eq!(r.status, 422, "{}", r.text);
    assert!(
        description(&r).starts_with(
            "global quotas [memory: (limit 10, used 10, requires 6)] would be exceeded by this deployment, \
             plan quotas for plan 'large' [memory: (limit 6, used 6, requires 6)] would be exceeded by this deployment"
        ),
        "{}",
        r.text
    );
}

#[test]
fn a_plan_change_moves_the_instance_between_plan_counts() {
    let config = plan_quotas(
        BrokerConfig::new(),
        PLAN_LARGE,
        json!({"service_instance_limit": 1, "resources": {"memory": {"cost": 6}}}),
    );
    let config = plan_quotas(config, PLAN_SMALL, json!({"resources": {"memory": {"cost": 4}}}));
    let config = global_quotas(config, json!({"resources": {"memory": {"limit": 8}}}));
    let broker = BrokerProcess::start(&config);
    let client = broker.client();
    let mover = provision(&client, PLAN_SMALL);
    // small → large: 6 of 8 once the instance has left small (4 + 6 would be 10).
    let r = client.update(
        &mover,
        &update_body(SERVICE_ID, PLAN_LARGE, Value::Null, Some(PLAN_SMALL)),
        true,
    );
    assert_eq!(r.status, 202, "{}", r.text);
    assert_eq!(client.wait_for_operation(&mover, None, WAIT), "succeeded");

    // The moved instance now counts as large: 6 used, and a small needs 4 more.
    let r = client.provision(
        &unique_id("instance"),
        &provision_body(SERVICE_ID, PLAN_SMALL, Value::Null),
        true,
    );
    assert_eq!(r.status, 422, "{}", r.text);
    assert!(
        description(&r).contains("global quotas [memory: (limit 8, used 6, requires 4)]"),
        "{}",
        r.text
    );
}

#[test]
fn a_plan_change_respects_the_new_plan_s_instance_limit() {
    let config = plan_quotas(BrokerConfig::new(), PLAN_LARGE, json!({"service_instance_limit": 1}));
    let broker = BrokerProcess::start(&config);
    let client = broker.client();
    provision(&client, PLAN_LARGE);
    let other = provision(&client, PLAN_SMALL);
    let r = client.update(
        &other,
        &update_body(SERVICE_ID, PLAN_LARGE, Value::Null, Some(PLAN_SMALL)),
        true,
    );
    assert_eq!(r.status, 422, "{}", r.text);
    assert!(
        description(&r).contains(
            "plan instance limit exceeded for plan 'large': limit 1, current instances 1"
        ),
        "{}",
        r.text
    );
    // An update that keeps the plan is not a quota matter.
    let r = client.update(
        &other,
        &update_body(SERVICE_ID, PLAN_SMALL, json!({"x": 1}), Some(PLAN_SMALL)),
        true,
    );
    assert_eq!(r.status, 202, "{}", r.text);
}

#[test]
fn an_instance_moving_onto_a_plan_counts_against_it_while_the_change_runs() {
    let config = plan_quotas(
        BrokerConfig::new().task_seconds(2),
        PLAN_LARGE,
        json!({"service_instance_limit": 1}),
    );
    let broker = BrokerProcess::start(&config);
    let client = broker.client();
    let first = provision(&client, PLAN_SMALL);
    let second = provision(&client, PLAN_SMALL);
    let r = client.update(
        &first,
        &update_body(SERVICE_ID, PLAN_LARGE, Value::Null, Some(PLAN_SMALL)),
        true,
    );
    assert_eq!(r.status, 202, "{}", r.text);
    // The first instance is still on its way to 'large': the last place is taken.
    let r = client.update(
        &second,
        &update_body(SERVICE_ID, PLAN_LARGE, Value::Null, Some(PLAN_SMALL)),
        true,
    );
    assert_eq!(r.status, 422, "{}", r.text);
    assert!(
        description(&r).contains("plan instance limit exceeded for plan 'large'"),
        "{}",
        r.text
    );
}

#[test]
fn prometheus_metrics_count_requests_adapter_calls_operations_and_instances() {
    let broker = BrokerProcess::start(&BrokerConfig::new());
    let client = broker.client();
    let id = provision(&client, PLAN_SMALL);
    let scrape = mgmt_get(&client, "/metrics");
    assert_eq!(scrape.status, 200, "{}", scrape.text);
    assert!(
        scrape
            .header("content-type")
            .is_some_and(|c| c.starts_with("application/openmetrics-text; version=1.0.0")),
        "{:?}",
        scrape.header("content-type")
    );
    let text = scrape.text;
    for line in [
        "on_demand_broker_http_responses_total{method=\"PUT\",status=\"202\"} 1",
        "on_demand_broker_adapter_calls_total{subcommand=\"generate-manifest\",outcome=\"exit_0\"} 1",
        "on_demand_broker_operations_finished_total{kind=\"create\",state=\"succeeded\"} 1",
        "on_demand_broker_operations_in_flight 0",
        "on_demand_broker_instances{plan=\"small\",state=\"ready\"} 1",
    ] {
        assert!(text.lines().any(|l| l == line), "missing {line} in:\n{text}");
    }
    assert!(!id.is_empty());
    check_exposition(&text, &id);
    // The endpoint needs the broker's credentials.
    let anonymous = client.request("GET", "/metrics", &[], None);
    assert_eq!(anonymous.status, 401);
}

/// Checks `text` against the OpenMetrics text rules the broker relies on: every sample's
/// family is declared with `# TYPE` first, label values are quoted, values are numbers,
/// histograms have `_bucket` (ending with `le="+Inf"`), `_sum` and `_count`, the exposition
/// ends with `# EOF`, and no label holds the instance id `id`.
fn check_exposition(text: &str, id: &str) {
    let mut families: std::collections::BTreeMap<String, String> = Default::default();
    let mut histogram_parts: std::collections::BTreeMap<String, std::collections::BTreeSet<&str>> =
        Default::default();
    assert_eq!(text.lines().last(), Some("# EOF"), "{text}");
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').expect("TYPE name kind");
            families.insert(name.to_string(), kind.to_string());
            continue;
        }
        if line.starts_with('#') {
            continue;
        }
        let (series, value) = line.rsplit_once(' ').expect("a sample has a value");
        assert!(value.parse::<f64>().is_ok(), "not a number in {line}");
        let name = series.split('{').next().unwrap();
        if let Some(labels) = series.strip_prefix(name) {
            assert!(!labels.contains(id), "an instance id in a label: {line}");
            if !labels.is_empty() {
                assert!(labels.starts_with('{') && labels.ends_with('}'), "{line}");
                for pair in labels[1..labels.len() - 1].split("\",") {
                    let (_, v) = pair.split_once('=').expect("label=value");
                    assert!(v.starts_with('"'), "unquoted label value in {line}");
                }
            }
        }
        let family = families
            .keys()
            .filter(|f| name.starts_with(f.as_str()))
            .max_by_key(|f| f.len())
            .unwrap_or_else(|| panic!("no # TYPE for {name}"));
        if families[family] == "histogram" {
            let part = &name[family.len()..];
            assert!(["_bucket", "_sum", "_count"].contains(&part), "{line}");
            histogram_parts.entry(family.clone()).or_default().insert(part);
            if part == "_bucket" {
                assert!(series.contains("le=\""), "{line}");
            }
        }
    }
    let seen_histograms: Vec<_> = histogram_parts.keys().cloned().collect();
    for expected in [
        "on_demand_broker_http_request_duration_seconds",
        "on_demand_broker_adapter_call_duration_seconds",
        "on_demand_broker_operation_duration_seconds",
    ] {
        let parts = histogram_parts
            .get(expected)
            .unwrap_or_else(|| panic!("no samples of {expected}: {seen_histograms:?}"));
        assert_eq!(parts.len(), 3, "{expected}: {parts:?}");
    }
    assert!(text.contains("le=\"+Inf\""), "{text}");
}

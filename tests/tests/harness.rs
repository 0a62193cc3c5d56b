//! Tests of the harness pieces that do not need a running broker: the rendered config, the body
//! builders and the binary lookup.

use broker_tests::{
    bind_body, provision_body, test_adapter_binary, unique_id, update_body, BrokerConfig,
    PlanConfig, PLAN_LARGE, PLAN_SMALL, SERVICE_ID,
};
use serde_json::{json, Value};

/// The rendered config as JSON, for easy comparison.
fn rendered(config: &BrokerConfig) -> Value {
    serde_json::to_value(config.render()).unwrap()
}

#[test]
fn the_default_config_has_two_plans_the_test_adapter_and_instant_tasks() {
    let config = BrokerConfig::new().sqlite();
    let yaml = rendered(&config);
    assert_eq!(yaml["broker"]["username"], "admin");
    assert_eq!(yaml["broker"]["password"], "password");
    assert_eq!(yaml["service_adapter"]["path"], json!(test_adapter_binary().to_string_lossy()));
    assert_eq!(yaml["service_adapter"]["timeout_seconds"], 10);
    assert_eq!(yaml["simulated_director"]["task_seconds"], 0);
    assert_eq!(yaml["database"]["path"], json!(config.dir().join("broker.db").to_string_lossy()));
    assert_eq!(yaml["service_deployment"]["stemcells"][0]["version"], "1.404");
    let catalog = &yaml["service_catalog"];
    assert_eq!(catalog["id"], SERVICE_ID);
    let plans = catalog["plans"].as_array().unwrap();
    assert_eq!(plans.len(), 2);
    assert_eq!(plans[0]["plan_id"], PLAN_SMALL);
    assert_eq!(plans[0]["instance_groups"][0]["instances"], 1);
    assert_eq!(plans[1]["plan_id"], PLAN_LARGE);
    assert_eq!(plans[1]["instance_groups"][0]["instances"], 3);
    assert_eq!(
        plans[1]["instance_groups"][0],
        json!({"name": "redis-server", "vm_type": "small", "instances": 3,
               "networks": ["default"], "azs": ["z1"]})
    );
}

#[test]
fn builder_methods_change_the_rendered_config() {
    let mut plan = PlanConfig::new("plan-errand", "errand", 2);
    plan.extra.insert("bindable".into(), serde_yaml::Value::Bool(false));
    let config = BrokerConfig::new()
        .credentials("user", "pw")
        .adapter_timeout_seconds(2)
        .task_seconds(3)
        .adapter_path("/bin/false")
        .adapter_script(PLAN_SMALL, json!({"create-binding": {"exit_code": 49}}))
        .plan_property(PLAN_LARGE, "maxmemory", json!("1gb"))
        .with_adapter_state_dir()
        .add_plan(plan)
        .extra_yaml(serde_yaml::from_str("broker: {request_timeout: 5}\nnew_key: [1]").unwrap());
    let yaml = rendered(&config);
    assert_eq!(yaml["broker"]["username"], "user");
    assert_eq!(yaml["broker"]["request_timeout"], 5, "extra_yaml merges deeply");
    assert_eq!(yaml["broker"]["password"], "pw");
    assert_eq!(yaml["new_key"], json!([1]));
    assert_eq!(yaml["service_adapter"]["path"], "/bin/false");
    assert_eq!(yaml["service_adapter"]["timeout_seconds"], 2);
    assert_eq!(yaml["simulated_director"]["task_seconds"], 3);
    let plans = yaml["service_catalog"]["plans"].as_array().unwrap();
    let state_dir = json!(config.adapter_state_dir().to_string_lossy());
    assert!(config.adapter_state_dir().is_dir());
    assert_eq!(
        plans[0]["properties"],
        json!({"adapter_script": {"create-binding": {"exit_code": 49}}, "adapter_state_dir": state_dir})
    );
    assert_eq!(plans[1]["properties"], json!({"maxmemory": "1gb", "adapter_state_dir": state_dir}));
    assert_eq!(plans[2]["plan_id"], "plan-errand");
    assert_eq!(plans[2]["bindable"], false);
}

#[test]
fn body_builders_fill_in_the_platform_fields() {
    let body = provision_body(SERVICE_ID, PLAN_SMALL, json!({"a": 1}));
    assert_eq!(body["service_id"], SERVICE_ID);
    assert_eq!(body["plan_id"], PLAN_SMALL);
    assert!(body["organization_guid"].is_string());
    assert!(body["space_guid"].is_string());
    assert_eq!(body["context"]["platform"], "cloudfoundry");
    assert_eq!(body["parameters"], json!({"a": 1}));
    assert!(provision_body(SERVICE_ID, PLAN_SMALL, Value::Null).get("parameters").is_none());

    let body = update_body(SERVICE_ID, PLAN_LARGE, Value::Null, Some(PLAN_SMALL));
    assert_eq!(body["previous_values"]["plan_id"], PLAN_SMALL);
    assert_eq!(body["plan_id"], PLAN_LARGE);

    let body = bind_body(SERVICE_ID, PLAN_SMALL, json!({}));
    assert!(body["app_guid"].is_string());
    assert_eq!(body["bind_resource"]["app_guid"], body["app_guid"]);
}

#[test]
fn unique_ids_differ() {
    let a = unique_id("instance");
    let b = unique_id("instance");
    assert_ne!(a, b);
    assert!(a.starts_with("instance-"));
}

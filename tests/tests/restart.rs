//! Black-box tests of a broker that crashes and is started again on the same config and
//! database: an operation in flight when it died finishes afterwards, and bindings survive.

mod common;

use broker_tests::{bind_body, unique_id, BrokerConfig, BrokerProcess, PLAN_SMALL, SERVICE_ID};
use common::{provision_ready, provision_started};
use serde_json::json;
use std::time::Duration;

#[test]
fn a_provision_running_when_the_broker_is_killed_succeeds_after_a_restart() {
    let config = BrokerConfig::new().task_seconds(3);
    let mut broker = BrokerProcess::start(&config);
    let id = unique_id("instance");
    let operation = provision_started(&broker.client(), &id, PLAN_SMALL, json!({"a": 1}));
    let before = broker.client().last_operation(&id, Some(&operation));
    assert_eq!(before.body["state"], "in progress", "{}", before.text);

    broker.kill();
    assert!(!broker.is_running());
    broker.restart();
    let client = broker.client();

    let during = client.last_operation(&id, Some(&operation));
    assert_eq!(during.status, 200, "{}", during.text);
    let state = client.wait_for_operation(&id, Some(&operation), Duration::from_secs(20));
    assert_eq!(state, "succeeded");
    let instance = client.get_instance(&id);
    assert_eq!(instance.status, 200, "{}", instance.text);
    assert_eq!(instance.body["parameters"], json!({"a": 1}));
}

#[test]
fn a_binding_created_before_a_restart_is_still_fetchable() {
    let config = BrokerConfig::new();
    let mut broker = BrokerProcess::start(&config);
    let client = broker.client();
    let id = unique_id("instance");
    provision_ready(&client, &id, PLAN_SMALL, json!({}));
    let binding_id = unique_id("binding");
    let created =
        client.bind(&id, &binding_id, &bind_body(SERVICE_ID, PLAN_SMALL, json!({"role": "ro"})));
    assert_eq!(created.status, 201, "{}", created.text);

    broker.restart();
    let client = broker.client();
    let fetched = client.get_binding(&id, &binding_id);
    assert_eq!(fetched.status, 200, "{}", fetched.text);
    assert_eq!(fetched.body["credentials"], created.body["credentials"]);
    assert_eq!(fetched.body["parameters"], json!({"role": "ro"}));
    // An identical re-bind still answers 200 with the stored body.
    let again =
        client.bind(&id, &binding_id, &bind_body(SERVICE_ID, PLAN_SMALL, json!({"role": "ro"})));
    assert_eq!(again.status, 200, "{}", again.text);
    assert_eq!(again.body, created.body);
}

#[test]
fn a_bind_interrupted_by_a_crash_is_cleaned_up_by_the_next_unbind() {
    let config = BrokerConfig::new().adapter_timeout_seconds(60).with_adapter_state_dir();
    let state_dir = config.adapter_state_dir();
    let mut broker = BrokerProcess::start(&config);
    let client = broker.client();
    let id = unique_id("instance");
    provision_ready(&client, &id, PLAN_SMALL, json!({}));
    let binding_id = unique_id("binding");
    // create-binding hangs; the broker dies while it runs.
    let hanging = {
        let (client, id, binding_id) = (client.clone(), id.clone(), binding_id.clone());
        std::thread::spawn(move || {
            let body = bind_body(
                SERVICE_ID,
                PLAN_SMALL,
                json!({"adapter_script": {"create-binding": {"sleep_seconds": 20}}}),
            );
            // The request fails (and the thread panics) when the broker is killed.
            client.bind(&id, &binding_id, &body);
        })
    };
    common::wait_for("create-binding to start", Duration::from_secs(20), || {
        (!common::invocations_of(&state_dir, "create-binding").is_empty()).then_some(())
    });
    broker.kill();
    let _ = hanging.join();
    broker.restart();
    let client = broker.client();

    // The interrupted binding was never handed out.
    assert_eq!(client.get_binding(&id, &binding_id).status, 404);
    // Unbinding it asks the adapter to delete whatever it may have created.
    let unbound = client.unbind(&id, &binding_id, SERVICE_ID, PLAN_SMALL);
    assert_eq!(unbound.status, 200, "{}", unbound.text);
    assert_eq!(common::invocations_of(&state_dir, "delete-binding").len(), 1);
    let again = client.unbind(&id, &binding_id, SERVICE_ID, PLAN_SMALL);
    assert_eq!(again.status, 410, "{}", again.text);
}

//! Black-box tests of how a failing `generate-manifest` surfaces through provision: exit codes
//! mapped to HTTP answers, the adapter's stdout shown verbatim, stderr kept for the operator log,
//! a hung adapter killed with its children, and no state left behind by a failed provision.
//!
//! Failures are scripted through the provision's arbitrary parameters
//! (`{"adapter_script": {"generate-manifest": {...}}}`), which the test adapter reads.

mod common;

use broker_tests::{
    provision_body, read_child_pids, unique_id, BrokerConfig, PLAN_SMALL, SERVICE_ID,
};
use common::{
    assert_error, invocations_of, process_alive, provision_ready, start, wait_for,
    OPERATION_TIMEOUT,
};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

/// Provision parameters that script generate-manifest with `entry`.
fn script(entry: Value) -> Value {
    json!({"adapter_script": {"generate-manifest": entry}})
}

#[test]
fn exit_1_with_stdout_is_500_with_the_stdout_verbatim() {
    let (_broker, client) = start(&BrokerConfig::new());
    let message = "maxmemory must be below 4gb: choose a smaller value\n  (second line)";
    let id = unique_id("instance");
    let response = client.provision(
        &id,
        &provision_body(SERVICE_ID, PLAN_SMALL, script(json!({"exit_code": 1, "stdout": message}))),
        true,
    );
    assert_eq!(response.status, 500, "{}", response.text);
    assert_eq!(response.body, json!({"description": message}));
}

#[test]
fn exit_1_with_empty_stdout_is_500_with_the_generic_message() {
    let (_broker, client) = start(&BrokerConfig::new());
    let id = unique_id("instance");
    let response = client.provision(
        &id,
        &provision_body(SERVICE_ID, PLAN_SMALL, script(json!({"exit_code": 1}))),
        true,
    );
    assert_error(&response, 500, "broker-request-id: ");
    let description = response.str_field("description").unwrap();
    assert!(
        description.starts_with("There was a problem completing your request."),
        "{description}"
    );
    assert!(description.contains(&format!("service-instance-guid: {id}")), "{description}");
    assert!(description.contains("operation: create"), "{description}");
}

#[test]
fn exit_10_from_generate_manifest_is_500_generic() {
    let (_broker, client) = start(&BrokerConfig::new());
    let id = unique_id("instance");
    let response = client.provision(
        &id,
        &provision_body(
            SERVICE_ID,
            PLAN_SMALL,
            script(json!({"exit_code": 10, "stdout": "not implemented"})),
        ),
        true,
    );
    assert_error(&response, 500, "broker-request-id: ");
    assert!(
        !response.text.contains("not implemented"),
        "exit 10 is not an UnknownFailure: its stdout must not be shown: {}",
        response.text
    );
}

#[test]
fn a_hung_adapter_is_killed_with_its_children_at_the_timeout() {
    let config = BrokerConfig::new().adapter_timeout_seconds(1).with_adapter_state_dir();
    let state_dir = config.adapter_state_dir();
    let (_broker, client) = start(&config);
    let id = unique_id("instance");
    let started = Instant::now();
    let response = client.provision(
        &id,
        &provision_body(
            SERVICE_ID,
            PLAN_SMALL,
            script(json!({"sleep_seconds": 60, "spawn_child_sleep_seconds": 60})),
        ),
        true,
    );
    let elapsed = started.elapsed();
    assert_error(&response, 500, "broker-request-id: ");
    assert!(
        elapsed < Duration::from_secs(10),
        "the provision took {elapsed:?} with a 1 s adapter timeout"
    );

    // The broker still answers.
    let catalog = client.catalog();
    assert_eq!(catalog.status, 200, "{}", catalog.text);

    // The adapter and the child it spawned are gone.
    let adapter_pid = invocations_of(&state_dir, "generate-manifest")
        .last()
        .and_then(|inv| inv["pid"].as_u64())
        .expect("generate-manifest was logged with a pid") as u32;
    let child_pid = wait_for("the child pid", Duration::from_secs(5), || {
        read_child_pids(&state_dir).first().copied()
    });
    wait_for("the hung adapter to be killed", Duration::from_secs(5), || {
        (!process_alive(adapter_pid)).then_some(())
    });
    wait_for("the adapter's child to be killed", Duration::from_secs(5), || {
        (!process_alive(child_pid)).then_some(())
    });

    // The failed provision left nothing behind.
    assert_eq!(client.last_operation(&id, None).status, 404);
}

#[test]
fn adapter_stderr_goes_to_the_broker_log_and_never_to_the_response() {
    let (broker, client) = start(&BrokerConfig::new());
    // The adapter writes the piece twice, so the marker is in its stderr and nowhere in the
    // request (which the broker might log).
    let piece = "STDERR-4711-";
    let marker = piece.repeat(2);
    let marker = marker.as_str();
    for entry in [
        json!({"exit_code": 1, "stdout": "user-facing text", "stderr": piece, "stderr_repeat": 2}),
        json!({"exit_code": 1, "stderr": piece, "stderr_repeat": 2}),
        json!({"exit_code": 10, "stderr": piece, "stderr_repeat": 2}),
    ] {
        let id = unique_id("instance");
        let response = client.provision(
            &id,
            &provision_body(SERVICE_ID, PLAN_SMALL, script(entry.clone())),
            true,
        );
        assert_eq!(response.status, 500, "{entry}: {}", response.text);
        assert!(
            !response.text.contains(marker),
            "{entry}: stderr leaked into the response: {}",
            response.text
        );
    }
    assert!(
        broker.wait_for_log(marker, Duration::from_secs(5)),
        "the adapter's stderr is not in the broker log"
    );
}

#[test]
fn a_failed_provision_leaves_no_instance_and_the_id_can_be_reused() {
    let (_broker, client) = start(&BrokerConfig::new());
    let id = unique_id("instance");
    let failed = client.provision(
        &id,
        &provision_body(SERVICE_ID, PLAN_SMALL, script(json!({"exit_code": 1, "stdout": "no"}))),
        true,
    );
    assert_error(&failed, 500, "no");

    let last = client.last_operation(&id, None);
    assert_eq!(last.status, 404, "{}", last.text);
    assert_eq!(client.get_instance(&id).status, 404);

    provision_ready(&client, &id, PLAN_SMALL, json!({}));
    let state = client.wait_for_operation(&id, None, OPERATION_TIMEOUT);
    assert_eq!(state, "succeeded");
    let instance = client.get_instance(&id);
    assert_eq!(instance.status, 200, "{}", instance.text);
    assert_eq!(instance.body["parameters"], json!({}));
}

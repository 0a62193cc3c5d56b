//! Helpers shared by the black-box test files: starting a broker, provisioning an instance to
//! completion, polling for a condition, and looking at processes and invocation logs.
//!
//! Each test file includes this module with `mod common;`; not every file uses every helper.
#![allow(dead_code)]

use broker_tests::{
    provision_body, read_invocations, BrokerConfig, BrokerProcess, OsbClient, Response, SERVICE_ID,
};
use serde_json::Value;
use std::path::Path;
use std::time::{Duration, Instant};

/// How long the tests wait for an operation that should finish almost at once.
pub const OPERATION_TIMEOUT: Duration = Duration::from_secs(20);

/// Starts a broker for `config` and returns it with a client.
pub fn start(config: &BrokerConfig) -> (BrokerProcess, OsbClient) {
    let broker = BrokerProcess::start(config);
    let client = broker.client();
    (broker, client)
}

/// Provisions `instance_id` on `plan_id` with `parameters`, asserts the 202, and returns the
/// operation id.
pub fn provision_started(
    client: &OsbClient, instance_id: &str, plan_id: &str, parameters: Value,
) -> String {
    let response =
        client.provision(instance_id, &provision_body(SERVICE_ID, plan_id, parameters), true);
    assert_eq!(response.status, 202, "provision: {}", response.text);
    response
        .str_field("operation")
        .unwrap_or_else(|| panic!("provision answered without an operation: {}", response.text))
        .to_string()
}

/// Provisions `instance_id` and waits until last_operation reports `succeeded`.
pub fn provision_ready(client: &OsbClient, instance_id: &str, plan_id: &str, parameters: Value) {
    let operation = provision_started(client, instance_id, plan_id, parameters);
    let state = client.wait_for_operation(instance_id, Some(&operation), OPERATION_TIMEOUT);
    assert_eq!(state, "succeeded", "provision of {instance_id} did not succeed");
}

/// Provisions `instance_id` on `plan_id` with an adapter whose dashboard-url call writes
/// `stderr` and exits 10, on a deploy the director fails; waits until the operation failed.
pub fn provision_failed_with_stderr(
    client: &OsbClient, instance_id: &str, plan_id: &str, stderr: &str,
) {
    let script = serde_json::json!({"adapter_script": {"dashboard-url": {
        "exit_code": 10, "stderr": stderr}},
        "simulate_task_failure": "deploy"});
    let r = client.provision(instance_id, &provision_body(SERVICE_ID, plan_id, script), true);
    assert_eq!(r.status, 202, "{}", r.text);
    assert_eq!(client.wait_for_operation(instance_id, None, OPERATION_TIMEOUT), "failed");
}

/// Polls `check` every 50 ms until it returns `Some`, or panics with `what` after `timeout`.
pub fn wait_for<T>(what: &str, timeout: Duration, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(found) = check() {
            return found;
        }
        if Instant::now() >= deadline {
            panic!("timed out after {timeout:?} waiting for {what}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Whether a process with `pid` exists and is not a zombie (an exited process nobody reaped
/// counts as gone).
pub fn process_alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => false,
        Ok(stat) => {
            // The state follows the parenthesised command name: `pid (comm) S ...`.
            let state =
                stat.rsplit_once(')').and_then(|(_, rest)| rest.trim_start().chars().next());
            !matches!(state, Some('Z') | Some('X') | None)
        }
    }
}

/// The invocations of `subcommand` in the adapter's log, oldest first.
pub fn invocations_of(state_dir: &Path, subcommand: &str) -> Vec<Value> {
    read_invocations(state_dir).into_iter().filter(|inv| inv["subcommand"] == subcommand).collect()
}

/// The inner object of the stdin envelope for `key` (`generate_manifest`, ...), parsed.
pub fn envelope_section(invocation: &Value, key: &str) -> Value {
    let stdin = invocation["stdin"]
        .as_str()
        .unwrap_or_else(|| panic!("invocation has no stdin: {invocation}"));
    let envelope: Value = serde_json::from_str(stdin).expect("the stdin envelope is JSON");
    envelope[key].clone()
}

/// Parses a string field of an envelope section as JSON.
pub fn json_field(section: &Value, field: &str) -> Value {
    let raw =
        section[field].as_str().unwrap_or_else(|| panic!("{field} is not a string in {section}"));
    serde_json::from_str(raw).unwrap_or_else(|e| panic!("{field} is not JSON ({e}): {raw}"))
}

/// Asserts that `response` is an OSB error with `status` whose description contains `needle`.
pub fn assert_error(response: &Response, status: u16, needle: &str) {
    assert_eq!(response.status, status, "body: {}", response.text);
    let description = response.str_field("description").unwrap_or_else(|| {
        panic!("expected a description in the {status} answer, got {}", response.text)
    });
    assert!(
        description.contains(needle),
        "description {description:?} does not contain {needle:?}"
    );
}

/// Asserts a 422 with the OSB error code `code` and a non-empty description.
pub fn assert_error_code(response: &Response, status: u16, code: &str) {
    assert_eq!(response.status, status, "body: {}", response.text);
    assert_eq!(response.str_field("error"), Some(code), "body: {}", response.text);
    assert!(
        response.str_field("description").is_some_and(|d| !d.is_empty()),
        "expected a description: {}",
        response.text
    );
}

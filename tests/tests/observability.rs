//! What operators watch: liveness and readiness endpoints, JSON log lines, and audit lines.

mod common;

use broker_tests::{
    bind_body, provision_body, unique_id, BrokerConfig, BrokerProcess, FakeDirector, OsbClient,
    API_VERSION, PLAN_SMALL, SERVICE_ID,
};
use common::{start, wait_for, OPERATION_TIMEOUT};
use serde_json::{json, Value};
use std::time::Duration;

fn get_unauthenticated(client: &OsbClient, path: &str) -> (u16, Value) {
    let r = client.request("GET", path, &[], None);
    (r.status, serde_json::from_str(&r.text).unwrap_or(Value::Null))
}

#[test]
fn liveness_and_readiness_answer_without_credentials() {
    let (_broker, client) = start(&BrokerConfig::new());
    assert_eq!(get_unauthenticated(&client, "/health/live"), (200, json!({"status": "ok"})));
    assert_eq!(get_unauthenticated(&client, "/health/ready"), (200, json!({"status": "ready"})));
}

#[test]
fn readiness_follows_the_director() {
    let director = FakeDirector::start_basic("admin", "director-secret");
    let config = BrokerConfig::new()
        .bosh(director.bosh_config())
        .extra_yaml(serde_yaml::from_str("broker: {readiness_interval_millis: 200}").unwrap());
    let (_broker, client) = start(&config);
    assert_eq!(get_unauthenticated(&client, "/health/ready").0, 200);
    director.stop();
    let body = wait_for("unready", Duration::from_secs(20), || {
        let (status, body) = get_unauthenticated(&client, "/health/ready");
        (status == 503).then_some(body)
    });
    assert_eq!(body, json!({"status": "unready"}), "no detail beyond the status");
    // The liveness check does not depend on the director.
    assert_eq!(get_unauthenticated(&client, "/health/live").0, 200);
    director.resume();
    wait_for("ready again", Duration::from_secs(20), || {
        (get_unauthenticated(&client, "/health/ready").0 == 200).then_some(())
    });
}

/// Lines the broker wrote as JSON objects (the harness prefixes nothing).
fn json_lines(broker: &BrokerProcess) -> Vec<Value> {
    broker
        .logs()
        .iter()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not a JSON line ({e}): {l}")))
        .collect()
}

#[test]
fn with_json_logs_every_line_parses_and_a_request_shares_one_id() {
    let config =
        BrokerConfig::new().extra_yaml(serde_yaml::from_str("logging: {format: json}").unwrap());
    let (broker, client) = start(&config);
    let id = unique_id("json");
    let r = client.provision(&id, &provision_body(SERVICE_ID, PLAN_SMALL, json!({})), true);
    assert_eq!(r.status, 202, "{}", r.text);
    assert_eq!(client.wait_for_operation(&id, None, OPERATION_TIMEOUT), "succeeded");
    let r = client.bind(&id, "b", &bind_body(SERVICE_ID, PLAN_SMALL, json!({})));
    assert_eq!(r.status, 201, "{}", r.text);
    std::thread::sleep(Duration::from_millis(200));
    let lines = json_lines(&broker);
    for line in &lines {
        assert!(line["timestamp"].is_string(), "{line}");
        assert!(line["level"].is_string(), "{line}");
    }
    // The bind request: its access line and the "binding created" line carry the same id.
    let created =
        lines.iter().find(|l| l["message"] == "binding created").expect("a binding created line");
    let request_id = created["span"]["request_id"]
        .as_str()
        .expect("the line carries its request id")
        .to_string();
    assert!(!request_id.is_empty());
    let same: Vec<_> =
        lines.iter().filter(|l| l["span"]["request_id"] == request_id.as_str()).collect();
    assert!(
        same.iter().any(|l| l["message"] == "request completed" && l["status"] == 201),
        "{same:#?}"
    );
}

#[test]
fn state_changing_calls_leave_one_audit_line_each_naming_who() {
    use base64::Engine as _;
    let (broker, client) = start(&BrokerConfig::new());
    let id = unique_id("audited");
    let identity = base64::engine::general_purpose::STANDARD.encode(br#"{"user_id":"alice"}"#);
    let r = client.request(
        "PUT",
        &format!("/v2/service_instances/{id}?accepts_incomplete=true"),
        &[
            ("Authorization", "Basic YWRtaW46cGFzc3dvcmQ="),
            ("X-Broker-API-Version", API_VERSION),
            ("X-Broker-API-Originating-Identity", &format!("cloudfoundry {identity}")),
        ],
        Some(&provision_body(SERVICE_ID, PLAN_SMALL, json!({})).to_string()),
    );
    assert_eq!(r.status, 202, "{}", r.text);
    assert_eq!(client.wait_for_operation(&id, None, OPERATION_TIMEOUT), "succeeded");
    let r = client.bind(&id, "b1", &bind_body(SERVICE_ID, PLAN_SMALL, json!({})));
    assert_eq!(r.status, 201, "{}", r.text);
    let r = client.bind(&id, "b1", &bind_body(SERVICE_ID, PLAN_SMALL, json!({"x": 1})));
    assert_eq!(r.status, 409, "{}", r.text);
    std::thread::sleep(Duration::from_millis(200));
    let audits: Vec<String> = broker.logs().into_iter().filter(|l| l.contains(" audit ")).collect();
    assert_eq!(audits.len(), 3, "one line per state-changing call: {audits:#?}");
    assert!(
        audits[0].contains("who=alice")
            && audits[0].contains("action=provision")
            && audits[0].contains(&format!("instance={id}"))
            && audits[0].contains("status=202"),
        "{}",
        audits[0]
    );
    assert!(
        audits[1].contains("who=unknown")
            && audits[1].contains("action=bind")
            && audits[1].contains("binding=b1")
            && audits[1].contains("outcome=done"),
        "{}",
        audits[1]
    );
    assert!(
        audits[2].contains("outcome=refused") && audits[2].contains("status=409"),
        "{}",
        audits[2]
    );
    // Reads leave none.
    let before = audits.len();
    client.last_operation(&id, None);
    client.catalog();
    std::thread::sleep(Duration::from_millis(200));
    let after = broker.logs().iter().filter(|l| l.contains(" audit ")).count();
    assert_eq!(after, before);
}

#[test]
fn the_history_of_a_failed_deploy_shows_the_adapter_and_director_steps_in_order() {
    let config = BrokerConfig::new().plan_property(
        PLAN_SMALL,
        "adapter_secrets",
        json!({"admin_password": "never-in-the-history"}),
    );
    let (_broker, client) = start(&config);
    let id = unique_id("failing");
    let r = client.provision(
        &id,
        &provision_body(SERVICE_ID, PLAN_SMALL, json!({"simulate_task_failure": "deploy"})),
        true,
    );
    assert_eq!(r.status, 202, "{}", r.text);
    assert_eq!(client.wait_for_operation(&id, None, OPERATION_TIMEOUT), "failed");
    let r = client.instance_history(&id);
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(!r.text.contains("never-in-the-history"), "{}", r.text);
    let entries = r.body.as_array().expect("a list").clone();
    assert_eq!(entries.len(), 1, "{entries:#?}");
    let create = &entries[0];
    assert_eq!(create["activity"], "create");
    assert_eq!(create["state"], "failed");
    assert!(create["error"].as_str().unwrap().contains("ended in state error"));
    let kinds: Vec<String> = create["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| match s["kind"].as_str().unwrap() {
            "adapter" => format!("adapter {}", s["subcommand"].as_str().unwrap()),
            "task" => {
                format!("task {} {}", s["what"].as_str().unwrap(), s["state"].as_str().unwrap())
            }
            other => other.to_string(),
        })
        .collect();
    assert_eq!(
        kinds,
        [
            "adapter generate-manifest",
            "adapter dashboard-url",
            "task deploy submitted",
            "task deploying error",
            "finished"
        ],
        "{create:#?}"
    );
    // The operator CLI prints the same story.
    let out = broker_tests::run_broker(&[
        "history",
        &id,
        "--broker-url",
        client.base_url(),
        "--username",
        "admin",
        "--password",
        "password",
    ]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text} {}", String::from_utf8_lossy(&out.stderr));
    assert!(text.contains("create (operation "), "{text}");
    assert!(text.contains("adapter generate-manifest exit_0"), "{text}");
    assert!(text.contains("task "), "{text}");
    assert!(!text.contains("never-in-the-history"), "{text}");
    // An unknown instance has no history.
    let r =
        client.send(reqwest::Method::GET, "/mgmt/service_instances/nobody/operations", &[], None);
    assert_eq!(r.status, 404, "{}", r.text);
}

#[test]
fn the_history_shows_director_calls_and_binds() {
    let director = FakeDirector::start_basic("admin", "director-secret");
    let (_broker, client) = start(&BrokerConfig::new().bosh(director.bosh_config()));
    let id = unique_id("history");
    let r = client.provision(&id, &provision_body(SERVICE_ID, PLAN_SMALL, json!({})), true);
    assert_eq!(r.status, 202, "{}", r.text);
    assert_eq!(client.wait_for_operation(&id, None, OPERATION_TIMEOUT), "succeeded");
    let r = client.bind(&id, "b1", &bind_body(SERVICE_ID, PLAN_SMALL, json!({})));
    assert_eq!(r.status, 201, "{}", r.text);
    let r = client.instance_history(&id);
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(!r.text.contains("director-secret"), "{}", r.text);
    let entries = r.body.as_array().unwrap();
    assert_eq!(entries[0]["activity"], "bind b1", "newest first: {entries:#?}");
    let create = entries.iter().find(|e| e["activity"] == "create").unwrap();
    let director_calls: Vec<String> = create["steps"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["kind"] == "director")
        .map(|s| format!("{} {}", s["method"].as_str().unwrap(), s["path"].as_str().unwrap()))
        .collect();
    assert!(director_calls.iter().any(|c| c == "POST /deployments"), "{director_calls:#?}");
    let bind_steps = entries[0]["steps"].as_array().unwrap();
    assert!(bind_steps
        .iter()
        .any(|s| s["kind"] == "adapter" && s["subcommand"] == "create-binding"));
    assert!(bind_steps
        .iter()
        .any(|s| s["kind"] == "director" && s["path"].as_str().unwrap().ends_with("/instances")));
    assert_eq!(bind_steps.last().unwrap()["state"], "succeeded");
    // The director calls are counted by kind, with no instance id in any label.
    let metrics = client.send(reqwest::Method::GET, "/metrics", &[], None);
    assert_eq!(metrics.status, 200);
    assert!(
        metrics.text.lines().any(|l| l.starts_with(
            "on_demand_broker_director_calls_total{call=\"POST /deployments\",outcome=\"3xx\"}"
        )),
        "{}",
        metrics.text
    );
    assert!(metrics.text.contains("on_demand_broker_director_call_duration_seconds_bucket{"));
    assert!(!metrics.text.contains(&id), "an instance id in the metrics");
}

//! Black-box tests of the operator commands (`upgrade-all`, `recreate-all`,
//! `orphan-deployments`, `delete-all`): the broker binary runs as a server, and the same
//! binary runs the command against it, as an operator would.
//!
//! An instance whose upgrade fails is made without touching the test adapter: an OSB update
//! with the parameter `simulate_task_failure: deploy` fails at the director, but the simulated
//! director keeps the manifest it was given, and the test adapter carries the previous
//! manifest's properties into the next one, so the instance's next deploy (the upgrade) fails
//! too. Its create, and every other instance, are unaffected.

use broker_tests::{
    bind_body, broker_binary, provision_body, unique_id, update_body, BrokerConfig, BrokerProcess,
    OsbClient, PLAN_LARGE, PLAN_SMALL, SERVICE_ID,
};
use reqwest::Method;
use serde_json::{json, Value};
use std::process::{Command, Stdio};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(30);

/// What a command run produced.
struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Run {
    fn output(&self) -> String {
        format!("exit {:?}\nstdout:\n{}\nstderr:\n{}", self.code, self.stdout, self.stderr)
    }
}

/// Runs `on-demand-broker <args>` against `broker`, credentials from the environment.
fn cli(broker: &BrokerProcess, args: &[&str]) -> Run {
    let output = Command::new(broker_binary())
        .args(args)
        .args(["--broker-url", broker.base_url()])
        .env("BROKER_USERNAME", "admin")
        .env("BROKER_PASSWORD", "password")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .output()
        .expect("cannot run the broker binary");
    let run = Run {
        code: output.status.code(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    };
    eprintln!("{}", run.output());
    run
}

/// Fast polling and retries for the tests.
const FAST: [&str; 4] = ["--polling-interval", "0.1", "--retry-interval", "0.1"];

fn provision(client: &OsbClient, plan_id: &str) -> String {
    let id = unique_id("instance");
    let r = client.provision(&id, &provision_body(SERVICE_ID, plan_id, Value::Null), true);
    assert_eq!(r.status, 202, "{}", r.text);
    assert_eq!(client.wait_for_operation(&id, None, WAIT), "succeeded");
    id
}

/// An instance whose next deploy fails (see the module comment).
fn provision_doomed(client: &OsbClient) -> String {
    let id = provision(client, PLAN_SMALL);
    let body = update_body(
        SERVICE_ID,
        PLAN_SMALL,
        json!({"simulate_task_failure": "deploy"}),
        Some(PLAN_SMALL),
    );
    let r = client.update(&id, &body, true);
    assert_eq!(r.status, 202, "{}", r.text);
    assert_eq!(client.wait_for_operation(&id, None, WAIT), "failed");
    id
}

fn listed(client: &OsbClient) -> Vec<Value> {
    let r = client.send(Method::GET, "/mgmt/service_instances", &[], None);
    assert_eq!(r.status, 200, "{}", r.text);
    r.body.as_array().unwrap().clone()
}

#[test]
fn upgrade_all_upgrades_every_instance_and_summarises() {
    let broker = BrokerProcess::start(&BrokerConfig::new());
    let client = broker.client();
    let ids = [
        provision(&client, PLAN_SMALL),
        provision(&client, PLAN_LARGE),
        provision(&client, PLAN_SMALL),
    ];
    let mut args = vec!["upgrade-all", "--canaries", "1", "--max-in-flight", "2"];
    args.extend(FAST);
    let run = cli(&broker, &args);
    assert_eq!(run.code, Some(0), "{}", run.output());
    assert!(run.stdout.contains("upgraded 3, failed 0, busy 0, deleted 0"), "{}", run.output());
    for id in &ids {
        assert!(
            run.stdout.contains(&format!("[{id}] upgrade started (operation ")),
            "{}",
            run.output()
        );
        assert!(run.stdout.contains(&format!("[{id}] succeeded")), "{}", run.output());
    }
    for instance in listed(&client) {
        assert_eq!(instance["last_operation"]["type"], "upgrade");
        assert_eq!(instance["last_operation"]["state"], "succeeded");
    }
}

#[test]
fn upgrade_all_exits_non_zero_and_names_the_instance_whose_upgrade_failed() {
    let broker = BrokerProcess::start(&BrokerConfig::new());
    let client = broker.client();
    let good = [provision(&client, PLAN_SMALL), provision(&client, PLAN_LARGE)];
    let doomed = provision_doomed(&client);

    let mut args = vec!["upgrade-all", "--max-in-flight", "3"];
    args.extend(FAST);
    let run = cli(&broker, &args);
    assert_eq!(run.code, Some(1), "{}", run.output());
    assert!(run.stdout.contains("upgraded 2, failed 1, busy 0, deleted 0"), "{}", run.output());
    assert!(run.stdout.contains(&format!("[{doomed}] failed: ")), "{}", run.output());
    let failure_line = run
        .stderr
        .lines()
        .find(|l| l.contains("upgrade failed for"))
        .unwrap_or_else(|| panic!("no failure line: {}", run.output()));
    assert!(failure_line.contains(&doomed), "{failure_line}");
    for id in &good {
        assert!(!failure_line.contains(id.as_str()), "{failure_line}");
        assert!(run.stdout.contains(&format!("[{id}] succeeded")), "{}", run.output());
    }
}

#[test]
fn a_failed_canary_stops_upgrade_all_before_the_other_instances() {
    let broker = BrokerProcess::start(&BrokerConfig::new());
    let client = broker.client();
    // Listed oldest first, so the doomed instance is the canary.
    let doomed = provision_doomed(&client);
    let others = [provision(&client, PLAN_SMALL), provision(&client, PLAN_SMALL)];

    let mut args = vec!["upgrade-all", "--canaries", "1"];
    args.extend(FAST);
    let run = cli(&broker, &args);
    assert_eq!(run.code, Some(1), "{}", run.output());
    assert!(
        run.stdout.contains("upgraded 0, failed 1, busy 0, deleted 0, not processed 2"),
        "{}",
        run.output()
    );
    assert!(run.stderr.contains(&doomed), "{}", run.output());
    for id in &others {
        assert!(!run.stdout.contains(id.as_str()), "{id} was touched: {}", run.output());
    }
    for instance in listed(&client) {
        if instance["service_instance_id"] != doomed.as_str() {
            assert_eq!(instance["last_operation"]["type"], "create");
        }
    }
}

#[test]
fn upgrade_all_reports_an_instance_that_stays_busy() {
    let broker = BrokerProcess::start(&BrokerConfig::new().task_seconds(20));
    let client = broker.client();
    let id = unique_id("instance");
    let r = client.provision(&id, &provision_body(SERVICE_ID, PLAN_SMALL, Value::Null), true);
    assert_eq!(r.status, 202, "{}", r.text);

    let mut args = vec!["upgrade-all", "--attempts", "2"];
    args.extend(FAST);
    let run = cli(&broker, &args);
    assert_eq!(run.code, Some(1), "{}", run.output());
    assert!(run.stdout.contains("upgraded 0, failed 0, busy 1, deleted 0"), "{}", run.output());
    assert!(run.stdout.contains(&format!("[{id}] busy (attempt 1 of 2)")), "{}", run.output());
    assert!(run.stderr.contains(&id), "{}", run.output());
}

#[test]
fn recreate_all_recreates_every_instance() {
    let broker = BrokerProcess::start(&BrokerConfig::new());
    let client = broker.client();
    let ids = [provision(&client, PLAN_SMALL), provision(&client, PLAN_LARGE)];
    let mut args = vec!["recreate-all", "--max-in-flight", "2"];
    args.extend(FAST);
    let run = cli(&broker, &args);
    assert_eq!(run.code, Some(0), "{}", run.output());
    assert!(run.stdout.contains("recreated 2, failed 0, busy 0, deleted 0"), "{}", run.output());
    for id in &ids {
        assert!(run.stdout.contains(&format!("[{id}] recreate started")), "{}", run.output());
    }
    for instance in listed(&client) {
        assert_eq!(instance["last_operation"]["type"], "recreate");
        assert_eq!(instance["last_operation"]["state"], "succeeded");
    }
}

#[test]
fn orphan_deployments_exits_10_when_there_are_orphans() {
    let config = BrokerConfig::new();
    let broker = BrokerProcess::start(&config);
    let client = broker.client();
    provision(&client, PLAN_SMALL);
    let run = cli(&broker, &["orphan-deployments"]);
    assert_eq!(run.code, Some(0), "{}", run.output());
    assert_eq!(run.stdout.trim(), "[]");

    // Plant a deployment the broker does not know in the simulated director's table.
    let plant = "INSERT INTO sim_deployments (name, manifest) VALUES ('service-instance_lost', 'name: service-instance_lost')";
    if config.postgres_query(plant).is_none() {
        let db = rusqlite::Connection::open(config.database_path()).unwrap();
        db.busy_timeout(Duration::from_secs(10)).unwrap();
        db.execute(plant, []).unwrap();
    }
    let run = cli(&broker, &["orphan-deployments"]);
    assert_eq!(run.code, Some(10), "{}", run.output());
    let printed: Value = serde_json::from_str(run.stdout.trim()).unwrap();
    assert_eq!(printed, json!([{"deployment_name": "service-instance_lost"}]));
}

#[test]
fn operator_commands_report_wrong_credentials_and_an_unreachable_broker() {
    let broker = BrokerProcess::start(&BrokerConfig::new());
    let run = cli(&broker, &["orphan-deployments", "--password", "wrong"]);
    assert_eq!(run.code, Some(1), "{}", run.output());
    assert!(run.stderr.contains("401"), "{}", run.output());
    let output = Command::new(broker_binary())
        .args([
            "upgrade-all",
            "--broker-url",
            "http://127.0.0.1:1",
            "--username",
            "a",
            "--password",
            "b",
        ])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).contains("cannot reach the broker"));
}

#[test]
fn delete_all_refuses_without_the_confirmation_flag() {
    let broker = BrokerProcess::start(&BrokerConfig::new());
    let client = broker.client();
    let id = provision(&client, PLAN_SMALL);
    let run = cli(&broker, &["delete-all"]);
    assert_eq!(run.code, Some(2), "{}", run.output());
    assert!(run.stderr.contains("--yes-delete-every-instance"), "{}", run.output());
    assert_eq!(listed(&client).len(), 1, "{id} must survive");
}

#[test]
fn delete_all_unbinds_and_deletes_every_instance() {
    let broker = BrokerProcess::start(&BrokerConfig::new());
    let client = broker.client();
    let bound = provision(&client, PLAN_SMALL);
    let other = provision(&client, PLAN_LARGE);
    let r = client.bind(&bound, "binding-1", &bind_body(SERVICE_ID, PLAN_SMALL, Value::Null));
    assert!(r.status == 200 || r.status == 201, "{}", r.text);

    let run =
        cli(&broker, &["delete-all", "--yes-delete-every-instance", "--polling-interval", "0.1"]);
    assert_eq!(run.code, Some(0), "{}", run.output());
    assert!(run.stdout.contains(&format!("[{bound}] unbound binding-1")), "{}", run.output());
    assert!(run.stdout.contains("deleted 2, failed 0"), "{}", run.output());
    assert!(listed(&client).is_empty());
    for id in [&bound, &other] {
        let r = client.send(Method::GET, "/mgmt/orphan_deployments", &[], None);
        assert_eq!(r.body, json!([]), "{id}'s deployment is gone too");
    }
}

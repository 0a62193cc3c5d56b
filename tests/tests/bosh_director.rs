//! The broker against a BOSH director over HTTPS: each test starts a [`FakeDirector`] (its own CA,
//! UAA or basic auth) and a broker configured with `bosh:` for it, drives the broker as a platform
//! would, and asserts the requests the director received and what the platform saw.

use broker_tests::fake_director::{unrelated_ca_pem, AuthKind};
use broker_tests::{
    bind_body, provision_body, read_invocations, unique_id, update_body, BrokerConfig,
    BrokerProcess, FakeDirector, FakeLinkProvider, OsbClient, RecordedRequest, PLAN_LARGE,
    PLAN_SMALL, SERVICE_ID,
};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(30);

fn deployment(instance_id: &str) -> String {
    format!("service-instance_{instance_id}")
}

/// A broker config for `director`, its plans logging adapter invocations.
fn config_for(director: &FakeDirector) -> BrokerConfig {
    BrokerConfig::new().bosh(director.bosh_config()).with_adapter_state_dir()
}

/// Sets a plan key (`lifecycle_errands`, `binding_with_dns`, ...) from JSON.
fn plan_key(mut config: BrokerConfig, plan_id: &str, key: &str, value: Value) -> BrokerConfig {
    config.plan_mut(plan_id).extra.insert(key.into(), serde_yaml::to_value(value).unwrap());
    config
}

/// Provisions `plan_id` and returns (instance id, operation id) once the broker answered 202.
fn provision(client: &OsbClient, plan_id: &str) -> (String, String) {
    let id = unique_id("instance");
    let resp = client.provision(&id, &provision_body(SERVICE_ID, plan_id, Value::Null), true);
    assert_eq!(resp.status, 202, "{}", resp.text);
    let op = resp.str_field("operation").unwrap_or_default().to_string();
    (id, op)
}

fn wait(client: &OsbClient, id: &str, op: &str) -> String {
    client.wait_for_operation(id, Some(op).filter(|o| !o.is_empty()), WAIT)
}

/// Requests matching `method` and `path`.
fn matching(director: &FakeDirector, method: &str, path: &str) -> Vec<RecordedRequest> {
    director.requests().into_iter().filter(|r| r.method == method && r.path == path).collect()
}

/// Asserts that `expected` appear in `actual` in this order (other lines may come between).
fn assert_in_order(actual: &[String], expected: &[&str]) {
    let mut rest = actual.iter();
    for want in expected {
        assert!(
            rest.any(|a| a == want),
            "expected {want:?} (in order {expected:?}) in {actual:#?}"
        );
    }
}

/// Waits until `check` holds, polling every 50 ms.
fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + WAIT;
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn full_lifecycle_over_tls_with_uaa() {
    let director = FakeDirector::start_uaa("odb-client", "uaa-secret");
    let config = config_for(&director);
    let config = plan_key(
        config,
        PLAN_SMALL,
        "lifecycle_errands",
        json!({"post_deploy": [{"name": "smoke-tests", "instances": ["redis-server/0"]}],
               "pre_delete": [{"name": "cleanup"}]}),
    );
    let config = plan_key(
        config,
        PLAN_LARGE,
        "lifecycle_errands",
        json!({"pre_delete": [{"name": "cleanup"}]}),
    );
    let broker = BrokerProcess::start(&config);
    assert!(broker.wait_for_log("BOSH director reachable and authenticated", WAIT));
    assert!(broker.logs().iter().all(|l| !l.contains("uaa-secret")));
    let client = broker.client();

    // Provision: deploy, then the post-deploy errand, both tagged with the operation id.
    let (id, op) = provision(&client, PLAN_SMALL);
    assert_eq!(wait(&client, &id, &op), "succeeded");
    let d = deployment(&id);
    let deploys = matching(&director, "POST", "/deployments");
    assert_eq!(deploys.len(), 1);
    assert_eq!(deploys[0].content_type.as_deref(), Some("text/yaml"));
    assert_eq!(deploys[0].context_id.as_deref(), Some(op.as_str()));
    assert!(deploys[0].body.contains(&format!("name: {d}")));
    let errand_path = format!("/deployments/{d}/errands/smoke-tests/runs");
    let errands = matching(&director, "POST", &errand_path);
    assert_eq!(errands.len(), 1);
    assert_eq!(errands[0].context_id.as_deref(), Some(op.as_str()));
    assert_eq!(
        errands[0].json(),
        json!({"keep-alive": false, "when-changed": false,
               "instances": [{"group": "redis-server", "id": "0"}]})
    );
    let in_flight = director
        .requests()
        .into_iter()
        .find(|r| r.path == "/tasks" && r.query_value("state").is_some())
        .expect("the broker checks for tasks in progress before deploying");
    assert_eq!(in_flight.query_value("state"), Some("processing,cancelling,queued"));
    assert_eq!(in_flight.query_value("deployment"), Some(d.as_str()));
    assert_in_order(&director.actions(), &["POST /deployments", &format!("POST {errand_path}")]);

    // Bind and unbind: VMs from the synchronous instances endpoint.
    let resp = client.bind(&id, "binding-1", &bind_body(SERVICE_ID, PLAN_SMALL, json!({})));
    assert_eq!(resp.status, 201, "{}", resp.text);
    assert_eq!(resp.body["credentials"]["bosh_vms"], json!({"redis-server": ["10.244.0.10"]}));
    assert_eq!(matching(&director, "GET", &format!("/deployments/{d}/instances")).len(), 1);
    assert!(director.requests().iter().all(|r| !r.path.ends_with("/vms")));
    let resp = client.unbind(&id, "binding-1", SERVICE_ID, PLAN_SMALL);
    assert_eq!(resp.status, 200, "{}", resp.text);

    // Update to the large plan: a second deploy with three instances.
    let resp = client.update(
        &id,
        &update_body(SERVICE_ID, PLAN_LARGE, Value::Null, Some(PLAN_SMALL)),
        true,
    );
    assert_eq!(resp.status, 202, "{}", resp.text);
    let op = resp.str_field("operation").unwrap_or_default().to_string();
    assert_eq!(wait(&client, &id, &op), "succeeded");
    let deploys = matching(&director, "POST", "/deployments");
    assert_eq!(deploys.len(), 2);
    assert_eq!(deploys[1].context_id.as_deref(), Some(op.as_str()));
    assert!(deploys[1].body.contains("instances: 3"), "{}", deploys[1].body);

    // Deprovision: the pre-delete errand, then the delete, both with the context header.
    let resp = client.deprovision(&id, SERVICE_ID, PLAN_LARGE, true);
    assert_eq!(resp.status, 202, "{}", resp.text);
    let op = resp.str_field("operation").unwrap_or_default().to_string();
    let state = wait(&client, &id, &op);
    assert!(state == "succeeded" || state == "gone", "{state}");
    let cleanup = format!("POST /deployments/{d}/errands/cleanup/runs");
    let delete = format!("DELETE /deployments/{d}");
    assert_in_order(&director.actions(), &[&cleanup, &delete]);
    let deletes = matching(&director, "DELETE", &format!("/deployments/{d}"));
    assert_eq!(deletes.len(), 1);
    assert_eq!(deletes[0].context_id.as_deref(), Some(op.as_str()));
    assert!(director.deployments().is_empty());

    // Every director call but the unauthenticated /info was made with an accepted bearer token.
    for r in director.requests() {
        if r.path == "/oauth/token" || (r.path == "/info" && r.auth == AuthKind::None) {
            continue;
        }
        assert_eq!(r.auth, AuthKind::Bearer, "{r:?}");
        assert!(r.authorized, "{r:?}");
    }
    assert_eq!(director.grants(), 1, "one token serves the whole lifecycle");
}

#[test]
fn basic_authentication() {
    let director = FakeDirector::start_basic("director-admin", "basic-pw");
    let broker = BrokerProcess::start(&config_for(&director));
    let client = broker.client();
    let (id, op) = provision(&client, PLAN_SMALL);
    assert_eq!(wait(&client, &id, &op), "succeeded");
    let resp = client.deprovision(&id, SERVICE_ID, PLAN_SMALL, true);
    assert_eq!(resp.status, 202, "{}", resp.text);
    let op = resp.str_field("operation").unwrap_or_default().to_string();
    let state = wait(&client, &id, &op);
    assert!(state == "succeeded" || state == "gone", "{state}");
    let requests = director.requests();
    assert!(requests.iter().all(|r| r.path != "/oauth/token"));
    assert!(requests
        .iter()
        .filter(|r| r.path != "/info")
        .all(|r| r.auth == AuthKind::Basic && r.authorized));
    assert!(requests.iter().any(|r| r.path == "/info" && r.auth == AuthKind::Basic));
    assert!(broker.logs().iter().all(|l| !l.contains("basic-pw")));
}

#[test]
fn a_rejected_token_is_replaced_once_and_expiring_tokens_are_refreshed() {
    let director = FakeDirector::start_uaa("odb-client", "uaa-secret");
    let broker = BrokerProcess::start(&config_for(&director));
    let client = broker.client();
    let (id, op) = provision(&client, PLAN_SMALL);
    assert_eq!(wait(&client, &id, &op), "succeeded");
    assert_eq!(director.grants(), 1);

    // The director stops accepting the token: one 401, one new grant, the retry succeeds.
    director.revoke_tokens();
    director.clear_requests();
    let resp = client.bind(&id, "b1", &bind_body(SERVICE_ID, PLAN_SMALL, json!({})));
    assert_eq!(resp.status, 201, "{}", resp.text);
    assert_eq!(director.grants(), 2);
    let rejected: Vec<_> = director
        .requests()
        .into_iter()
        .filter(|r| r.path != "/oauth/token" && r.path != "/info" && !r.authorized)
        .collect();
    assert_eq!(rejected.len(), 1, "{rejected:#?}");

    // Short-lived tokens are replaced before they expire, without a 401.
    // A 4 s token is refreshed 2 s after its grant (half its life, for short tokens).
    director.set_token_expires_in(4);
    director.revoke_tokens();
    let resp = client.bind(&id, "b2", &bind_body(SERVICE_ID, PLAN_SMALL, json!({})));
    assert_eq!(resp.status, 201, "{}", resp.text);
    assert_eq!(director.grants(), 3);
    director.clear_requests();
    std::thread::sleep(Duration::from_millis(2500));
    let resp = client.bind(&id, "b3", &bind_body(SERVICE_ID, PLAN_SMALL, json!({})));
    assert_eq!(resp.status, 201, "{}", resp.text);
    assert_eq!(director.grants(), 4, "an expiring token is refreshed ahead of time");
    assert!(
        director
            .requests()
            .iter()
            .all(|r| r.path == "/info" || r.path == "/oauth/token" || r.authorized),
        "no request was sent with an expired token"
    );
}

#[test]
fn the_configured_ca_is_the_one_trusted() {
    let director = FakeDirector::start_uaa("odb-client", "uaa-secret");
    for ca in [Some(unrelated_ca_pem()), None] {
        let mut bosh = director.bosh_config();
        match &ca {
            Some(pem) => bosh["root_ca_cert"] = pem.clone().into(),
            None => {
                bosh.as_mapping_mut().unwrap().remove("root_ca_cert");
            }
        }
        let config = BrokerConfig::new().bosh(bosh);
        let err = match BrokerProcess::try_start(&config) {
            Ok(_) => panic!("the broker started although it cannot trust the director"),
            Err(e) => e,
        };
        assert!(err.contains("exited with"), "{err}");
        assert!(err.contains(&director.url()), "the message names the URL: {err}");
        assert!(
            err.contains("set bosh.root_ca_cert"),
            "the message says the certificate is not trusted: {err}"
        );
        assert!(!err.contains("uaa-secret"));
    }
}

#[test]
fn a_failed_deploy_task_fails_the_operation() {
    let director = FakeDirector::start_uaa("odb-client", "uaa-secret");
    let broker = BrokerProcess::start(&config_for(&director));
    let client = broker.client();
    director.fail_next("deploy", "Error: instance group redis-server failed to start");
    let (id, op) = provision(&client, PLAN_SMALL);
    assert_eq!(wait(&client, &id, &op), "failed");
    let resp = client.last_operation(&id, Some(&op));
    let description = resp.str_field("description").unwrap_or_default();
    assert!(description.starts_with("Instance provisioning failed"), "{description}");
    assert!(description.contains("task-id: 1"), "{description}");
}

#[test]
fn a_task_in_progress_on_the_director_is_a_concurrency_error() {
    let director = FakeDirector::start_uaa("odb-client", "uaa-secret");
    let broker = BrokerProcess::start(&config_for(&director));
    let client = broker.client();
    let (id, op) = provision(&client, PLAN_SMALL);
    assert_eq!(wait(&client, &id, &op), "succeeded");
    let task = director.add_running_task(&deployment(&id), "run errand backup");
    let resp = client.update(
        &id,
        &update_body(SERVICE_ID, PLAN_LARGE, Value::Null, Some(PLAN_SMALL)),
        true,
    );
    assert_eq!(resp.status, 422, "{}", resp.text);
    assert_eq!(resp.str_field("error"), Some("ConcurrencyError"));
    let resp = client.deprovision(&id, SERVICE_ID, PLAN_SMALL, true);
    assert_eq!(resp.status, 422, "{}", resp.text);
    assert_eq!(resp.str_field("error"), Some("ConcurrencyError"));
    assert_eq!(matching(&director, "POST", "/deployments").len(), 1);
    director.finish_task(task);
    let resp = client.deprovision(&id, SERVICE_ID, PLAN_SMALL, true);
    assert_eq!(resp.status, 202, "{}", resp.text);
}

#[test]
fn an_errand_that_exits_non_zero_fails_the_operation() {
    let director = FakeDirector::start_uaa("odb-client", "uaa-secret");
    let config = plan_key(
        config_for(&director),
        PLAN_SMALL,
        "lifecycle_errands",
        json!({"post_deploy": [{"name": "smoke-tests"}]}),
    );
    let broker = BrokerProcess::start(&config);
    let client = broker.client();
    director.set_errand_exit_code("smoke-tests", 1);
    let (id, op) = provision(&client, PLAN_SMALL);
    assert_eq!(wait(&client, &id, &op), "failed");
    let errand = matching(
        &director,
        "POST",
        &format!("/deployments/{}/errands/smoke-tests/runs", deployment(&id)),
    );
    assert_eq!(errand[0].json()["instances"], json!([]));
    let output: Vec<_> =
        director.requests().into_iter().filter(|r| r.path.ends_with("/output")).collect();
    assert!(!output.is_empty());
    assert_eq!(output[0].query_value("type"), Some("result"));
    assert!(broker.logs().iter().any(|l| l.contains("errand exited with code 1")));
}

#[test]
fn configs_are_applied_before_the_deploy_and_deleted_with_the_instance() {
    let director = FakeDirector::start_uaa("odb-client", "uaa-secret");
    let config = config_for(&director).plan_property(
        PLAN_SMALL,
        "adapter_configs",
        json!({"cloud": "vm_types: [{name: small}]", "runtime": "addons: []"}),
    );
    let broker = BrokerProcess::start(&config);
    let client = broker.client();
    let (id, op) = provision(&client, PLAN_SMALL);
    assert_eq!(wait(&client, &id, &op), "succeeded");
    let d = deployment(&id);
    assert_in_order(&director.actions(), &["POST /configs", "POST /configs", "POST /deployments"]);
    let posted: Vec<Value> =
        matching(&director, "POST", "/configs").iter().map(RecordedRequest::json).collect();
    assert!(posted
        .contains(&json!({"type": "cloud", "name": d, "content": "vm_types: [{name: small}]"})));
    assert_eq!(director.configs(&d).len(), 2);

    let resp = client.deprovision(&id, SERVICE_ID, PLAN_SMALL, true);
    assert_eq!(resp.status, 202, "{}", resp.text);
    let op = resp.str_field("operation").unwrap_or_default().to_string();
    let state = wait(&client, &id, &op);
    assert!(state == "succeeded" || state == "gone", "{state}");
    let list = matching(&director, "GET", "/configs");
    assert_eq!(list[0].query_value("name"), Some(d.as_str()));
    assert_eq!(list[0].query_value("latest"), Some("true"));
    let deletes = matching(&director, "DELETE", "/configs");
    assert_eq!(deletes.len(), 2);
    assert!(deletes.iter().all(|r| r.query_value("name") == Some(d.as_str())));
    assert!(director.configs(&d).is_empty());
    assert_in_order(
        &director.actions(),
        &[&format!("DELETE /deployments/{d}"), "GET /configs", "DELETE /configs"],
    );
}

#[test]
fn dns_addresses_reach_create_binding() {
    let director = FakeDirector::start_uaa("odb-client", "uaa-secret");
    director.set_link_providers(vec![
        FakeLinkProvider {
            name: "redis".into(),
            instance_group: "redis-server".into(),
            shared: false,
        },
        FakeLinkProvider {
            name: "redis".into(),
            instance_group: "other-group".into(),
            shared: true,
        },
        FakeLinkProvider {
            name: "redis".into(),
            instance_group: "redis-server".into(),
            shared: true,
        },
    ]);
    let config = plan_key(
        config_for(&director),
        PLAN_SMALL,
        "binding_with_dns",
        json!([{"name": "leader", "link_provider": "redis", "instance_group": "redis-server",
                "properties": {"azs": ["z1"], "status": "healthy"}}]),
    );
    let state_dir = config.adapter_state_dir();
    let broker = BrokerProcess::start(&config);
    let client = broker.client();
    let (id, op) = provision(&client, PLAN_SMALL);
    assert_eq!(wait(&client, &id, &op), "succeeded");
    let resp = client.bind(&id, "b1", &bind_body(SERVICE_ID, PLAN_SMALL, json!({})));
    assert_eq!(resp.status, 201, "{}", resp.text);
    let d = deployment(&id);
    let expected = format!("q-a1s0.redis-server.default.{}.bosh", d.replace('_', "-"));
    assert_eq!(resp.body["credentials"]["dns_addresses"], json!({"leader": expected}));
    let invocation = read_invocations(&state_dir)
        .into_iter()
        .rfind(|i| i["subcommand"] == "create-binding")
        .expect("create-binding ran");
    let stdin: Value = serde_json::from_str(invocation["stdin"].as_str().unwrap()).unwrap();
    let dns: Value =
        serde_json::from_str(stdin["create_binding"]["dns_addresses"].as_str().unwrap()).unwrap();
    assert_eq!(dns, json!({"leader": expected}));

    let links = matching(&director, "POST", "/links");
    assert_eq!(links.len(), 1);
    assert_eq!(
        links[0].json(),
        json!({"link_provider_id": "3",
               "link_consumer": {"owner_object": {"name": "external_consumer_id", "type": "external"}}})
    );
    let address = &matching(&director, "GET", "/link_address")[0];
    assert_eq!(address.query_value("azs[]"), Some("z1"));
    assert_eq!(address.query_value("status"), Some("healthy"));
    assert_eq!(director.open_links(), 0, "the external link is deleted again");

    // Unbind passes the addresses too.
    let resp = client.unbind(&id, "b1", SERVICE_ID, PLAN_SMALL);
    assert_eq!(resp.status, 200, "{}", resp.text);
    let invocation = read_invocations(&state_dir)
        .into_iter()
        .rfind(|i| i["subcommand"] == "delete-binding")
        .expect("delete-binding ran");
    let stdin: Value = serde_json::from_str(invocation["stdin"].as_str().unwrap()).unwrap();
    assert!(stdin["delete_binding"]["dns_addresses"].as_str().unwrap().contains("leader"));
}

#[test]
fn a_director_that_is_down_or_refuses_the_credentials_stops_the_start_up() {
    let director = FakeDirector::start_uaa("odb-client", "uaa-secret");
    let config = BrokerConfig::new().bosh(director.bosh_config());
    director.stop();
    let err = match BrokerProcess::try_start(&config) {
        Ok(_) => panic!("the broker started without a director"),
        Err(e) => e,
    };
    assert!(err.contains("exited with"), "{err}");
    assert!(err.contains(&director.url()), "{err}");
    assert!(err.contains("cannot reach"), "{err}");
    director.resume();

    let mut bosh = director.bosh_config();
    bosh["authentication"]["uaa"]["client_credentials"]["client_secret"] = "wrong-secret".into();
    let err = match BrokerProcess::try_start(&BrokerConfig::new().bosh(bosh)) {
        Ok(_) => panic!("the broker started with wrong credentials"),
        Err(e) => e,
    };
    assert!(err.contains("exited with"), "{err}");
    assert!(err.contains("odb-client"), "names the client: {err}");
    assert!(!err.contains("wrong-secret"), "never prints the secret: {err}");

    let basic = FakeDirector::start_basic("director-admin", "basic-pw");
    let mut bosh = basic.bosh_config();
    bosh["authentication"]["basic"]["password"] = "not-it".into();
    let err = match BrokerProcess::try_start(&BrokerConfig::new().bosh(bosh)) {
        Ok(_) => panic!("the broker started with wrong credentials"),
        Err(e) => e,
    };
    assert!(err.contains("not authenticated"), "{err}");
    assert!(err.contains(&basic.url()), "{err}");
    assert!(!err.contains("not-it"), "{err}");
}

#[test]
fn a_director_outage_mid_operation_leaves_it_in_progress_until_the_director_is_back() {
    let director = FakeDirector::start_uaa("odb-client", "uaa-secret");
    let broker = BrokerProcess::start(&config_for(&director));
    let client = broker.client();
    director.hold_tasks(true);
    let (id, op) = provision(&client, PLAN_SMALL);
    eventually("the deploy", || !matching(&director, "POST", "/deployments").is_empty());
    director.stop();
    for _ in 0..5 {
        let resp = client.last_operation(&id, Some(&op));
        assert_eq!(resp.status, 200, "{}", resp.text);
        assert_eq!(resp.str_field("state"), Some("in progress"), "{}", resp.text);
        std::thread::sleep(Duration::from_millis(200));
    }
    director.resume();
    director.hold_tasks(false);
    assert_eq!(wait(&client, &id, &op), "succeeded");
    assert_eq!(matching(&director, "POST", "/deployments").len(), 1);
}

#[test]
fn a_restarted_broker_resumes_polling_the_running_task() {
    let director = FakeDirector::start_uaa("odb-client", "uaa-secret");
    let config = plan_key(
        config_for(&director),
        PLAN_SMALL,
        "lifecycle_errands",
        json!({"post_deploy": [{"name": "smoke-tests"}]}),
    );
    let mut broker = BrokerProcess::start(&config);
    director.hold_tasks(true);
    let (id, op) = provision(&broker.client(), PLAN_SMALL);
    eventually("the deploy", || !matching(&director, "POST", "/deployments").is_empty());
    broker.kill();
    director.clear_requests();
    director.set_errand_exit_code("smoke-tests", 3);
    broker.restart();
    eventually("the restarted broker to poll task 1", || {
        !matching(&director, "GET", "/tasks/1").is_empty()
    });
    director.hold_tasks(false);
    let client = broker.client();
    assert_eq!(wait(&client, &id, &op), "failed", "the errand exited 3");
    assert!(
        matching(&director, "POST", "/deployments").is_empty(),
        "the deploy is not submitted again"
    );
    let errand = matching(
        &director,
        "POST",
        &format!("/deployments/{}/errands/smoke-tests/runs", deployment(&id)),
    );
    assert_eq!(errand.len(), 1);
    assert_eq!(errand[0].context_id.as_deref(), Some(op.as_str()));
}

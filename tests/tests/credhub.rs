//! The broker with CredHub: secure manifests against a BOSH director (`bosh_credhub:`, a
//! [`FakeDirector`] resolving variables in a [`FakeCredhub`]) and secure binding credentials
//! (`credhub:`). Each test asserts what CredHub received and holds, what the adapter was
//! handed, and what the platform saw.

mod common;

use broker_tests::{
    bind_body, provision_body, unique_id, BrokerConfig, BrokerProcess, FakeCredhub, FakeDirector,
    OsbClient, PLAN_SMALL, SERVICE_ID,
};
use common::{envelope_section, invocations_of, json_field};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(30);
const ODB_SECRET: &str = "odb-s3cr3t-value";

fn deployment(id: &str) -> String {
    format!("service-instance_{id}")
}

/// A broker on `director` with secure manifests kept in `credhub`, whose plans make the test
/// adapter return the ODB-managed secret `admin_password`.
fn secure_manifest_config(director: &FakeDirector, credhub: &FakeCredhub) -> BrokerConfig {
    BrokerConfig::new()
        .bosh(director.bosh_config())
        .with_adapter_state_dir()
        .plan_property(PLAN_SMALL, "adapter_secrets", json!({"admin_password": ODB_SECRET}))
        .extra_yaml(
            serde_yaml::to_value(json!({
                "broker": {"enable_secure_manifests": true},
                "bosh_credhub": credhub.bosh_credhub_config(),
            }))
            .unwrap(),
        )
}

fn provision(client: &OsbClient, id: &str, parameters: Value) {
    let r = client.provision(id, &provision_body(SERVICE_ID, PLAN_SMALL, parameters), true);
    assert_eq!(r.status, 202, "{}", r.text);
    assert_eq!(client.wait_for_operation(id, None, WAIT), "succeeded");
}

fn deprovision_started(client: &OsbClient, id: &str) {
    let r = client.deprovision(id, SERVICE_ID, PLAN_SMALL, true);
    assert_eq!(r.status, 202, "{}", r.text);
}

fn assert_not_in_logs(broker: &BrokerProcess, secrets: &[&str]) {
    let logs = broker.logs().join("\n");
    for secret in secrets {
        assert!(!logs.contains(secret), "{secret:?} appears in the broker's log");
    }
}

#[test]
fn secure_manifests_write_before_deploy_resolve_for_bind_and_delete_with_the_instance() {
    let director = FakeDirector::start_uaa("odb", "director-secret");
    let credhub = FakeCredhub::start("odb-credhub", "credhub-client-secret");
    director.use_config_server(credhub.store());
    let config = secure_manifest_config(&director, &credhub);
    let state_dir = config.adapter_state_dir();
    let broker = BrokerProcess::start(&config);
    let client = broker.client();

    let id = unique_id("securemf");
    let dep = deployment(&id);
    // Variables the director resolves: relative ones under /<director>/<deployment>/, and an
    // absolute one.
    let relative = format!("/fake-director/{dep}/db_password");
    let deployed_version = credhub.store().set(&relative, "password", json!("deployed-pw"));
    credhub.store().set(
        &format!("/fake-director/{dep}/tls"),
        "certificate",
        json!({"ca": "CA-PEM", "certificate": "CERT-PEM", "private_key": "KEY-PEM"}),
    );
    credhub.store().set("/shared/absolute", "value", json!("absolute-value"));
    provision(
        &client,
        &id,
        json!({"db": "((db_password))", "ca": "((tls.ca))", "abs": "((/shared/absolute))"}),
    );

    // The ODB-managed secret is in CredHub (a deploy naming it would have failed otherwise),
    // and the deployed manifest names its path.
    let path = format!("/odb/{SERVICE_ID}/{dep}/admin_password");
    let stored = credhub.store().latest(&path).expect("the secret is in CredHub");
    assert_eq!((stored.kind.as_str(), stored.value.clone()), ("value", json!(ODB_SECRET)));
    let manifest = director.manifest(&dep).unwrap();
    assert!(manifest.contains(&format!("(({path}))")), "{manifest}");
    assert!(!manifest.contains("odb_secret:") && !manifest.contains(ODB_SECRET), "{manifest}");
    let vars = director.deployed_variables(&dep);
    assert!(vars.iter().any(|(i, n)| *n == relative && *i == deployed_version), "{vars:?}");

    // A newer version after the deploy: the binding still sees the deployed one.
    credhub.store().set(&relative, "password", json!("newer-pw"));
    let r = client.bind(&id, "b1", &bind_body(SERVICE_ID, PLAN_SMALL, json!({})));
    assert_eq!(r.status, 201, "{}", r.text);
    let bind = &invocations_of(&state_dir, "create-binding")[0];
    let secrets = json_field(&envelope_section(bind, "create_binding"), "secrets");
    assert_eq!(
        secrets,
        json!({
            "((db_password))": "deployed-pw",
            "((tls.ca))": "CA-PEM",
            "((/shared/absolute))": "absolute-value",
            format!("(({path}))"): ODB_SECRET,
        })
    );
    let by_id = format!("/api/v1/data/{deployed_version}");
    assert!(
        credhub.calls().iter().any(|c| c.method == "GET" && c.path == by_id),
        "{:?}",
        credhub.api_lines()
    );
    assert!(director
        .requests()
        .iter()
        .any(|r| r.method == "GET" && r.path == format!("/deployments/{dep}/variables")));

    // An update hands the adapter the deployed secrets as previous_secrets.
    let r = client.update(
        &id,
        &broker_tests::update_body(SERVICE_ID, PLAN_SMALL, json!({"a": 1}), None),
        true,
    );
    assert_eq!(r.status, 202, "{}", r.text);
    assert_eq!(client.wait_for_operation(&id, None, WAIT), "succeeded");
    let generations = invocations_of(&state_dir, "generate-manifest");
    let update = envelope_section(generations.last().unwrap(), "generate_manifest");
    let previous = json_field(&update, "previous_secrets");
    assert_eq!(previous[format!("(({path}))")], json!(ODB_SECRET), "{previous}");
    assert_eq!(previous["((db_password))"], json!("deployed-pw"), "{previous}");

    // Deprovision deletes every credential whose name holds the instance id.
    deprovision_started(&client, &id);
    assert_eq!(client.wait_for_operation(&id, None, WAIT), "succeeded");
    let left: Vec<String> =
        credhub.store().names().into_iter().filter(|n| n.contains(&id)).collect();
    assert!(left.is_empty(), "{left:?}");
    assert!(credhub.store().latest("/shared/absolute").is_some());
    assert!(credhub
        .calls()
        .iter()
        .any(|c| c.path == "/api/v1/data" && c.query_value("name-like") == Some(id.as_str())));
    assert_not_in_logs(
        &broker,
        &[ODB_SECRET, "deployed-pw", "CA-PEM", "absolute-value", "credhub-client-secret"],
    );
}

#[test]
fn credhub_down_mid_delete_keeps_the_operation_in_progress_until_it_is_back() {
    let director = FakeDirector::start_uaa("odb", "director-secret");
    let credhub = FakeCredhub::start("odb-credhub", "credhub-client-secret");
    director.use_config_server(credhub.store());
    let config = secure_manifest_config(&director, &credhub);
    let broker = BrokerProcess::start(&config);
    let client = broker.client();
    let id = unique_id("chdown");
    provision(&client, &id, json!({}));
    let path = format!("/odb/{SERVICE_ID}/{}/admin_password", deployment(&id));
    assert!(credhub.store().latest(&path).is_some());

    credhub.stop();
    // A provision needs CredHub before its deploy: refused now, nothing left behind.
    let other = unique_id("chdown");
    let r = client.provision(&other, &provision_body(SERVICE_ID, PLAN_SMALL, json!({})), true);
    assert_eq!(r.status, 500, "{}", r.text);
    assert!(
        r.str_field("description").unwrap_or_default().contains("try again later"),
        "{}",
        r.text
    );
    assert_eq!(client.get_instance(&other).status, 404);
    assert!(director.manifest(&deployment(&other)).is_none());

    deprovision_started(&client, &id);
    let until = Instant::now() + Duration::from_secs(3);
    while Instant::now() < until {
        let r = client.last_operation(&id, None);
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.str_field("state"), Some("in progress"), "{}", r.text);
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(director.deployments().is_empty(), "the BOSH delete itself went through");
    credhub.resume();
    assert_eq!(client.wait_for_operation(&id, None, WAIT), "succeeded");
    assert!(credhub.store().latest(&path).is_none());

    // The operation's history shows the calls that got no answer, then the ones that did.
    let r = client.instance_history(&id);
    assert_eq!(r.status, 200, "{}", r.text);
    let delete = r
        .body
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["activity"] == "delete")
        .cloned()
        .unwrap_or_else(|| panic!("{}", r.text));
    let credhub_steps: Vec<&Value> =
        delete["steps"].as_array().unwrap().iter().filter(|s| s["kind"] == "credhub").collect();
    assert!(credhub_steps.iter().any(|s| s["status"].is_null()), "{delete:#}");
    assert!(credhub_steps.iter().any(|s| s["status"] == 204), "{delete:#}");
    assert!(!r.text.contains(ODB_SECRET), "{}", r.text);
}

#[test]
fn credhub_down_at_start_up_stops_the_broker_naming_the_url_not_the_secret() {
    let director = FakeDirector::start_uaa("odb", "director-secret");
    let credhub = FakeCredhub::start("odb-credhub", "credhub-client-secret");
    let config = secure_manifest_config(&director, &credhub);
    credhub.stop();
    let err = match BrokerProcess::try_start(&config) {
        Ok(_) => panic!("the broker started without its CredHub"),
        Err(e) => e,
    };
    assert!(err.contains(&credhub.url()) && err.contains("bosh_credhub"), "{err}");
    assert!(!err.contains("credhub-client-secret"), "{err}");
}

/// A broker on the simulated director that keeps binding credentials in `credhub`; the
/// adapter's create-binding answers `credentials`.
fn secure_binding_config(credhub: &FakeCredhub, credentials: Value) -> BrokerConfig {
    let stdout = format!("{}\n", json!({ "credentials": credentials }));
    BrokerConfig::new()
        .with_adapter_state_dir()
        .adapter_script(PLAN_SMALL, json!({"create-binding": {"stdout": stdout}}))
        .extra_yaml(
            serde_yaml::to_value(json!({"credhub": credhub.runtime_credhub_config()})).unwrap(),
        )
}

/// The stored answer of every binding, read from the broker's database.
fn stored_binding_responses(config: &BrokerConfig) -> Vec<String> {
    if let Some(rows) = config.postgres_query("SELECT response FROM bindings") {
        return rows;
    }
    let db = rusqlite::Connection::open(config.database_path()).unwrap();
    let mut stmt = db.prepare("SELECT response FROM bindings").unwrap();
    let rows = stmt.query_map([], |r| r.get::<_, String>(0)).unwrap();
    rows.map(Result::unwrap).collect()
}

#[test]
fn secure_bindings_answer_a_credhub_ref_readable_by_the_app() {
    let credhub = FakeCredhub::start("runtime-client", "runtime-secret");
    let config = secure_binding_config(&credhub, json!({"password": "clear-binding-secret"}));
    let state_dir = config.adapter_state_dir();
    let broker = BrokerProcess::start(&config);
    let client = broker.client();
    let id = unique_id("securebind");
    provision(&client, &id, json!({}));

    let r = client.bind(&id, "b1", &bind_body(SERVICE_ID, PLAN_SMALL, json!({})));
    assert_eq!(r.status, 201, "{}", r.text);
    let name = format!("/c/{SERVICE_ID}/{id}/b1/credentials");
    let answer: Value = serde_json::from_str(&r.text).unwrap();
    assert_eq!(answer["credentials"], json!({ "credhub-ref": name }), "{}", r.text);
    let stored = credhub.store().latest(&name).expect("credentials in CredHub");
    assert_eq!(stored.kind, "json");
    assert_eq!(stored.value, json!({"password": "clear-binding-secret"}));
    assert_eq!(
        credhub.store().permissions(&name),
        vec![("mtls-app:app-guid-1".to_string(), vec!["read".to_string()])]
    );
    let fetched = client.get_binding(&id, "b1");
    assert_eq!(fetched.status, 200, "{}", fetched.text);
    let fetched: Value = serde_json::from_str(&fetched.text).unwrap();
    assert_eq!(fetched["credentials"], json!({ "credhub-ref": name }));
    for response in stored_binding_responses(&config) {
        assert!(!response.contains("clear-binding-secret"), "{response}");
    }

    // A service key: the UAA client is the actor.
    let mut body = bind_body(SERVICE_ID, PLAN_SMALL, json!({}));
    body.as_object_mut().unwrap().remove("app_guid");
    body["bind_resource"] = json!({"credential_client_id": "key-client"});
    let r = client.bind(&id, "key1", &body);
    assert_eq!(r.status, 201, "{}", r.text);
    let key_name = format!("/c/{SERVICE_ID}/{id}/key1/credentials");
    assert_eq!(
        credhub.store().permissions(&key_name),
        vec![("uaa-client:key-client".to_string(), vec!["read".to_string()])]
    );

    // A revoked token is replaced once, and the call succeeds.
    let grants = credhub.grants();
    credhub.revoke_tokens();
    let r = client.bind(&id, "b2", &bind_body(SERVICE_ID, PLAN_SMALL, json!({})));
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(credhub.grants(), grants + 1);
    assert!(credhub.calls().iter().any(|c| c.status == 401 && c.path == "/api/v1/data"));

    // Unbind deletes the credential after the adapter's delete-binding.
    let r = client.unbind(&id, "b1", SERVICE_ID, PLAN_SMALL);
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(credhub.store().latest(&name).is_none());
    assert_eq!(invocations_of(&state_dir, "delete-binding").len(), 1);
    assert!(credhub
        .calls()
        .iter()
        .any(|c| c.method == "DELETE" && c.query_value("name") == Some(name.as_str())));
    assert_not_in_logs(&broker, &["clear-binding-secret", "runtime-secret"]);
}

#[test]
fn secure_bindings_without_an_actor_are_refused_before_the_adapter_runs() {
    let credhub = FakeCredhub::start("runtime-client", "runtime-secret");
    let config = secure_binding_config(&credhub, json!({"password": "x"}));
    let state_dir = config.adapter_state_dir();
    let broker = BrokerProcess::start(&config);
    let client = broker.client();
    let id = unique_id("noactor");
    provision(&client, &id, json!({}));
    let mut body = bind_body(SERVICE_ID, PLAN_SMALL, json!({}));
    body.as_object_mut().unwrap().remove("app_guid");
    body.as_object_mut().unwrap().remove("bind_resource");
    let r = client.bind(&id, "b1", &body);
    assert_eq!(r.status, 500, "{}", r.text);
    assert_eq!(
        r.str_field("description"),
        Some("No app-guid or credential client ID were provided in the binding request, you must configure one of these")
    );
    assert!(invocations_of(&state_dir, "create-binding").is_empty());
    assert!(credhub.api_lines().is_empty(), "{:?}", credhub.api_lines());
}

#[test]
fn tokens_are_refetched_after_they_expire() {
    let credhub = FakeCredhub::start("runtime-client", "runtime-secret");
    credhub.set_token_expires_in(2);
    let config = secure_binding_config(&credhub, json!({"password": "x"}));
    let broker = BrokerProcess::start(&config);
    let client = broker.client();
    let id = unique_id("expiry");
    provision(&client, &id, json!({}));
    let r = client.bind(&id, "b1", &bind_body(SERVICE_ID, PLAN_SMALL, json!({})));
    assert_eq!(r.status, 201, "{}", r.text);
    let grants = credhub.grants();
    std::thread::sleep(Duration::from_millis(2500));
    let r = client.bind(&id, "b2", &bind_body(SERVICE_ID, PLAN_SMALL, json!({})));
    assert_eq!(r.status, 201, "{}", r.text);
    assert!(credhub.grants() > grants, "no new token after expiry");
    // Replaced before expiry: CredHub never saw an expired token.
    assert!(credhub.calls().iter().all(|c| c.status != 401), "{:?}", credhub.calls());
}

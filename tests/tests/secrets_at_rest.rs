//! Black-box tests of the secrets at rest: after a whole lifecycle with known passwords
//! (provision, bind, fetch the binding, update, unbind, deprovision) no password is in clear
//! in the database, its `-wal` or `-shm`, or the log, at any point; a wrong key stops
//! start-up naming its label; a new primary key re-encrypts everything at start-up, or
//! offline with `rotate-keys`; a key still in use cannot be dropped; and without configured
//! keys the broker generates a key file beside the database.

mod common;

use broker_tests::db_files::files_containing;
use broker_tests::{
    bind_body, run_broker, unique_id, update_body, BrokerConfig, BrokerProcess, OsbClient,
    PLAN_SMALL, SERVICE_ID,
};
use common::{envelope_section, invocations_of, provision_ready, start, OPERATION_TIMEOUT};
use serde_json::{json, Value};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

/// A root key for the config: `label`, a secret made from `seed`, and whether it is primary.
fn key(label: &str, seed: &str, primary: bool) -> Value {
    json!({"label": label, "secret": format!("{seed}-0123456789abcdef0123456789abcdef"), "primary": primary})
}

/// The config document for `config` with `keys` as `database.encryption.keys`.
fn with_keys(config: &BrokerConfig, keys: &[Value]) -> serde_yaml::Value {
    let mut yaml = config.render();
    let encryption = serde_yaml::to_value(json!({"keys": keys})).unwrap();
    yaml["database"]
        .as_mapping_mut()
        .expect("the test config has a database section")
        .insert("encryption".into(), encryption);
    yaml
}

/// Fails unless none of `passwords` is in the database files or in any log line, and the
/// files do hold sealed values (so the check looks at real data).
fn assert_nowhere_in_clear(broker: &BrokerProcess, db: &Path, passwords: &[&str], when: &str) {
    for password in passwords {
        let found = files_containing(db, password);
        assert!(found.is_empty(), "{when}: {password} is in clear in {found:?}");
        let lines: Vec<String> =
            broker.logs().into_iter().filter(|l| l.contains(password)).collect();
        assert!(lines.is_empty(), "{when}: {password} is in the log: {lines:?}");
    }
}

fn assert_sealed_values_present(db: &Path, label: &str) {
    let prefix = format!("odb-sealed:1:{label}:");
    assert!(
        !files_containing(db, &prefix).is_empty(),
        "the database holds values sealed with '{label}'"
    );
}

fn assert_succeeded(client: &OsbClient, id: &str) {
    assert_eq!(
        client.wait_for_operation(id, None, OPERATION_TIMEOUT),
        "succeeded",
        "operation on {id}"
    );
}

fn password(what: &str) -> String {
    format!("pw-{what}-{}", unique_id("c1e7"))
}

/// A config that stores ODB-managed secrets (the test adapter returns the `adapter_secrets`
/// parameter as secrets).
fn secure_config() -> BrokerConfig {
    BrokerConfig::new()
        .sqlite()
        .with_adapter_state_dir()
        .extra_yaml(serde_yaml::from_str("broker: {enable_secure_manifests: true}").unwrap())
}

/// Binds `binding` on `id` with a password in its parameters (the test adapter echoes them
/// into the credentials) and checks the credentials.
/// A ready instance with one binding whose credentials hold a fresh password: (instance id,
/// binding id, password).
fn provisioned_and_bound(client: &OsbClient) -> (String, String, String) {
    let id = unique_id("instance");
    provision_ready(client, &id, PLAN_SMALL, json!({}));
    let bound = password("bind");
    let binding = unique_id("binding");
    bind_with(client, &id, &binding, &bound);
    (id, binding, bound)
}

fn bind_with(client: &OsbClient, id: &str, binding: &str, password: &str) {
    let created =
        client.bind(id, binding, &bind_body(SERVICE_ID, PLAN_SMALL, json!({"password": password})));
    assert_eq!(created.status, 201, "{}", created.text);
    assert_eq!(created.body["credentials"]["parameters"]["password"], password);
}

fn assert_binding_has(client: &OsbClient, id: &str, binding: &str, password: &str) {
    let fetched = client.get_binding(id, binding);
    assert_eq!(fetched.status, 200, "{}", fetched.text);
    assert_eq!(fetched.body["credentials"]["parameters"]["password"], password, "{}", fetched.text);
}

#[test]
fn a_whole_lifecycle_leaves_no_password_in_clear_in_the_files_or_the_log() {
    let config = secure_config();
    let db = config.database_path();
    let broker =
        BrokerProcess::start_with_yaml(&config, with_keys(&config, &[key("k1", "a", true)]));
    let client = broker.client();
    let (provisioned, secret, bound, updated) =
        (password("provision"), password("secret"), password("bind"), password("update"));
    let all = [&*provisioned, &*secret, &*bound, &*updated];
    let id = unique_id("instance");
    provision_ready(
        &client,
        &id,
        PLAN_SMALL,
        json!({"password": provisioned, "adapter_secrets": {"admin_password": secret}}),
    );
    let binding = unique_id("binding");
    bind_with(&client, &id, &binding, &bound);
    assert_binding_has(&client, &id, &binding, &bound);
    // The ODB-managed secret went through the store: create-binding got it back from there.
    let bind = &invocations_of(&config.adapter_state_dir(), "create-binding")[0];
    let handed_back = envelope_section(bind, "create_binding")["secrets"].to_string();
    assert!(handed_back.contains(&secret), "{handed_back}");
    // While the binding exists, its credentials are in the database, sealed.
    assert_sealed_values_present(&db, "k1");
    assert_nowhere_in_clear(&broker, &db, &all, "bound");

    let r = client.update(
        &id,
        &update_body(SERVICE_ID, PLAN_SMALL, json!({"password": updated}), None),
        true,
    );
    assert_eq!(r.status, 202, "{}", r.text);
    assert_succeeded(&client, &id);
    assert_binding_has(&client, &id, &binding, &bound);
    assert_nowhere_in_clear(&broker, &db, &all, "updated");

    let r = client.unbind(&id, &binding, SERVICE_ID, PLAN_SMALL);
    assert_eq!(r.status, 200, "{}", r.text);
    let r = client.deprovision(&id, SERVICE_ID, PLAN_SMALL, true);
    assert_eq!(r.status, 202, "{}", r.text);
    assert_succeeded(&client, &id);
    assert_nowhere_in_clear(&broker, &db, &all, "deprovisioned");
}

#[test]
fn a_wrong_secret_stops_start_up_naming_the_key() {
    let config = BrokerConfig::new().sqlite();
    let mut broker =
        BrokerProcess::start_with_yaml(&config, with_keys(&config, &[key("k1", "right", true)]));
    let id = unique_id("instance");
    provision_ready(&broker.client(), &id, PLAN_SMALL, json!({}));
    broker.kill();
    let failed = BrokerProcess::try_start_with_yaml(
        &config,
        with_keys(&config, &[key("k1", "wrong", true)]),
    );
    let message = failed.err().expect("a wrong key must stop start-up");
    assert!(message.contains("encryption key 'k1'") && message.contains("secret"), "{message}");
    assert!(!message.contains("wrong-0123456789abcdef"), "no secret in the message: {message}");
}

#[test]
fn a_new_primary_key_re_encrypts_everything_at_start_up() {
    let config = BrokerConfig::new().sqlite();
    let db = config.database_path();
    let mut broker =
        BrokerProcess::start_with_yaml(&config, with_keys(&config, &[key("old", "a", true)]));
    let client = broker.client();
    let (id, binding, bound) = provisioned_and_bound(&client);
    assert_sealed_values_present(&db, "old");
    broker.kill();

    let keys = [key("new", "b", true), key("old", "a", false)];
    let mut broker = BrokerProcess::start_with_yaml(&config, with_keys(&config, &keys));
    assert!(
        broker.logs().iter().any(|l| l.contains("re-encrypted") && l.contains("'new'")),
        "{}",
        broker.logs().join("\n")
    );
    let found = files_containing(&db, "odb-sealed:1:old:");
    assert!(found.is_empty(), "values sealed with 'old' remain in {found:?}");
    assert_sealed_values_present(&db, "new");
    assert_binding_has(&broker.client(), &id, &binding, &bound);
    assert_nowhere_in_clear(&broker, &db, &[&bound], "rotated");
    broker.kill();

    // Nothing uses the old key any more: it can be dropped.
    let broker =
        BrokerProcess::start_with_yaml(&config, with_keys(&config, &[key("new", "b", true)]));
    assert_binding_has(&broker.client(), &id, &binding, &bound);
}

#[test]
fn a_key_still_in_use_cannot_be_dropped() {
    let config = BrokerConfig::new().sqlite();
    let mut broker =
        BrokerProcess::start_with_yaml(&config, with_keys(&config, &[key("old", "a", true)]));
    provision_ready(&broker.client(), &unique_id("instance"), PLAN_SMALL, json!({"x": 1}));
    broker.kill();
    let failed =
        BrokerProcess::try_start_with_yaml(&config, with_keys(&config, &[key("new", "b", true)]));
    let message = failed.err().expect("a missing key must stop start-up");
    assert!(message.contains("key 'old'") && message.contains("add the key back"), "{message}");
}

#[test]
fn rotate_keys_re_encrypts_offline_and_reports_the_count() {
    let config = BrokerConfig::new().sqlite();
    let db = config.database_path();
    let mut broker =
        BrokerProcess::start_with_yaml(&config, with_keys(&config, &[key("old", "a", true)]));
    let client = broker.client();
    let (id, binding, bound) = provisioned_and_bound(&client);
    broker.kill();

    let keys = [key("new", "b", true), key("old", "a", false)];
    let yaml = with_keys(&config, &keys);
    let path = config.config_path();
    std::fs::write(&path, serde_yaml::to_string(&yaml).unwrap()).unwrap();
    let path = path.to_str().unwrap();
    let output = run_broker(&["rotate-keys", "--config", path]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    // The instance's parameters, its operation, the binding's request and credentials, and
    // the simulated manifest, at least.
    let count: usize = stdout
        .split("re-encrypted ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("a count in: {stdout}"));
    assert!(count >= 5, "{stdout}");
    assert!(stdout.contains("primary key 'new'"), "{stdout}");
    assert!(files_containing(&db, "odb-sealed:1:old:").is_empty());
    for line in stdout.lines().chain(stderr.lines()) {
        assert!(!line.contains("0123456789abcdef"), "no secret in the output: {line}");
    }
    let again = run_broker(&["rotate-keys", "--config", path]);
    assert!(
        String::from_utf8_lossy(&again.stdout).contains("re-encrypted 0 value(s)"),
        "{}",
        String::from_utf8_lossy(&again.stdout)
    );

    let broker = BrokerProcess::start_with_yaml(&config, yaml);
    assert_binding_has(&broker.client(), &id, &binding, &bound);
    assert!(
        !broker.logs().iter().any(|l| l.contains("re-encrypted")),
        "nothing left to re-encrypt at start-up"
    );
}

#[test]
fn rotate_keys_refuses_a_wrong_key_naming_it() {
    let config = BrokerConfig::new().sqlite();
    let mut broker =
        BrokerProcess::start_with_yaml(&config, with_keys(&config, &[key("k1", "right", true)]));
    provision_ready(&broker.client(), &unique_id("instance"), PLAN_SMALL, json!({}));
    broker.kill();
    let path = config.config_path();
    let yaml = with_keys(&config, &[key("k1", "wrong", true)]);
    std::fs::write(&path, serde_yaml::to_string(&yaml).unwrap()).unwrap();
    let output = run_broker(&["rotate-keys", "--config", path.to_str().unwrap()]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("encryption key 'k1'"), "{stderr}");
}

#[test]
fn without_configured_keys_a_key_file_is_generated_beside_the_database_with_one_warning() {
    let config = BrokerConfig::new().sqlite();
    let db = config.database_path();
    let (mut broker, client) = start(&config);
    let key_file = db.parent().unwrap().join("encryption.key");
    let mode = std::fs::metadata(&key_file).unwrap().permissions().mode() & 0o7777;
    assert_eq!(mode, 0o600);
    let (id, binding, bound) = provisioned_and_bound(&client);
    assert_sealed_values_present(&db, "local");
    assert_nowhere_in_clear(&broker, &db, &[&bound], "bound");
    broker.restart();
    assert_binding_has(&broker.client(), &id, &binding, &bound);
    let warnings: Vec<String> = broker
        .logs()
        .into_iter()
        .filter(|l| l.contains("WARN") && l.contains("encryption.key"))
        .collect();
    assert_eq!(warnings.len(), 1, "one warning over two starts: {warnings:?}");
    let key = std::fs::read_to_string(&key_file).unwrap();
    assert!(!warnings[0].contains(key.trim()), "the key is never logged");
}

//! Black-box tests of the broker's database files: a directory the broker creates is 0700, the
//! database and its `-wal` and `-shm` are 0600 (and an existing 0644 file is tightened with a
//! warning), and an unbound binding's credentials leave no copy in any of the files.

mod common;

use broker_tests::db_files::{database_files, files_containing};
use broker_tests::{bind_body, unique_id, BrokerConfig, PLAN_SMALL, SERVICE_ID};
use common::{provision_ready, start};
use serde_json::json;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o7777
}

#[test]
fn the_database_directory_the_broker_creates_is_0700_and_its_files_0600() {
    let config = BrokerConfig::new().sqlite();
    let db = config.dir().join("state/broker/broker.db");
    let config = config.extra_yaml(
        serde_yaml::to_value(json!({"database": {"path": db.to_string_lossy()}})).unwrap(),
    );
    let (_broker, client) = start(&config);
    provision_ready(&client, &unique_id("instance"), PLAN_SMALL, json!({}));
    assert_eq!(mode(&config.dir().join("state")), 0o700);
    assert_eq!(mode(&config.dir().join("state/broker")), 0o700);
    for file in database_files(&db) {
        assert_eq!(mode(&file), 0o600, "{}", file.display());
    }
}

#[test]
fn an_existing_database_readable_by_others_is_set_to_0600_with_a_warning() {
    let config = BrokerConfig::new().sqlite();
    let db = config.database_path();
    // An empty file is an empty database, as an operator might have made it with `touch`.
    std::fs::write(&db, b"").unwrap();
    std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o644)).unwrap();
    let (broker, client) = start(&config);
    provision_ready(&client, &unique_id("instance"), PLAN_SMALL, json!({}));
    for file in database_files(&db) {
        assert_eq!(mode(&file), 0o600, "{}", file.display());
    }
    let needle = format!("chmod 600 {}", db.display());
    assert!(
        broker.wait_for_log(&needle, Duration::from_secs(5)),
        "a warning with the fix `{needle}`:\n{}",
        broker.logs().join("\n")
    );
    let warning = broker.logs().into_iter().find(|l| l.contains(&needle)).unwrap();
    assert!(warning.contains("WARN") && warning.contains("0644"), "{warning}");
}

#[test]
fn an_unbound_bindings_password_leaves_no_copy_in_the_database_files() {
    let config = BrokerConfig::new().sqlite();
    let db = config.database_path();
    let (_broker, client) = start(&config);
    let id = unique_id("instance");
    provision_ready(&client, &id, PLAN_SMALL, json!({}));
    let password = format!("pw-7f3c-{}", unique_id("secret"));
    let binding_id = unique_id("binding");
    // The test adapter echoes the bind parameters into the credentials.
    let created = client.bind(
        &id,
        &binding_id,
        &bind_body(SERVICE_ID, PLAN_SMALL, json!({"password": password})),
    );
    assert_eq!(created.status, 201, "{}", created.text);
    assert_eq!(created.body["credentials"]["parameters"]["password"], password.as_str());
    // Sealed while the binding exists (see `secrets_at_rest`), and gone once it is deleted.
    assert!(
        !files_containing(&db, "odb-sealed:1:").is_empty(),
        "the check must see the sealed binding while it exists"
    );
    assert!(files_containing(&db, &password).is_empty());
    let unbound = client.unbind(&id, &binding_id, SERVICE_ID, PLAN_SMALL);
    assert_eq!(unbound.status, 200, "{}", unbound.text);
    let found = files_containing(&db, &password);
    assert!(found.is_empty(), "the password is still in {found:?}");
}

//! Tests of the SQLite store.

use super::*;
use crate::ids::parsed;
use rusqlite::Connection;
use serde_json::json;
use std::collections::BTreeMap;
use std::sync::Mutex;

fn instance(id: &str) -> InstanceRecord {
    InstanceRecord {
        id: parsed(id),
        service_id: parsed("svc"),
        plan_id: parsed("p1"),
        organization_guid: "org".into(),
        space_guid: "space".into(),
        context: Some(json!({"platform": "cloudfoundry"})),
        parameters: json!({"a": 1}),
        maintenance_info: None,
        dashboard_url: None,
        labels: None,
        configs: None,
        state: InstanceState::Provisioning,
        deployment_name: format!("service-instance_{id}"),
        created_at: Timestamp::now(),
        updated_at: Timestamp::now(),
    }
}

use serde_json::Value;

fn op(id: &str, instance_id: &str, kind: OperationKind) -> OperationRecord {
    OperationRecord {
        id: parsed(id),
        instance_id: parsed(instance_id),
        kind,
        state: OperationState::InProgress,
        stage: Stage::Pending,
        task_id: None,
        errand_index: 0,
        request: OperationRequest::new(parsed("p1")),
        description: String::new(),
        error: String::new(),
        created_at: Timestamp::now(),
        updated_at: Timestamp::now(),
        lease_epoch: 0,
    }
}

/// Where [`open`] keeps the database inside its temporary directory.
fn db_path(dir: &tempfile::TempDir) -> std::path::PathBuf {
    dir.path().join("nested/broker.db")
}

fn open() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = reopen(&dir);
    (dir, store)
}

thread_local! {
    /// The URL of this test's PostgreSQL database, when it runs on PostgreSQL (see
    /// `postgres_tests`); `None`: it runs on SQLite.
    static POSTGRES_URL: std::cell::RefCell<Option<String>> = const { std::cell::RefCell::new(None) };
}

/// The keys of the stores the tests open on PostgreSQL.
fn postgres_keys() -> KeySet {
    key_set(&[("test", "a test secret")], "test")
}

/// A second store on the database [`open`] made.
fn reopen(dir: &tempfile::TempDir) -> Store {
    match POSTGRES_URL.with(|u| u.borrow().clone()) {
        Some(url) => Store::open_postgres(&url, &postgres_keys()).unwrap(),
        None => Store::open(&db_path(dir)).unwrap(),
    }
}

/// A store in which the instance "i1" is being provisioned by the operation "o1".
fn provisioned() -> (tempfile::TempDir, Store) {
    let (dir, store) = open();
    provision(&store, "i1", "o1");
    (dir, store)
}

/// A store with the ready instance "i1".
fn with_ready_instance() -> (tempfile::TempDir, Store) {
    let (dir, store) = open();
    ready_instance(&store, "i1");
    (dir, store)
}

/// A store with the ready instance "i1" and its binding "b1", pending since `created_at`.
fn with_pending_binding(created_at: Timestamp) -> (tempfile::TempDir, Store) {
    let (dir, store) = with_ready_instance();
    store.insert_binding(&pending_binding("i1", "b1", created_at)).unwrap();
    (dir, store)
}

fn state_of_i1(store: &Store) -> InstanceState {
    store.instance(&parsed("i1")).unwrap().unwrap().state
}

/// Provisions the plain [`instance`] `id` with the create operation `op_id`.
fn provision(store: &Store, id: &str, op_id: &str) {
    store.begin_provision(&instance(id), &op(op_id, id, OperationKind::Create)).unwrap();
}

fn start_update(store: &Store, instance_id: &str, op_id: &str) -> StoreResult<()> {
    store.begin_operation(&op(op_id, instance_id, OperationKind::Update), InstanceState::Updating)
}

fn start_delete(store: &Store, instance_id: &str, op_id: &str) -> StoreResult<()> {
    store.begin_operation(
        &op(op_id, instance_id, OperationKind::Delete),
        InstanceState::Deprovisioning,
    )
}

#[test]
fn provision_round_trips_and_survives_reopen() {
    let (dir, store) = provisioned();
    drop(store);
    let store = reopen(&dir);
    let got = store.instance(&parsed("i1")).unwrap().unwrap();
    assert_eq!(got.parameters, json!({"a": 1}));
    assert_eq!(got.state, InstanceState::Provisioning);
    let ops = store.in_flight_operations().unwrap();
    assert_eq!(ops.len(), 1);
    assert_eq!(ops[0].id.as_str(), "o1");
}

#[test]
fn second_provision_of_the_same_id_is_refused() {
    let (_d, store) = provisioned();
    let err =
        store.begin_provision(&instance("i1"), &op("o2", "i1", OperationKind::Create)).unwrap_err();
    assert!(matches!(err, StoreError::AlreadyExists), "{err}");
    assert!(
        store.operation(&parsed("o2")).unwrap().is_none(),
        "the failed transaction left nothing behind"
    );
}

#[test]
fn one_in_flight_operation_per_instance() {
    let (_d, store) = provisioned();
    let err = start_update(&store, "i1", "o2").unwrap_err();
    match err {
        StoreError::InFlight(id) => assert_eq!(id.as_str(), "o1"),
        other => panic!("expected InFlight, got {other}"),
    }
    assert_eq!(state_of_i1(&store), InstanceState::Provisioning);
    succeed(&store, "o1", None);
    start_update(&store, "i1", "o2").unwrap();
    assert_eq!(store.latest_operation(&parsed("i1")).unwrap().unwrap().id, "o2");
}

#[test]
fn deleted_instances_leave_a_tombstone_that_a_new_provision_replaces() {
    let (_d, store) = open();
    let mut inst = instance("i1");
    provision(&store, "i1", "o1");
    put_secret(&store, &inst.deployment_name, "/odb/x", "s");
    inst.state = InstanceState::Deleted;
    succeed(&store, "o1", Some(&inst));
    assert_eq!(state_of_i1(&store), InstanceState::Deleted);
    assert!(
        store.secrets(&inst.deployment_name).unwrap().is_empty(),
        "secrets go with the instance"
    );
    provision(&store, "i1", "o3");
    assert_eq!(state_of_i1(&store), InstanceState::Provisioning);
}

#[test]
fn bindings_are_unique_per_instance() {
    let (_d, store) = provisioned();
    let b = BindingRecord {
        response: Some(json!({"credentials": {"password": "x"}})),
        ..pending_binding("i1", "b1", Timestamp::now())
    };
    store.insert_binding(&b).unwrap();
    assert!(matches!(store.insert_binding(&b).unwrap_err(), StoreError::AlreadyExists));
    assert_eq!(stored_b1(&store).response, b.response);
    assert_eq!(store.bindings_of(&parsed("i1")).unwrap().len(), 1);
    assert!(store.delete_binding(&parsed("i1"), &parsed("b1")).unwrap());
    assert!(!store.delete_binding(&parsed("i1"), &parsed("b1")).unwrap());
}

#[test]
fn forget_instance_removes_every_trace() {
    let (_d, store) = provisioned();
    put_secret(&store, "service-instance_i1", "/odb/svc/x", "s");
    store.forget_instance(&parsed("i1")).unwrap();
    assert!(store.secrets("service-instance_i1").unwrap().is_empty());
    assert!(store.instance(&parsed("i1")).unwrap().is_none());
    assert!(store.operation(&parsed("o1")).unwrap().is_none());
}

#[test]
fn a_newer_schema_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("b.db");
    Store::open(&path).unwrap();
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.pragma_update(None, "user_version", 99).unwrap();
    drop(conn);
    assert!(matches!(Store::open(&path).unwrap_err(), StoreError::TooNew { found: 99, .. }));
}

#[test]
fn timestamps_are_rfc3339() {
    assert_eq!(format_rfc3339(0), "1970-01-01T00:00:00.000Z");
    assert_eq!(format_rfc3339(1_700_000_000_123), "2023-11-14T22:13:20.123Z");
    assert_eq!(format_rfc3339(951_782_400_000), "2000-02-29T00:00:00.000Z");
}

#[test]
fn stored_timestamps_keep_the_text_the_store_has_always_written() {
    for millis in [
        0,
        1,
        999,
        951_782_400_000,
        1_700_000_000_123,
        4_102_444_799_999,
        -1,
        -62_167_219_200_000,
        253_402_300_799_999,
    ] {
        let at = Timestamp::from_unix_millis(millis).unwrap();
        let text = at.to_string();
        assert_eq!(text, format_rfc3339(millis), "{millis}");
        assert_eq!(Timestamp::parse(&text).unwrap(), at, "{text}");
        assert_eq!(at.unix_millis(), millis);
    }
    assert!(Timestamp::from_unix_millis(253_402_300_800_000).is_none(), "year 10000");
    assert!(Timestamp::from_unix_millis(-62_167_219_200_001).is_none(), "year -1");
    // Other RFC 3339 spellings read, in UTC and to the millisecond.
    assert_eq!(
        Timestamp::parse("2023-11-14T23:13:20.123456+01:00").unwrap().to_string(),
        "2023-11-14T22:13:20.123Z"
    );
    assert_eq!(
        Timestamp::parse("2023-11-14T22:13:20Z").unwrap().to_string(),
        "2023-11-14T22:13:20.000Z"
    );
    assert!(Timestamp::parse("2023-11-14 22:13:20").is_err());
    let now = Timestamp::now();
    assert_eq!(now.date_time().nanosecond() % 1_000_000, 0, "milliseconds");
    assert_eq!(Timestamp::parse(&now.to_string()).unwrap(), now);
    assert!(now.saturating_sub(Duration::from_secs(1)) < now);
    assert_eq!(
        now.saturating_sub(Duration::MAX),
        Timestamp::from_unix_millis(-62_167_219_200_000).unwrap()
    );
}

#[test]
fn a_bad_timestamp_is_an_error_naming_its_column() {
    let (dir, store) = provisioned();
    let source =
        corrupt(&dir, "instances.created_at", "yesterday", || store.instance(&parsed("i1")));
    assert!(
        matches!(&source, ColumnError::Timestamp { text, .. } if text == "yesterday"),
        "{source}"
    );
    corrupt(&dir, "operations.updated_at", "", || store.operation(&parsed("o1")));
}

// ----- the database's files -----

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

fn set_mode(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// Whether one warning in `logs` names `path`, its `mode` and the command that fixes it.
fn warns_about(logs: &str, path: &str, mode: &str, fix: &str) -> bool {
    logs.lines()
        .any(|l| l.contains("WARN") && l.contains(path) && l.contains(mode) && l.contains(fix))
}

/// A store at `db` after one write, so that the log and its index certainly exist.
fn written_store(db: &Path) -> Store {
    let store = Store::open(db).unwrap();
    provision(&store, "i1", "o1");
    store
}

/// Log output written while `f` runs on this thread.
fn capture_logs<T>(f: impl FnOnce() -> T) -> (T, String) {
    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);
    impl std::io::Write for Buffer {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Buffer {
        type Writer = Buffer;
        fn make_writer(&'a self) -> Buffer {
            self.clone()
        }
    }
    let buffer = Buffer::default();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(buffer.clone())
        .with_ansi(false)
        .with_max_level(tracing::Level::DEBUG)
        .finish();
    let out = tracing::subscriber::with_default(subscriber, f);
    let text = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
    (out, text)
}

#[test]
fn a_new_database_directory_is_0700_and_the_files_0600() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("state/broker/broker.db");
    let _store = written_store(&db);
    assert_eq!(mode(&dir.path().join("state")), 0o700, "missing ancestors too");
    assert_eq!(mode(&dir.path().join("state/broker")), 0o700);
    let [wal, shm, journal] = files::companions(&db);
    for file in [&db, &wal, &shm] {
        assert_eq!(mode(file), 0o600, "{}", file.display());
    }
    assert!(!journal.exists(), "WAL mode keeps no rollback journal");
}

#[test]
fn existing_database_files_readable_by_others_are_tightened_with_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("broker.db");
    // An open store keeps the -wal and -shm files in place.
    let first = written_store(&db);
    let [wal, shm, _] = files::companions(&db);
    for file in [&db, &wal, &shm] {
        set_mode(file, 0o644);
    }
    let (store, logs) = capture_logs(|| Store::open(&db).unwrap());
    for file in [&db, &wal, &shm] {
        assert_eq!(mode(file), 0o600, "{}", file.display());
        let shown = file.display().to_string();
        assert!(
            warns_about(&logs, &shown, "0644", &format!("chmod 600 {shown}")),
            "a warning names {shown}, its mode and the fix:\n{logs}"
        );
    }
    assert!(store.instance(&parsed("i1")).unwrap().is_some(), "the data is intact");
    assert!(first.instance(&parsed("i1")).unwrap().is_some());
}

#[test]
fn a_database_file_created_in_a_private_directory_is_0600_without_warnings() {
    let dir = tempfile::tempdir().unwrap();
    set_mode(dir.path(), 0o700);
    let db = dir.path().join("broker.db");
    let keys = key_set(&[("k1", "a")], "k1");
    let (_store, logs) = capture_logs(|| Store::open_with_keys(&db, Some(&keys)).unwrap());
    assert_eq!(mode(&db), 0o600);
    assert!(!logs.contains("WARN"), "nothing to warn about:\n{logs}");
}

#[test]
fn an_existing_directory_open_to_others_is_warned_about_but_left_as_it_is() {
    let dir = tempfile::tempdir().unwrap();
    let shared = dir.path().join("shared");
    std::fs::create_dir(&shared).unwrap();
    set_mode(&shared, 0o755);
    let db = shared.join("broker.db");
    let (_store, logs) = capture_logs(|| Store::open(&db).unwrap());
    assert_eq!(mode(&shared), 0o755, "the operator's directory is not changed");
    assert_eq!(mode(&db), 0o600);
    let shown = shared.display().to_string();
    assert!(
        warns_about(&logs, &shown, "0755", &format!("chmod 700 {shown}")),
        "a warning names the directory, its mode and the fix:\n{logs}"
    );
}

#[test]
fn paths_in_suggested_commands_are_quoted_for_the_shell_when_needed() {
    assert_eq!(files::shell_quote(Path::new("/var/db/broker.db")), "/var/db/broker.db");
    assert_eq!(files::shell_quote(Path::new("/my dir/b.db")), "'/my dir/b.db'");
    assert_eq!(files::shell_quote(Path::new("/it's/b.db")), r"'/it'\''s/b.db'");
}

// ----- deleted credentials do not linger -----

/// Whether `needle` occurs in the raw bytes of the database file, its -wal or its -shm.
fn files_containing(db: &Path, needle: &str) -> Vec<String> {
    let [wal, shm, _] = files::companions(db);
    [db.to_path_buf(), wal, shm]
        .into_iter()
        .filter(|p| {
            std::fs::read(p)
                .is_ok_and(|bytes| bytes.windows(needle.len()).any(|w| w == needle.as_bytes()))
        })
        .map(|p| p.display().to_string())
        .collect()
}

/// Fails the test if `needle` is still in the database's files.
fn assert_no_copy(db: &Path, needle: &str) {
    let found = files_containing(db, needle);
    assert!(found.is_empty(), "{needle} is still in {found:?}");
}

/// The text stored in the one row `sql` selects, read behind the store's back: the sealed
/// form of a value, to look for in the files once the row is deleted.
fn stored(db: &Path, sql: &str) -> String {
    let conn = Connection::open(db).unwrap();
    let text: String = conn.query_row(sql, [], |r| r.get(0)).unwrap();
    assert!(text.starts_with(sealing::PREFIX), "sealed: {text}");
    text
}

/// Fails the test unless `needle` is in the database's files.
fn assert_copy(db: &Path, needle: &str) {
    assert!(
        !files_containing(db, needle).is_empty(),
        "the check must see {needle} while its row exists"
    );
}

fn unique_secret() -> String {
    format!("pw-7f3c-{}", uuid::Uuid::new_v4().simple())
}

fn ready_instance(store: &Store, id: &str) {
    let create = format!("{id}-create");
    provision(store, id, &create);
    let inst = InstanceRecord { state: InstanceState::Ready, ..instance(id) };
    succeed(store, &create, Some(&inst));
}

/// Marks the operation `op_id` succeeded, and saves `instance` with it.
fn succeed(store: &Store, op_id: &str, instance: Option<&InstanceRecord>) {
    let mut done = store.operation(&parsed(op_id)).unwrap().unwrap();
    done.state = OperationState::Succeeded;
    done.stage = Stage::Done;
    match instance {
        Some(inst) => store.save_operation_and_instance(&done, inst).unwrap(),
        None => store.save_operation(&done).unwrap(),
    }
}

fn put_secret(store: &Store, deployment: &str, path: &str, value: &str) {
    store.put_secrets(deployment, &[(path.to_string(), value.to_string())].into()).unwrap();
}

/// Long enough ago that a pending binding of then is a crash leftover.
fn long_ago() -> Timestamp {
    Timestamp::now().saturating_sub(Duration::from_secs(200))
}

/// The binding "b1" of the instance "i1", bound with `password`.
fn bind_with_password(store: &Store, password: &str) {
    store
        .insert_binding(&BindingRecord {
            response: Some(json!({"credentials": {"password": password}})),
            ..pending_binding("i1", "b1", Timestamp::now())
        })
        .unwrap();
}

fn stored_b1(store: &Store) -> BindingRecord {
    store.binding(&parsed("i1"), &parsed("b1")).unwrap().unwrap()
}

fn pending_binding(instance_id: &str, id: &str, created_at: Timestamp) -> BindingRecord {
    BindingRecord {
        instance_id: parsed(instance_id),
        id: parsed(id),
        service_id: parsed("svc"),
        plan_id: parsed("p1"),
        request: json!({"parameters": {}}),
        response: None,
        created_at,
    }
}

#[test]
fn a_deleted_binding_leaves_no_copy_of_its_password_in_the_files() {
    let (dir, store) = with_pending_binding(Timestamp::now());
    let db = db_path(&dir);
    let password = unique_secret();
    assert!(store
        .set_binding_response(
            &parsed("i1"),
            &parsed("b1"),
            &json!({"credentials": {"username": "u", "password": password}})
        )
        .unwrap());
    // Sealed: never in clear, and the sealed form goes with the row.
    assert_no_copy(&db, &password);
    let sealed = stored(&db, "SELECT response FROM bindings");
    assert_copy(&db, &sealed);
    assert!(store.delete_binding(&parsed("i1"), &parsed("b1")).unwrap());
    assert_no_copy(&db, &sealed);
}

#[test]
fn a_deleted_instance_leaves_no_copy_of_its_secrets_or_bindings_in_the_files() {
    let (dir, store) = open();
    let db = db_path(&dir);
    ready_instance(&store, "i1");
    let (secret, password) = (unique_secret(), unique_secret());
    put_secret(&store, "service-instance_i1", "/odb/svc/admin", &secret);
    bind_with_password(&store, &password);
    let sealed =
        [stored(&db, "SELECT value FROM secrets"), stored(&db, "SELECT response FROM bindings")];
    for needle in &sealed {
        assert_copy(&db, needle);
    }
    let mut inst = store.instance(&parsed("i1")).unwrap().unwrap();
    start_delete(&store, "i1", "o-delete").unwrap();
    inst.state = InstanceState::Deleted;
    succeed(&store, "o-delete", Some(&inst));
    for needle in sealed.iter().chain([&secret, &password]) {
        assert_no_copy(&db, needle);
    }
}

#[test]
fn a_forgotten_instance_leaves_no_copy_of_its_secrets_in_the_files() {
    let (dir, store) = open();
    let db = db_path(&dir);
    provision(&store, "i1", "o1");
    let secret = unique_secret();
    put_secret(&store, "service-instance_i1", "/odb/svc/admin", &secret);
    assert_no_copy(&db, &secret);
    let sealed = stored(&db, "SELECT value FROM secrets");
    assert_copy(&db, &sealed);
    store.forget_instance(&parsed("i1")).unwrap();
    assert_no_copy(&db, &sealed);
}

#[test]
fn a_replaced_secret_leaves_no_copy_of_its_old_value_in_the_files() {
    let (dir, store) = open();
    let db = db_path(&dir);
    let (old, new) = (unique_secret(), unique_secret());
    put_secret(&store, "service-instance_i1", "/odb/svc/admin", &old);
    let sealed_old = stored(&db, "SELECT value FROM secrets");
    put_secret(&store, "service-instance_i1", "/odb/svc/admin", &new);
    let sealed_new = stored(&db, "SELECT value FROM secrets");
    assert_no_copy(&db, &sealed_old);
    assert_copy(&db, &sealed_new);
    assert_no_copy(&db, &old);
    assert_no_copy(&db, &new);
    let secrets = store.secrets("service-instance_i1").unwrap();
    assert_eq!(secrets["/odb/svc/admin"], new);
}

#[test]
fn a_checkpoint_kept_busy_by_a_reader_does_not_fail_the_deletion_and_is_retried() {
    let (dir, store) = open();
    let db = db_path(&dir);
    ready_instance(&store, "i1");
    bind_with_password(&store, &unique_secret());
    let sealed = stored(&db, "SELECT response FROM bindings");
    // A reader in the middle of a read transaction holds on to the log.
    let mut reader = Connection::open(&db).unwrap();
    let read = reader.transaction().unwrap();
    let n: i64 = read.query_row("SELECT count(*) FROM bindings", [], |r| r.get(0)).unwrap();
    assert_eq!(n, 1);
    let (deleted, logs) = capture_logs(|| store.delete_binding(&parsed("i1"), &parsed("b1")));
    assert!(deleted.unwrap(), "the deletion succeeds all the same");
    assert!(logs.contains("checkpoint busy"), "{logs}");
    assert!(!files_containing(&db, &sealed).is_empty(), "the reader kept the old pages in the log");
    drop(read);
    drop(reader);
    // The next call of any kind finishes the job.
    store.instance(&parsed("i1")).unwrap();
    assert_no_copy(&db, &sealed);
}

// ----- binds and deprovisions exclude each other -----

#[test]
fn a_binding_is_refused_while_its_instance_is_being_deleted() {
    let (_d, store) = with_ready_instance();
    start_delete(&store, "i1", "o-delete").unwrap();
    match store.insert_binding(&pending_binding("i1", "b1", Timestamp::now())).unwrap_err() {
        StoreError::InstanceBusy { instance, reason } => {
            assert_eq!(instance, "i1");
            assert_eq!(reason, BindRefusal::DeleteInFlight { operation: parsed("o-delete") });
        }
        other => panic!("expected InstanceBusy, got {other}"),
    }
    assert!(store.binding(&parsed("i1"), &parsed("b1")).unwrap().is_none(), "nothing was written");
}

#[test]
fn a_binding_is_refused_on_a_deprovisioning_deleted_or_unknown_instance() {
    let (_d, store) = with_ready_instance();
    let mut inst = store.instance(&parsed("i1")).unwrap().unwrap();
    let done = store.latest_operation(&parsed("i1")).unwrap().unwrap();
    inst.state = InstanceState::Deprovisioning;
    store.save_operation_and_instance(&done, &inst).unwrap();
    let refusal = |instance_id: &str| match store
        .insert_binding(&pending_binding(instance_id, "b1", Timestamp::now()))
        .unwrap_err()
    {
        StoreError::InstanceBusy { reason, .. } => reason,
        other => panic!("expected InstanceBusy, got {other}"),
    };
    assert_eq!(refusal("i1"), BindRefusal::Deprovisioning);
    inst.state = InstanceState::Deleted;
    store.save_operation_and_instance(&done, &inst).unwrap();
    assert_eq!(refusal("i1"), BindRefusal::Deleted);
    assert_eq!(refusal("nobody"), BindRefusal::Deleted);
    let err = store.insert_binding(&pending_binding("i1", "b1", Timestamp::now())).unwrap_err();
    assert!(err.to_string().contains("cannot be bound"), "{err}");
}

#[test]
fn a_delete_is_refused_while_a_binding_is_being_created() {
    let (_d, store) = with_pending_binding(Timestamp::now());
    match start_delete(&store, "i1", "o-delete").unwrap_err() {
        StoreError::BindingInProgress { instance, binding } => {
            assert_eq!((instance.as_str(), binding.as_str()), ("i1", "b1"));
        }
        other => panic!("expected BindingInProgress, got {other}"),
    }
    assert!(store.operation(&parsed("o-delete")).unwrap().is_none(), "nothing was written");
    assert_eq!(state_of_i1(&store), InstanceState::Ready);
    // Other operations are not affected by a bind.
    start_update(&store, "i1", "o-update").unwrap();
    succeed(&store, "o-update", None);
    // Once create-binding has answered, the delete may go ahead.
    assert!(store
        .set_binding_response(&parsed("i1"), &parsed("b1"), &json!({"credentials": {}}))
        .unwrap());
    start_delete(&store, "i1", "o-delete").unwrap();
    assert_eq!(state_of_i1(&store), InstanceState::Deprovisioning);
}

#[test]
fn a_stale_pending_binding_does_not_block_a_delete() {
    let (_d, store) = with_pending_binding(long_ago());
    let delete = op("o-delete", "i1", OperationKind::Delete);
    // Within a grace longer than its age, the record still counts as a bind in progress.
    assert!(matches!(
        store
            .begin_operation_with_grace(
                &delete,
                InstanceState::Deprovisioning,
                Duration::from_secs(300)
            )
            .unwrap_err(),
        StoreError::BindingInProgress { .. }
    ));
    // Older than the grace (the default is 150 s), it is a crash leftover.
    start_delete(&store, "i1", "o-delete").unwrap();
    assert_eq!(state_of_i1(&store), InstanceState::Deprovisioning);
}

#[test]
fn retrying_a_leftover_pending_binding_takes_its_record_over() {
    let (_d, store) = with_pending_binding(long_ago());
    let retry = pending_binding("i1", "b1", Timestamp::now());
    store.insert_binding(&retry).unwrap();
    assert_eq!(stored_b1(&store).created_at, retry.created_at);
    assert!(
        matches!(
            start_delete(&store, "i1", "o-delete").unwrap_err(),
            StoreError::BindingInProgress { .. }
        ),
        "the retried bind is in progress again"
    );
    let different =
        BindingRecord { request: json!({"parameters": {"other": true}}), ..retry.clone() };
    assert!(matches!(store.insert_binding(&different).unwrap_err(), StoreError::AlreadyExists));
    store.set_binding_response(&parsed("i1"), &parsed("b1"), &json!({"credentials": {}})).unwrap();
    assert!(
        matches!(store.insert_binding(&retry).unwrap_err(), StoreError::AlreadyExists),
        "a finished binding is never taken over"
    );
    assert_eq!(stored_b1(&store).response, Some(json!({"credentials": {}})));
}

#[test]
fn storing_the_answer_of_a_binding_whose_record_is_gone_reports_it() {
    let (_d, store) = with_ready_instance();
    assert!(!store
        .set_binding_response(&parsed("i1"), &parsed("b1"), &json!({"credentials": {}}))
        .unwrap());
}

// ----- nesting of JSON columns -----

fn nested(depth: usize) -> Value {
    (0..depth).fold(json!("leaf"), |inner, i| json!({ format!("k{i}"): inner }))
}

#[test]
fn a_context_nested_64_deep_round_trips_through_an_operation_request() {
    let (dir, store) = open();
    let context = nested(64);
    let mut inst = instance("i1");
    inst.context = Some(context.clone());
    let mut create = op("o1", "i1", OperationKind::Create);
    // As the engine stores it: the context twice, once inside the adapter's request params.
    create.request.context = Some(context.clone());
    create.request.request_params = Some(json!({"context": context, "parameters": {}}));
    store.begin_provision(&inst, &create).unwrap();
    drop(store);
    let store = reopen(&dir);
    assert_eq!(store.operation(&parsed("o1")).unwrap().unwrap().request, create.request);
    assert_eq!(store.instance(&parsed("i1")).unwrap().unwrap().context, Some(context));
    assert_eq!(store.in_flight_operations().unwrap().len(), 1);
}

#[test]
fn json_at_the_depth_limit_round_trips_and_deeper_json_is_refused_when_written() {
    let (_d, store) = open();
    let mut create = op("o1", "i1", OperationKind::Create);
    // The request object itself is one level.
    create.request.parameters = Some(nested(MAX_JSON_DEPTH - 1));
    store.begin_provision(&instance("i1"), &create).unwrap();
    assert_eq!(store.operation(&parsed("o1")).unwrap().unwrap().request, create.request);

    // The probe's case: a context 125 deep, wrapped by the operation request.
    let mut create = op("o2", "i2", OperationKind::Create);
    create.request.request_params = Some(json!({"context": nested(125)}));
    match store.begin_provision(&instance("i2"), &create).unwrap_err() {
        StoreError::TooDeep { column, depth, limit } => {
            assert_eq!(column, "operations.request");
            assert_eq!(depth, 127);
            assert_eq!(limit, MAX_JSON_DEPTH);
        }
        other => panic!("expected TooDeep, got {other}"),
    }
    assert!(store.instance(&parsed("i2")).unwrap().is_none(), "nothing was written");
    let mut inst = instance("i3");
    inst.context = Some(nested(MAX_JSON_DEPTH + 1));
    assert!(matches!(
        store.begin_provision(&inst, &op("o3", "i3", OperationKind::Create)).unwrap_err(),
        StoreError::TooDeep { column: "instances.context", .. }
    ));
}

#[test]
fn the_store_writes_nothing_that_serde_json_cannot_read_back() {
    // Headroom: a value well past the write limit still reads back...
    let text = nested(MAX_JSON_DEPTH + 20).to_string();
    assert!(json::decode::<Value>(&text).is_ok());
    // ...and this is the reader's limit the headroom is measured against.
    let err = json::decode::<Value>(&nested(128).to_string()).unwrap_err();
    assert!(err.to_string().contains("recursion limit"), "{err}");
}

#[test]
fn json_depth_counts_containers_but_not_brackets_in_strings() {
    assert_eq!(json::depth("1"), 0);
    assert_eq!(json::depth(r#""[{""#), 0);
    assert_eq!(json::depth("[]"), 1);
    assert_eq!(json::depth(r#"{"a":[1,{"b":[]}],"c":{}}"#), 4);
    assert_eq!(json::depth(r#"["\"[[[", "\\", [2]]"#), 2);
}

// ----- the simulated director's state -----

fn sim_task(context: &str, outcome: SimTaskOutcome) -> NewSimTask {
    NewSimTask {
        deployment: "d1".into(),
        description: "create deployment".into(),
        context_id: context.into(),
        started_ms: 1_700_000_000_000,
        duration_ms: 500,
        outcome,
        result: "why".into(),
    }
}

#[test]
fn simulated_deployments_and_tasks_round_trip() {
    let (_d, store) = open();
    store.sim_put_deployment("d1", "name: d1").unwrap();
    store.sim_put_deployment("d1", "name: d1\nv: 2").unwrap();
    store.sim_put_deployment("d0", "name: d0").unwrap();
    assert_eq!(store.sim_manifest("d1").unwrap().as_deref(), Some("name: d1\nv: 2"));
    assert_eq!(store.sim_deployment_names().unwrap(), ["d0", "d1"]);
    let first = store.sim_record_task(&sim_task("op-1", SimTaskOutcome::Done)).unwrap();
    let second = store.sim_record_task(&sim_task("op-2", SimTaskOutcome::Error)).unwrap();
    let got = store.sim_task(second).unwrap().unwrap();
    assert_eq!(got.id, second);
    assert_eq!(got.task, sim_task("op-2", SimTaskOutcome::Error));
    assert_eq!((got.task.context_id.as_str(), got.task.result.as_str()), ("op-2", "why"));
    assert!(store.sim_task(second + 100).unwrap().is_none());
    let of_deployment = store.sim_tasks_where(&SimTaskFilter::Deployment("d1".into())).unwrap();
    assert_eq!(
        of_deployment.iter().map(|t| t.id).collect::<Vec<_>>(),
        [second, first],
        "newest first"
    );
    let by_context = store.sim_tasks_where(&SimTaskFilter::Context("op-1".into())).unwrap();
    assert_eq!(by_context.len(), 1);
    assert_eq!(by_context[0].task.outcome, SimTaskOutcome::Done);
    assert!(store.sim_delete_deployment("d1").unwrap());
    assert!(!store.sim_delete_deployment("d1").unwrap());
    assert!(store.sim_manifest("d1").unwrap().is_none());
}

#[test]
fn a_deleted_simulated_deployment_leaves_no_copy_of_its_manifest_in_the_files() {
    let (dir, store) = open();
    let db = db_path(&dir);
    let secret = unique_secret();
    store
        .sim_put_deployment(
            "service-instance_i1",
            &format!("name: service-instance_i1\nproperties: {{password: {secret}}}"),
        )
        .unwrap();
    assert_no_copy(&db, &secret);
    let sealed = stored(&db, "SELECT manifest FROM sim_deployments");
    assert_copy(&db, &sealed);
    assert!(store.sim_delete_deployment("service-instance_i1").unwrap());
    assert_no_copy(&db, &sealed);
}

// ----- typed columns: a bad row is an error naming the column -----

/// Runs `sql` on the database behind the store, as something other than the store would.
fn tamper(dir: &tempfile::TempDir, sql: &str) {
    let conn = Connection::open(db_path(dir)).unwrap();
    conn.execute_batch(sql).unwrap();
}

/// Seals `value` into `col` of every row of its table, with the store's own key.
fn seal_behind_the_stores_back(dir: &tempfile::TempDir, col: &sealed::SealedColumn, value: &str) {
    let store = reopen(dir);
    let conn = Connection::open(db_path(dir)).unwrap();
    let keys: Vec<Vec<String>> = {
        let sql = format!("SELECT {} FROM {}", col.key.join(", "), col.table);
        let mut stmt = conn.prepare(&sql).unwrap();
        let rows = stmt
            .query_map([], |r| (0..col.key.len()).map(|i| r.get::<_, String>(i)).collect())
            .unwrap();
        rows.map(Result::unwrap).collect()
    };
    for key in keys {
        let refs: Vec<&str> = key.iter().map(String::as_str).collect();
        let where_key: Vec<String> =
            col.key.iter().zip(&key).map(|(k, v)| format!("{k} = '{v}'")).collect();
        conn.execute(
            &format!(
                "UPDATE {} SET {} = ?1 WHERE {}",
                col.table,
                col.column,
                where_key.join(" AND ")
            ),
            [col.seal_text(store.keyring(), &refs, value)],
        )
        .unwrap();
    }
}

/// The column a read failed on, and what was wrong with it.
fn bad_column<T: std::fmt::Debug>(result: StoreResult<T>) -> (&'static str, ColumnError) {
    match result {
        Err(StoreError::Column { column, source }) => (column, source),
        other => panic!("expected a column error, got {other:?}"),
    }
}

/// Writes the text `value` into `column` ("table.name") of every row of its table behind the
/// store's back, checks that `read` then fails naming that column, and returns what was wrong.
fn corrupt<T: std::fmt::Debug>(
    dir: &tempfile::TempDir, column: &str, value: &str, read: impl FnOnce() -> StoreResult<T>,
) -> ColumnError {
    let (table, name) = column.split_once('.').unwrap();
    match sealed::SEALED_COLUMNS.iter().find(|c| c.name == column) {
        // A sealed column gets the bad value sealed, as the store would have written it.
        Some(col) => seal_behind_the_stores_back(dir, col, value),
        None => tamper(dir, &format!("UPDATE {table} SET {name} = '{value}'")),
    }
    let (got, source) = bad_column(read());
    assert_eq!(got, column, "{value}");
    source
}

#[test]
fn corrupt_json_or_a_value_of_the_wrong_type_is_an_error_naming_its_column() {
    let (dir, store) = provisioned();
    let source =
        corrupt(&dir, "instances.context", "{\"platform\":", || store.instance(&parsed("i1")));
    assert!(matches!(source, ColumnError::Json(_)), "{source}");
    let err = store.live_instances().unwrap_err().to_string();
    assert!(err.contains("instances.context") && err.contains("corrupt JSON"), "{err}");
    corrupt(&dir, "operations.request", "not json", || store.operation(&parsed("o1")));
    assert_eq!(bad_column(store.in_flight_operations()).0, "operations.request");
    // A value of the wrong type is no better (in a fresh row: the request is broken).
    let (dir, store) = provisioned();
    let source = corrupt(&dir, "operations.task_id", "twelve", || store.operation(&parsed("o1")));
    assert!(matches!(source, ColumnError::Type(_)), "{source}");
}

#[test]
fn unknown_enum_text_is_an_error_naming_its_column() {
    let (dir, store) = with_ready_instance();
    start_update(&store, "i1", "o2").unwrap();
    for (sql, column, text) in [
        ("UPDATE operations SET kind = 'explode' WHERE id = 'o2'", "operations.kind", "explode"),
        (
            "UPDATE operations SET kind = 'update', state = 'paused' WHERE id = 'o2'",
            "operations.state",
            "paused",
        ),
        (
            "UPDATE operations SET state = 'in progress', stage = 'Deploying' WHERE id = 'o2'",
            "operations.stage",
            "Deploying",
        ),
    ] {
        tamper(&dir, sql);
        let (got, source) = bad_column(store.operation(&parsed("o2")));
        assert_eq!(got, column);
        match source {
            ColumnError::UnknownText { text: found, .. } => assert_eq!(found, text),
            other => panic!("expected UnknownText, got {other}"),
        }
    }
    let source = corrupt(&dir, "instances.state", "gone", || store.instance(&parsed("i1")));
    assert_eq!(source.to_string(), "unknown instance state 'gone'");
    // The checks inside transactions read the state the same way.
    assert_eq!(
        bad_column(store.insert_binding(&pending_binding("i1", "b1", Timestamp::now()))).0,
        "instances.state"
    );
}

#[test]
fn an_unknown_simulated_task_outcome_is_an_error_naming_its_column() {
    let (dir, store) = open();
    let id = store.sim_record_task(&sim_task("c", SimTaskOutcome::Done)).unwrap();
    corrupt(&dir, "sim_tasks.outcome", "maybe", || store.sim_task(id));
}

#[test]
fn a_stored_id_that_breaks_the_id_rule_is_an_error_naming_its_column() {
    let (dir, store) = with_pending_binding(Timestamp::now());
    let source = corrupt(&dir, "bindings.id", "../b1", || store.bindings_of(&parsed("i1")));
    assert!(matches!(&source, ColumnError::Id { text, .. } if text == "../b1"), "{source}");
    assert!(source.to_string().contains("the binding id"), "{source}");
    corrupt(&dir, "operations.id", "x/y", || store.latest_operation(&parsed("i1")));
}

// ----- typed records: round trips, and rows written by earlier brokers -----

fn at(text: &str) -> Timestamp {
    Timestamp::parse(text).unwrap()
}

/// An instance with every optional field set.
fn full_instance(id: &str) -> InstanceRecord {
    let created = at("2024-03-01T10:20:30.456Z");
    InstanceRecord {
        id: parsed(id),
        service_id: parsed("svc"),
        plan_id: parsed("p2"),
        organization_guid: "org".into(),
        space_guid: "space".into(),
        context: Some(json!({"platform": "cloudfoundry", "space_name": "dev"})),
        parameters: json!({"size": 3, "nested": {"a": [1, 2]}}),
        maintenance_info: Some(MaintenanceInfo { version: "1.2.3".into() }),
        dashboard_url: Some("https://dash.example/i".into()),
        labels: Some([("team".to_string(), "data".to_string())].into()),
        configs: Some([("cloud".to_string(), "azs: []".to_string())].into()),
        state: InstanceState::Updating,
        deployment_name: format!("service-instance_{id}"),
        created_at: created,
        updated_at: created,
    }
}

/// An operation with every optional field set.
fn full_operation(id: &str, instance_id: &str) -> OperationRecord {
    let created = at("2024-03-01T10:20:31.000Z");
    OperationRecord {
        id: parsed(id),
        instance_id: parsed(instance_id),
        kind: OperationKind::Update,
        state: OperationState::InProgress,
        stage: Stage::Errand,
        task_id: Some(42),
        errand_index: 1,
        request: OperationRequest {
            plan_id: Some(parsed("p2")),
            previous_plan_id: Some(parsed("p1")),
            parameters: Some(json!({"size": 3})),
            context: Some(json!({"platform": "cloudfoundry"})),
            maintenance_info: Some(MaintenanceInfo { version: "1.2.3".into() }),
            request_params: Some(json!({"plan_id": "p2", "parameters": {"size": 3}})),
            force: true,
            fingerprint: Some(json!({"service_id": "svc", "plan_id": "p2"})),
        },
        description: "working".into(),
        error: "none yet".into(),
        created_at: created,
        updated_at: created,
        lease_epoch: 0,
    }
}

#[test]
fn every_record_type_round_trips_field_for_field() {
    let (dir, store) = open();
    let inst = full_instance("i1");
    let operation = full_operation("o1", "i1");
    store.begin_provision(&inst, &operation).unwrap();
    let binding = BindingRecord {
        plan_id: parsed("p2"),
        request: json!({"parameters": {"x": 1}, "app_guid": "app"}),
        response: Some(json!({"credentials": {"password": "pw"}})),
        ..pending_binding("i1", "b1", at("2024-03-01T10:20:32.789Z"))
    };
    store.insert_binding(&binding).unwrap();
    drop(store);
    let store = reopen(&dir);
    assert_eq!(store.instance(&parsed("i1")).unwrap().unwrap(), inst);
    assert_eq!(store.operation(&parsed("o1")).unwrap().unwrap(), operation);
    assert_eq!(stored_b1(&store), binding);
    // The minimal forms too: nothing optional set.
    let bare = instance("i2");
    let delete = OperationRecord {
        request: OperationRequest::new(parsed("p1")),
        ..op("o2", "i2", OperationKind::Delete)
    };
    store.begin_provision(&bare, &delete).unwrap();
    let got = store.instance(&parsed("i2")).unwrap().unwrap();
    assert_eq!((got.maintenance_info, got.labels, got.configs), (None, None, None));
    assert_eq!(
        store.operation(&parsed("o2")).unwrap().unwrap().request,
        OperationRequest::new(parsed("p1"))
    );
}

#[test]
fn the_columns_keep_the_text_earlier_brokers_wrote() {
    let (dir, store) = provisioned();
    store.insert_binding(&pending_binding("i1", "b1", at("2024-03-01T10:20:32.789Z"))).unwrap();
    let conn = Connection::open(db_path(&dir)).unwrap();
    let (maintenance_info, labels, configs, state): (String, String, String, String) = conn
        .query_row("SELECT maintenance_info, labels, configs, state FROM instances", [], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
        })
        .unwrap();
    assert_eq!(
        [maintenance_info, labels, configs, state],
        ["null", "null", "null", "provisioning"]
    );
    let (response, created_at): (String, String) = conn
        .query_row("SELECT response, created_at FROM bindings", [], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap();
    assert_eq!(response, "null", "a pending binding, as the SQL checks it");
    assert_eq!(created_at, "2024-03-01T10:20:32.789Z");
    let request: String =
        conn.query_row("SELECT request FROM operations", [], |r| r.get(0)).unwrap();
    // Sealed; what it seals is the text earlier brokers wrote in clear.
    let request = sealed::OPERATION_REQUEST.open_text(store.keyring(), &["o1"], &request).unwrap();
    let request: Value = serde_json::from_str(&request).unwrap();
    assert_eq!(
        request,
        json!({
            "plan_id": "p1", "previous_plan_id": null, "parameters": null, "context": null,
            "maintenance_info": null, "request_params": null, "force": false, "fingerprint": null,
        })
    );
}

#[test]
fn rows_written_by_an_earlier_broker_read_back() {
    // A database of the schema before sealing (version 2), with its values in clear.
    let dir = database_at_version(2);
    // Exactly as the broker wrote them before its records were typed: JSON `null` for
    // "none", timestamps as text, the operation request as a serialized JSON object.
    tamper(
        &dir,
        r#"
        INSERT INTO instances (id, service_id, plan_id, organization_guid, space_guid, context,
            parameters, maintenance_info, dashboard_url, labels, state, deployment_name,
            created_at, updated_at, configs)
        VALUES
          ('old-1', 'svc', 'p1', 'org', 'space', 'null', '{}', 'null', NULL, 'null', 'failed',
           'service-instance_old-1', '2023-11-14T22:13:20.123Z', '2023-11-14T22:13:20.123Z',
           'null'),
          ('old-2', 'svc', 'p2', 'org', 'space', '{"platform":"cloudfoundry"}', '{"a":1}',
           '{"version":"1.2.3"}', 'https://dash.example', '{"team":"data"}', 'ready',
           'service-instance_old-2', '2023-11-14T22:13:21.000Z', '2024-01-01T00:00:00.000Z',
           '{}');
        INSERT INTO operations (id, instance_id, kind, state, stage, task_id, errand_index,
            request, description, error, created_at, updated_at)
        VALUES
          ('op-create', 'old-2', 'create', 'succeeded', 'done', 7, 0,
           '{"context":{"platform":"cloudfoundry"},"fingerprint":{"parameters":{"a":1},"plan_id":"p2","service_id":"svc"},"force":false,"maintenance_info":{"version":"1.2.3"},"parameters":{"a":1},"plan_id":"p2","previous_plan_id":null,"request_params":{"parameters":{"a":1},"plan_id":"p2"}}',
           'Instance provisioning completed', '', '2023-11-14T22:13:21.000Z',
           '2023-11-14T22:14:00.500Z'),
          ('op-delete', 'old-1', 'delete', 'in progress', 'pending', NULL, 0,
           '{"context":null,"fingerprint":null,"force":true,"maintenance_info":null,"parameters":null,"plan_id":"p1","previous_plan_id":null,"request_params":null}',
           '', '', '2024-01-01T00:00:00.000Z', '2024-01-01T00:00:00.000Z');
        INSERT INTO bindings (instance_id, id, service_id, plan_id, request, response, created_at)
        VALUES
          ('old-2', 'b-done', 'svc', 'p2', '{"parameters":{}}', '{"credentials":{"pw":"legacy-pw-5b1e"}}',
           '2024-01-01T00:00:01.000Z'),
          ('old-2', 'b-pending', 'svc', 'p2', '{"parameters":{}}', 'null',
           '2024-01-01T00:00:02.000Z');
        INSERT INTO secrets (deployment, name, value)
        VALUES ('service-instance_old-2', '/odb/svc/service-instance_old-2/admin', 'legacy-secret-9d2a');
        INSERT INTO sim_deployments (name, manifest)
        VALUES ('service-instance_old-2', 'name: service-instance_old-2
properties: {pw: legacy-manifest-3c7f}');
        "#,
    );
    let store = reopen(&dir);
    // The first start of this broker sealed them (migration 3): none is left in clear.
    for clear in ["legacy-pw-5b1e", "legacy-secret-9d2a", "legacy-manifest-3c7f", "\"a\":1"] {
        assert_no_copy(&db_path(&dir), clear);
    }
    assert_eq!(
        store.secrets("service-instance_old-2").unwrap()["/odb/svc/service-instance_old-2/admin"],
        "legacy-secret-9d2a"
    );
    assert!(store
        .sim_manifest("service-instance_old-2")
        .unwrap()
        .unwrap()
        .contains("pw: legacy-manifest-3c7f"));

    let bare = store.instance(&parsed("old-1")).unwrap().unwrap();
    assert_eq!(bare.context, None);
    assert_eq!(bare.maintenance_info, None);
    assert_eq!((bare.labels, bare.configs), (None, None));
    assert_eq!(bare.parameters, json!({}));
    assert_eq!(bare.state, InstanceState::Failed);
    assert_eq!(bare.created_at.unix_millis(), 1_700_000_000_123);

    let full = store.instance(&parsed("old-2")).unwrap().unwrap();
    assert_eq!(full.context, Some(json!({"platform": "cloudfoundry"})));
    assert_eq!(full.maintenance_info, Some(MaintenanceInfo { version: "1.2.3".into() }));
    assert_eq!(full.labels, Some([("team".to_string(), "data".to_string())].into()));
    assert_eq!(full.configs, Some(BTreeMap::new()));
    assert_eq!(full.updated_at, at("2024-01-01T00:00:00Z"));
    assert_eq!(store.live_instances().unwrap().len(), 2);

    let create = store.operation(&parsed("op-create")).unwrap().unwrap();
    assert_eq!(create.task_id, Some(7));
    assert_eq!(create.request.plan_id, Some(parsed("p2")));
    assert_eq!(create.request.previous_plan_id, None);
    assert_eq!(create.request.parameters, Some(json!({"a": 1})));
    assert_eq!(create.request.maintenance_info.map(|mi| mi.version), Some("1.2.3".into()));
    assert!(!create.request.force);
    let delete = store.latest_operation(&parsed("old-1")).unwrap().unwrap();
    assert_eq!(delete.id, "op-delete");
    assert!(delete.request.force);
    assert_eq!(
        (
            delete.request.parameters,
            delete.request.context,
            delete.request.request_params,
            delete.request.fingerprint
        ),
        (None, None, None, None)
    );
    assert_eq!(store.in_flight_operations().unwrap().len(), 1);

    let bindings = store.bindings_of(&parsed("old-2")).unwrap();
    assert_eq!(bindings.len(), 2);
    assert!(!bindings[0].is_pending());
    assert_eq!(bindings[0].response, Some(json!({"credentials": {"pw": "legacy-pw-5b1e"}})));
    assert!(bindings[1].is_pending());
    assert_eq!(bindings[1].response, None);
    // The legacy pending row still counts as a bind in progress for a recent delete check,
    // and a retried bind still takes it over: the SQL reads the same text.
    let retry = BindingRecord {
        plan_id: parsed("p2"),
        ..pending_binding("old-2", "b-pending", Timestamp::now())
    };
    store.insert_binding(&retry).unwrap();
    assert!(matches!(
        start_delete(&store, "old-2", "o-del").unwrap_err(),
        StoreError::BindingInProgress { .. }
    ));
}

#[test]
fn an_operation_request_of_the_wrong_shape_is_an_error_naming_its_column() {
    let (dir, store) = provisioned();
    for request in [
        r#"{"force": false}"#,
        r#"{"plan_id": "p1", "force": "yes"}"#,
        r#"{"plan_id": 7}"#,
        r#"{"plan_id": "p1\u0000; DROP TABLE operations"}"#,
        r#"{"plan_id": "p1", "previous_plan_id": "p\n2"}"#,
        r#"{"plan_id": "p1", "maintenance_info": {"version": 2}}"#,
        "null",
    ] {
        let source =
            corrupt(&dir, "operations.request", request, || store.operation(&parsed("o1")));
        assert!(matches!(source, ColumnError::Json(_)), "{request}: {source}");
    }
    corrupt(&dir, "instances.labels", r#"{"team": 1}"#, || store.instance(&parsed("i1")));
}

// ----- sealing: keys, canaries, rotation, an upgrade from clear -----

/// A key set of `(label, secret seed)` pairs; each secret is the seed made 32 bytes long.
fn key_set(keys: &[(&str, &str)], primary: &str) -> KeySet {
    let keys = keys
        .iter()
        .map(|(label, seed)| RootKey {
            label: label.to_string(),
            secret: KeySecret::new(format!("{seed:-<32}").into_bytes()),
        })
        .collect();
    KeySet::new(keys, primary).unwrap()
}

fn open_with(dir: &tempfile::TempDir, keys: &KeySet) -> StoreResult<Store> {
    Store::open_with_keys(&db_path(dir), Some(keys))
}

/// A database created with the migrations up to `version` only, as an older broker left it.
fn database_at_version(version: usize) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let db = db_path(&dir);
    std::fs::create_dir_all(db.parent().unwrap()).unwrap();
    let conn = Connection::open(&db).unwrap();
    for sql in &migrations::MIGRATIONS[..version] {
        conn.execute_batch(&sql.sql(crate::store::db::Dialect::Sqlite)).unwrap();
    }
    conn.pragma_update(None, "user_version", version as i64).unwrap();
    dir
}

/// A new store whose one key is `label` (secret `one`), with a fresh secret in every sealed
/// column: its directory, the store and the secret.
fn filled_under(label: &str) -> (tempfile::TempDir, Store, String) {
    let dir = tempfile::tempdir().unwrap();
    let store = open_with(&dir, &key_set(&[(label, "one")], label)).unwrap();
    let secret = unique_secret();
    fill_every_sealed_column(&store, &secret);
    (dir, store, secret)
}

/// Writes one value into every sealed column: an instance with parameters and its operation,
/// a bound binding, a secret, a simulated manifest.
fn fill_every_sealed_column(store: &Store, password: &str) {
    let inst = InstanceRecord { parameters: json!({"password": password}), ..instance("i1") };
    let mut create = op("o1", "i1", OperationKind::Create);
    create.request.parameters = Some(json!({"password": password}));
    store.begin_provision(&inst, &create).unwrap();
    store
        .insert_binding(&BindingRecord {
            request: json!({"parameters": {"password": password}}),
            response: Some(json!({"credentials": {"password": password}})),
            ..pending_binding("i1", "b1", Timestamp::now())
        })
        .unwrap();
    put_secret(store, "service-instance_i1", "/odb/svc/admin", password);
    store.sim_put_deployment("service-instance_i1", &format!("password: {password}")).unwrap();
    store
        .config_value_put(
            "/odb/svc/service-instance_i1/admin",
            "value",
            &serde_json::Value::Null,
            &serde_json::json!(password),
        )
        .unwrap();
}

/// Reads every sealed column back and checks it holds `password`.
fn assert_every_sealed_column_reads(store: &Store, password: &str) {
    let inst = store.instance(&parsed("i1")).unwrap().unwrap();
    assert_eq!(inst.parameters["password"], password);
    let create = store.operation(&parsed("o1")).unwrap().unwrap();
    assert_eq!(create.request.parameters.unwrap()["password"], password);
    let b1 = stored_b1(store);
    assert_eq!(b1.request["parameters"]["password"], password);
    assert_eq!(b1.response.unwrap()["credentials"]["password"], password);
    assert_eq!(store.secrets("service-instance_i1").unwrap()["/odb/svc/admin"], password);
    assert_eq!(
        store.sim_manifest("service-instance_i1").unwrap().unwrap(),
        format!("password: {password}")
    );
    let config_value =
        store.config_value_latest("/odb/svc/service-instance_i1/admin").unwrap().unwrap();
    assert_eq!(*config_value.value, serde_json::json!(password));
}

/// Every sealed value in the database, as stored.
fn sealed_values(dir: &tempfile::TempDir) -> Vec<String> {
    let conn = Connection::open(db_path(dir)).unwrap();
    let mut out = Vec::new();
    for col in sealed::SEALED_COLUMNS {
        let mut stmt = conn.prepare(&format!("SELECT {} FROM {}", col.column, col.table)).unwrap();
        let values = stmt.query_map([], |r| r.get::<_, String>(0)).unwrap();
        out.extend(values.map(Result::unwrap).filter(|v| Some(v.as_str()) != col.clear));
    }
    out
}

fn labels_known(dir: &tempfile::TempDir) -> Vec<String> {
    let conn = Connection::open(db_path(dir)).unwrap();
    let mut stmt = conn.prepare("SELECT label FROM sealing_keys ORDER BY label").unwrap();
    let labels = stmt.query_map([], |r| r.get(0)).unwrap();
    labels.map(Result::unwrap).collect()
}

#[test]
fn every_sealed_column_is_sealed_with_the_primary_key_and_reads_back() {
    let (dir, store, password) = filled_under("k1");
    assert_every_sealed_column_reads(&store, &password);
    assert_no_copy(&db_path(&dir), &password);
    let values = sealed_values(&dir);
    assert_eq!(values.len(), sealed::SEALED_COLUMNS.len(), "{values:?}");
    assert!(values.iter().all(|v| v.starts_with("odb-sealed:1:k1:")), "{values:?}");
}

#[test]
fn a_wrong_secret_is_found_by_the_canary_and_named_by_label() {
    let dir = tempfile::tempdir().unwrap();
    drop(open_with(&dir, &key_set(&[("k1", "one"), ("k2", "two")], "k1")).unwrap());
    let err = open_with(&dir, &key_set(&[("k1", "one"), ("k2", "not-two")], "k1")).unwrap_err();
    assert!(matches!(&err, StoreError::WrongKey { label } if label == "k2"), "{err:?}");
    assert!(err.to_string().contains("'k2'"), "{err}");
    // The right secrets still open it: the failed start changed nothing.
    open_with(&dir, &key_set(&[("k1", "one"), ("k2", "two")], "k1")).unwrap();
}

#[test]
fn a_new_primary_key_re_encrypts_every_sealed_value_once() {
    let (dir, store, password) = filled_under("old");
    drop(store);
    let both = key_set(&[("new", "two"), ("old", "one")], "new");
    let store = open_with(&dir, &both).unwrap();
    assert_eq!(store.resealed_at_open(), sealed::SEALED_COLUMNS.len());
    assert!(
        sealed_values(&dir).iter().all(|v| v.starts_with("odb-sealed:1:new:")),
        "{:?}",
        sealed_values(&dir)
    );
    // The older forms are gone from the files too, not just from the rows.
    assert_no_copy(&db_path(&dir), "odb-sealed:1:old:");
    assert_every_sealed_column_reads(&store, &password);
    drop(store);
    assert_eq!(open_with(&dir, &both).unwrap().resealed_at_open(), 0);
    // Once nothing uses the old key, it may go; the database forgets its salt.
    let store = open_with(&dir, &key_set(&[("new", "two")], "new")).unwrap();
    assert_every_sealed_column_reads(&store, &password);
    assert_eq!(labels_known(&dir), ["new"]);
}

#[test]
fn a_value_under_a_key_that_is_no_longer_configured_stops_the_open_naming_it() {
    let (dir, store, _) = filled_under("old");
    drop(store);
    let err = open_with(&dir, &key_set(&[("new", "two")], "new")).unwrap_err();
    match &err {
        StoreError::KeyMissing { label, column } => {
            assert_eq!(label, "old");
            assert_eq!(*column, sealed::SEALED_COLUMNS[0].name);
        }
        other => panic!("expected KeyMissing, got {other:?}"),
    }
    let message = err.to_string();
    assert!(message.contains("'old'") && message.contains("database.encryption.keys"), "{message}");
    // Nothing was changed: with the old key back, everything opens.
    let store = open_with(&dir, &key_set(&[("old", "one")], "old")).unwrap();
    assert_eq!(store.resealed_at_open(), 0);
}

#[test]
fn a_sealed_value_copied_to_another_row_or_changed_does_not_open() {
    let (dir, store) = with_ready_instance();
    for id in ["b1", "b2"] {
        store
            .insert_binding(&BindingRecord {
                response: Some(json!({"credentials": {"password": id}})),
                ..pending_binding("i1", id, Timestamp::now())
            })
            .unwrap();
    }
    tamper(
        &dir,
        "UPDATE bindings SET response = (SELECT response FROM bindings WHERE id = 'b1') WHERE id = 'b2'",
    );
    match store.binding(&parsed("i1"), &parsed("b2")).unwrap_err() {
        StoreError::Sealed { column, source } => {
            assert_eq!(column, "bindings.response");
            assert_eq!(source, OpenError::Rejected("local".into()));
        }
        other => panic!("expected a sealed-column error, got {other:?}"),
    }
    assert!(store.binding(&parsed("i1"), &parsed("b1")).is_ok());
    tamper(&dir, "UPDATE bindings SET response = '{\"credentials\":{}}' WHERE id = 'b1'");
    let err = store.binding(&parsed("i1"), &parsed("b1")).unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::Sealed { column: "bindings.response", source: OpenError::NotSealed }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("bindings.response"), "{err}");
}

#[test]
fn without_configured_keys_a_key_file_is_generated_beside_the_database_once() {
    let dir = tempfile::tempdir().unwrap();
    let db = db_path(&dir);
    let (store, logs) = capture_logs(|| Store::open(&db).unwrap());
    let key_file = key_file_path(&db);
    assert_eq!(key_file, db.parent().unwrap().join("encryption.key"));
    assert_eq!(mode(&key_file), 0o600);
    let key = std::fs::read_to_string(&key_file).unwrap();
    assert_eq!(key.trim().len(), 64, "32 random bytes, hex");
    assert!(logs.contains("WARN") && logs.contains(&key_file.display().to_string()), "{logs}");
    assert!(!logs.contains(key.trim()), "the key is never logged: {logs}");
    let password = unique_secret();
    fill_every_sealed_column(&store, &password);
    drop(store);
    let (store, logs) = capture_logs(|| reopen(&dir));
    assert!(!logs.contains("WARN"), "warned once only: {logs}");
    assert_eq!(std::fs::read_to_string(&key_file).unwrap(), key);
    assert_every_sealed_column_reads(&store, &password);
    assert!(sealed_values(&dir)[0].starts_with("odb-sealed:1:local:"));
    // Another database gets its own key.
    let other = tempfile::tempdir().unwrap();
    Store::open(&db_path(&other)).unwrap();
    assert_ne!(std::fs::read_to_string(key_file_path(&db_path(&other))).unwrap(), key);
}

#[test]
fn a_lost_key_file_is_a_wrong_key_not_an_empty_database() {
    let dir = tempfile::tempdir().unwrap();
    let db = db_path(&dir);
    let store = Store::open(&db).unwrap();
    fill_every_sealed_column(&store, &unique_secret());
    drop(store);
    std::fs::remove_file(key_file_path(&db)).unwrap();
    let err = Store::open(&db).unwrap_err();
    assert!(matches!(&err, StoreError::WrongKey { label } if label == "local"), "{err:?}");
}

#[test]
fn an_upgrade_from_a_clear_database_seals_with_the_configured_primary_key() {
    let dir = database_at_version(2);
    let clear = unique_secret();
    tamper(
        &dir,
        &format!(
            "INSERT INTO secrets (deployment, name, value) VALUES ('d', '/odb/svc/d/k', '{clear}');
             INSERT INTO sim_deployments (name, manifest) VALUES ('d', 'pw: {clear}');"
        ),
    );
    assert_copy(&db_path(&dir), &clear);
    let store = open_with(&dir, &key_set(&[("k1", "one")], "k1")).unwrap();
    assert_no_copy(&db_path(&dir), &clear);
    assert_eq!(store.secrets("d").unwrap()["/odb/svc/d/k"], clear);
    assert_eq!(store.sim_manifest("d").unwrap().unwrap(), format!("pw: {clear}"));
    assert!(sealed_values(&dir).iter().all(|v| v.starts_with("odb-sealed:1:k1:")));
    assert_eq!(labels_known(&dir), ["k1"]);
}

#[test]
fn a_key_file_readable_by_others_is_set_to_0600_with_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    let db = db_path(&dir);
    Store::open(&db).unwrap();
    let key_file = key_file_path(&db);
    set_mode(&key_file, 0o644);
    let (_store, logs) = capture_logs(|| Store::open(&db).unwrap());
    assert_eq!(mode(&key_file), 0o600);
    assert!(warns_about(&logs, &key_file.display().to_string(), "0644", "0600"), "{logs}");
}

// ----- leases -----

const LEASE: Duration = Duration::from_secs(30);

/// `replica` asks for the lease of operation o1.
fn ask_o1(store: &Store, replica: &str, length: Duration) -> LeaseOutcome {
    store.take_lease(&parsed::<OperationId>("o1"), replica, length).unwrap()
}

/// `replica` takes the lease of operation o1, and the replica it was taken from; the test
/// fails when it cannot.
fn take_o1(store: &Store, replica: &str, length: Duration) -> (Lease, Option<String>) {
    match ask_o1(store, replica, length) {
        LeaseOutcome::Taken { lease, from } => (lease, from),
        other => panic!("lease not taken: {other:?}"),
    }
}

/// Operation o1 as stored now.
fn o1(store: &Store) -> OperationRecord {
    store.operation(&parsed::<OperationId>("o1")).unwrap().unwrap()
}

#[test]
fn a_lease_is_held_by_one_replica_and_renewing_it_keeps_its_epoch() {
    let (_dir, store) = provisioned();
    let (a, from) = take_o1(&store, "replica-a", LEASE);
    assert_eq!((a.epoch, from), (1, None));
    assert_eq!(ask_o1(&store, "replica-b", LEASE), LeaseOutcome::HeldBy("replica-a".into()));
    let (again, _) = take_o1(&store, "replica-a", LEASE);
    assert_eq!(again.epoch, 1, "renewing one's own live lease is no take-over");
    assert!(store.renew_lease(&a, LEASE).unwrap());
    assert_eq!(
        store.take_lease(&parsed::<OperationId>("nope"), "replica-a", LEASE).unwrap(),
        LeaseOutcome::NotInFlight
    );
}

#[test]
fn an_expired_lease_is_taken_over_and_the_old_holder_can_write_nothing() {
    let (_dir, store) = provisioned();
    let (a, _) = take_o1(&store, "replica-a", Duration::ZERO);
    let read_by_a = o1(&store);
    assert_eq!(read_by_a.lease_epoch, a.epoch);
    let (b, from) = take_o1(&store, "replica-b", LEASE);
    assert_eq!(from.as_deref(), Some("replica-a"));
    assert_eq!(b.epoch, a.epoch + 1);
    // The paused replica comes back: its renewals and writes are refused.
    assert!(!store.renew_lease(&a, LEASE).unwrap());
    let mut stale = read_by_a.clone();
    stale.stage = Stage::Deploying;
    stale.task_id = Some(99);
    let err = store.save_operation(&stale).unwrap_err();
    assert!(matches!(err, StoreError::LeaseLost { epoch, .. } if epoch == a.epoch), "{err}");
    let mut instance = store.instance(&parsed::<InstanceId>("i1")).unwrap().unwrap();
    instance.state = InstanceState::Failed;
    assert!(matches!(
        store.save_operation_and_instance(&stale, &instance),
        Err(StoreError::LeaseLost { .. })
    ));
    assert_eq!(state_of_i1(&store), InstanceState::Provisioning, "rolled back");
    let now = o1(&store);
    assert_eq!((now.stage, now.task_id), (Stage::Pending, None));
    // The new holder writes.
    let mut fresh = now.clone();
    fresh.stage = Stage::Deploying;
    store.save_operation(&fresh).unwrap();
    assert_eq!(o1(&store).stage, Stage::Deploying);
}

#[test]
fn a_released_lease_can_be_taken_at_once_and_a_finished_operation_has_none() {
    let (_dir, store) = provisioned();
    let (a, _) = take_o1(&store, "replica-a", LEASE);
    store.release_lease(&a).unwrap();
    let (b, from) = take_o1(&store, "replica-b", LEASE);
    assert_eq!((b.epoch, from.as_deref()), (2, Some("replica-a")));
    let mut op = o1(&store);
    op.state = OperationState::Succeeded;
    store.save_operation(&op).unwrap();
    assert_eq!(ask_o1(&store, "replica-a", LEASE), LeaseOutcome::NotInFlight);
}

#[test]
fn replicas_opening_a_new_postgres_database_together_migrate_it_once() {
    let Some(cluster) = broker_tests::postgres::shared() else {
        return;
    };
    let url = cluster.database();
    let stores: Vec<Store> = (0..4)
        .map(|_| {
            let url = url.clone();
            std::thread::spawn(move || Store::open_postgres(&url, &postgres_keys()))
        })
        .collect::<Vec<_>>()
        .into_iter()
        .map(|t| t.join().unwrap().unwrap())
        .collect();
    provision(&stores[0], "i1", "o1");
    assert_eq!(stores[3].instance(&parsed("i1")).unwrap().unwrap().id.as_str(), "i1");
    let name = url.rsplit('/').next().unwrap().split('?').next().unwrap();
    assert_eq!(cluster.psql(name, "SELECT count(*) FROM schema_version").unwrap().trim(), "1");
    assert_eq!(
        cluster.psql(name, "SELECT count(*) FROM sealing_keys").unwrap().trim(),
        "1",
        "one salt for the label, not one per replica"
    );
}

/// The tests above that say nothing about files, run again on PostgreSQL.
mod postgres_tests {
    macro_rules! on_postgres {
        ($($test:ident),+ $(,)?) => {$(
            #[test]
            fn $test() {
                let Some(cluster) = broker_tests::postgres::shared() else { return };
                super::POSTGRES_URL.with(|u| *u.borrow_mut() = Some(cluster.database()));
                super::$test();
            }
        )+};
    }

    on_postgres!(
        provision_round_trips_and_survives_reopen,
        second_provision_of_the_same_id_is_refused,
        one_in_flight_operation_per_instance,
        deleted_instances_leave_a_tombstone_that_a_new_provision_replaces,
        bindings_are_unique_per_instance,
        forget_instance_removes_every_trace,
        timestamps_are_rfc3339,
        a_binding_is_refused_while_its_instance_is_being_deleted,
        a_binding_is_refused_on_a_deprovisioning_deleted_or_unknown_instance,
        a_delete_is_refused_while_a_binding_is_being_created,
        a_stale_pending_binding_does_not_block_a_delete,
        retrying_a_leftover_pending_binding_takes_its_record_over,
        storing_the_answer_of_a_binding_whose_record_is_gone_reports_it,
        a_context_nested_64_deep_round_trips_through_an_operation_request,
        json_at_the_depth_limit_round_trips_and_deeper_json_is_refused_when_written,
        simulated_deployments_and_tasks_round_trip,
        every_record_type_round_trips_field_for_field,
        a_lease_is_held_by_one_replica_and_renewing_it_keeps_its_epoch,
        an_expired_lease_is_taken_over_and_the_old_holder_can_write_nothing,
        a_released_lease_can_be_taken_at_once_and_a_finished_operation_has_none,
    );
}

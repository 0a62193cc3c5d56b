//! The broker's state: instances, operations and bindings, and the simulated director's
//! deployments and tasks (see `simulated`), in SQLite (one file, one broker) or PostgreSQL
//! (one database that several replicas share, with operation leases, see `leases`). The
//! SQL is written once for both (see `db`); nothing above this module knows which runs.
//!
//! Every state change is one transaction, written before the side effect it describes.
//! The store enforces at most one in-flight operation per instance with a unique partial
//! index, so no broker-wide lock is needed; in the same way it keeps binds and deprovisions
//! of one instance apart (see [`Store::insert_binding`] and
//! [`Store::begin_operation_with_grace`]). Calls are blocking: run them off the async
//! executor (see [`Store::run`]).
//!
//! Every secret the store keeps is sealed (AES-256-GCM, see `sealing`): binding requests
//! and credentials, ODB-managed secret values, instance parameters and operation requests
//! (which hold the platform's parameters), and the simulated director's manifests. The
//! sealed columns and their read and write functions are listed in `sealed`; the keys, their
//! canaries and rotation are in `keys`. Its files are still readable by the broker's user
//! only (see `files`), and deleted rows do not linger on disk:
//! every connection runs with `secure_delete`, which zeroes deleted content in the main file,
//! and a deletion of credentials is followed by a checkpoint that empties the write-ahead log
//! holding the old pages (see `Store::scrub`).

mod columns;
mod config_values;
pub(crate) mod db;
mod files;
mod journal;
mod json;
mod keys;
mod leases;
mod migrations;
pub mod pg_url;
mod records;
mod request;
pub(crate) mod sealed;
pub(crate) mod sealing;
mod simulated;
mod timestamp;

pub use columns::ColumnError;
pub use config_values::ConfigValueRecord;
pub use journal::{JournalRecord, MAX_STEPS_PER_INSTANCE};
pub use json::MAX_DEPTH as MAX_JSON_DEPTH;
pub use keys::{key_file_path, KEY_FILE_NAME, LOCAL_LABEL};
pub use leases::{Lease, LeaseOutcome};
pub use records::*;
pub use request::OperationRequest;
pub use sealing::{
    check_label as check_key_label, KeySecret, KeySet, KeySetError, OpenError, RootKey,
    MIN_SECRET_BYTES,
};
pub use simulated::{NewSimTask, SimTaskFilter, SimTaskOutcome, SimTaskRecord};
pub use timestamp::Timestamp;

use crate::ids::{BindingId, InstanceId, OperationId};
use db::{Durability, Row, Sql, SqlExt as _};
use rusqlite::params;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// The default for [`Store::begin_operation_with_grace`]: the adapter's default timeout
/// (120 s) and 30 s for the broker to stop the adapter and remove the binding's record. A
/// broker configured with a longer adapter timeout should pass its own.
pub const DEFAULT_PENDING_BINDING_GRACE: Duration = Duration::from_secs(150);

/// A rule checked inside the write transaction that records an operation, against the live
/// instances and the in-flight operations as they are at that moment. Writes of every
/// replica are serialised, so a rule such as a quota holds across replicas: two provisions
/// cannot both take the last place. The error is the reason, for [`StoreError::Refused`].
pub type Admission =
    Arc<dyn Fn(&[InstanceRecord], &[OperationRecord]) -> Result<(), String> + Send + Sync>;

/// Why the store refuses to record a binding on an instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BindRefusal {
    /// A delete operation is in flight on the instance.
    DeleteInFlight {
        /// The delete operation.
        operation: OperationId,
    },
    /// The instance is being deleted.
    Deprovisioning,
    /// The instance is deleted, or not recorded at all.
    Deleted,
}

impl std::fmt::Display for BindRefusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::DeleteInFlight { operation } => {
                write!(f, "its delete operation {operation} is in progress")
            }
            Self::Deprovisioning => f.write_str("it is being deleted"),
            Self::Deleted => f.write_str("it is deleted"),
        }
    }
}

/// Errors from the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// SQLite failed.
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// PostgreSQL failed, or cannot be reached.
    #[error("PostgreSQL database {database}: {message}")]
    Postgres {
        /// The database, as its URL without the password.
        database: String,
        /// What went wrong.
        message: String,
        /// The SQLSTATE code, when the server answered with one.
        code: Option<String>,
    },
    /// The database directory could not be created.
    #[error("cannot create database directory {path}: {source}")]
    CreateDir {
        /// The directory.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The database file could not be created with its mode (0600).
    #[error("cannot create database file {path}: {source}")]
    CreateFile {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A value to store is nested deeper than the store can read back.
    #[error(
        "JSON for column {column} is nested {depth} levels deep; at most {limit} can be stored"
    )]
    TooDeep {
        /// The column.
        column: &'static str,
        /// How deep the value nests.
        depth: usize,
        /// The deepest nesting the store writes ([`MAX_JSON_DEPTH`]).
        limit: usize,
    },
    /// A binding cannot be recorded: the instance is being or has been deleted. Nothing was
    /// written, so the adapter must not be asked to create the binding.
    #[error("service instance {instance} cannot be bound: {reason}")]
    InstanceBusy {
        /// The instance.
        instance: InstanceId,
        /// Why.
        reason: BindRefusal,
    },
    /// A delete cannot start: a binding of the instance is being created (its create-binding
    /// has not answered yet). Deleting now would drop credentials the service still holds.
    #[error("binding {binding} of service instance {instance} is being created: delete the instance when the bind has finished")]
    BindingInProgress {
        /// The instance.
        instance: InstanceId,
        /// The binding being created.
        binding: BindingId,
    },
    /// A stored value could not be read: the row is damaged (or written by something other
    /// than this broker). Nothing is assumed in its place.
    #[error("cannot read column {column}: {source}")]
    Column {
        /// The column, as `table.column`.
        column: &'static str,
        /// What is wrong with the value.
        source: ColumnError,
    },
    /// A value could not be written as JSON (a map whose keys are not strings).
    #[error("cannot write column {column} as JSON: {source}")]
    Unencodable {
        /// The column, as `table.column`.
        column: &'static str,
        /// The encoding error.
        source: serde_json::Error,
    },
    /// The database was written by a newer broker.
    #[error("database schema version {found} is newer than this broker supports ({supported}): upgrade the broker")]
    TooNew {
        /// Version in the file.
        found: i64,
        /// Highest version this build knows.
        supported: i64,
    },
    /// The operation was taken over by another replica after this one's lease expired
    /// (paused, partitioned or too slow to renew): this replica writes nothing more for it.
    #[error("operation {operation} is driven by another replica now: this replica lost its lease (epoch {epoch})")]
    LeaseLost {
        /// The operation.
        operation: OperationId,
        /// The epoch this replica held.
        epoch: i64,
    },
    /// Another operation is in flight on the instance.
    #[error("operation {0} is in progress for this instance")]
    InFlight(OperationId),
    /// The record already exists.
    #[error("already exists")]
    AlreadyExists,
    /// An [`Admission`] rule refused the operation; nothing was written.
    #[error("{0}")]
    Refused(String),
    /// A blocking task panicked or was cancelled.
    #[error("database task failed: {0}")]
    Task(String),
    /// A sealed value does not open: it was changed, copied from another row, or sealed with
    /// another secret. Nothing is assumed in its place.
    #[error("cannot open the sealed value in column {column}: {source}")]
    Sealed {
        /// The column, as `table.column`.
        column: &'static str,
        /// Why it does not open.
        source: OpenError,
    },
    /// A configured key's secret is not the one the database was sealed with.
    #[error("encryption key '{label}' does not open the database: its secret is not the one the database was sealed with. \
             Restore the key's original secret (or, for a generated key, the original encryption.key file beside the database)")]
    WrongKey {
        /// The key's label.
        label: String,
    },
    /// Stored values are sealed with a key that is no longer configured.
    #[error("column {column} holds values sealed with encryption key '{label}', which is not configured: \
             add the key back to database.encryption.keys with its secret and primary: false; the broker re-encrypts \
             those values with the primary key at start-up, and the key can be removed after that")]
    KeyMissing {
        /// The key's label.
        label: String,
        /// The column, as `table.column`.
        column: &'static str,
    },
    /// The generated key file beside the database cannot be used.
    #[error("encryption key file {path}: {message}")]
    KeyFile {
        /// The file.
        path: PathBuf,
        /// What is wrong, and what to do.
        message: String,
    },
}

/// Result alias for store calls.
pub type StoreResult<T> = Result<T, StoreError>;

/// A handle to the broker's database. Cheap to clone.
#[derive(Clone)]
pub struct Store {
    backend: Arc<Backend>,
    /// The derived sealing keys (see `sealing`).
    keyring: Arc<sealing::Keyring>,
    /// How many values were re-encrypted with the primary key when the store opened.
    resealed: usize,
}

/// The database under the store.
enum Backend {
    /// A SQLite file (one broker).
    Sqlite(db::sqlite::SqliteDb),
    /// A PostgreSQL server (one broker or several replicas).
    Postgres(db::postgres::PgDb),
}

/// Where the broker keeps its state (`database.path` or `database.url`). Its `Debug` never
/// shows a password.
#[derive(Clone, PartialEq, Eq)]
pub enum Location {
    /// A SQLite database file.
    Sqlite(PathBuf),
    /// A PostgreSQL database, by its connection URL (which may hold a password).
    Postgres(String),
}

impl std::fmt::Debug for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Location({self})")
    }
}

impl std::fmt::Display for Location {
    /// The file, or the URL without its password.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Sqlite(path) => write!(f, "{}", path.display()),
            Self::Postgres(url) => match pg_url::PgSettings::parse(url) {
                Ok(settings) => f.write_str(&settings.shown),
                Err(_) => f.write_str("database.url"),
            },
        }
    }
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("database", &self.describe()).finish()
    }
}

impl StoreError {
    /// The store's error for a PostgreSQL failure on `database` (shown without password).
    pub(crate) fn from_postgres(database: &str, e: tokio_postgres::Error) -> Self {
        let code = e.code().map(|c| c.code().to_string());
        let message = match e.as_db_error() {
            Some(db) => format!("{}: {}", db.severity(), db.message()),
            None => {
                let mut text = e.to_string();
                let mut source = std::error::Error::source(&e);
                while let Some(s) = source {
                    text.push_str(&format!(": {s}"));
                    source = s.source();
                }
                text
            }
        };
        Self::Postgres { database: database.to_string(), message, code }
    }

    /// True when a unique constraint refused the write (a duplicate key).
    pub(crate) fn is_unique_violation(&self) -> bool {
        match self {
            Self::Sqlite(e) => db::sqlite::is_constraint(e),
            Self::Postgres { code, .. } => code.as_deref() == Some("23505"),
            _ => false,
        }
    }
}

/// Formats Unix milliseconds as `YYYY-MM-DDTHH:MM:SS.mmmZ`, the text [`Timestamp`] stores,
/// for any millisecond count (also outside the years a [`Timestamp`] can hold).
pub fn format_rfc3339(millis: i64) -> String {
    let secs = millis.div_euclid(1000);
    let ms = millis.rem_euclid(1000);
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    // Civil-from-days (proleptic Gregorian).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{ms:03}Z",
        sod / 3600,
        (sod % 3600) / 60,
        sod % 60
    )
}

impl Store {
    /// [`Store::open_with_keys`] without configured keys: the secrets are sealed with the
    /// key in [`KEY_FILE_NAME`] beside the database, generated the first time.
    pub fn open(path: &Path) -> StoreResult<Self> {
        Self::open_with_keys(path, None)
    }

    /// Opens the database at `location`: [`Store::open_with_keys`] for a file,
    /// [`Store::open_postgres`] for a server (which needs `keys`: there is no file beside a
    /// server to keep a generated key in).
    pub fn open_location(location: &Location, keys: Option<&KeySet>) -> StoreResult<Self> {
        match location {
            Location::Sqlite(path) => Self::open_with_keys(path, keys),
            Location::Postgres(url) => match keys {
                Some(keys) => Self::open_postgres(url, keys),
                None => Err(StoreError::KeyFile {
                    path: PathBuf::from("database.encryption.keys"),
                    message: "a PostgreSQL database needs configured encryption keys".into(),
                }),
            },
        }
    }

    /// Opens (creating if needed) the database at `path`, applies pending migrations, and
    /// unlocks the sealed values with `keys` (see `keys::unlock`: canaries checked, values
    /// under an older key re-encrypted with the primary one). Without `keys`, the key file
    /// beside the database is used, and generated (0600, with a warning) if missing.
    ///
    /// A directory created here is 0700, and the database file and its `-wal`, `-shm` and
    /// `-journal` are 0600 whatever the umask. Existing files that group or others can read
    /// are set to 0600 with a warning; an existing directory that they can enter is only
    /// warned about (see `files::prepare_dir` for why).
    pub fn open_with_keys(path: &Path, keys: Option<&KeySet>) -> StoreResult<Self> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            files::prepare_dir(dir)?;
        }
        files::prepare_files(path)?;
        let local;
        let keys = match keys {
            Some(keys) => keys,
            None => {
                local = keys::local_key_set(path)?;
                &local
            }
        };
        let sqlite = db::sqlite::SqliteDb::open(path)?;
        let store = Self::unlocked(Backend::Sqlite(sqlite), keys)?;
        // SQLite has now created the -wal and -shm files: check their mode.
        files::tighten_companions(path);
        if let Backend::Sqlite(db) = &*store.backend {
            // A broker that stopped abruptly leaves its log behind, deleted rows and all;
            // and re-encrypted values leave their older form in it.
            db.scrub_now();
        }
        Ok(store)
    }

    /// Connects to the PostgreSQL database at `url` (`postgres://…`, see `pg_url`),
    /// applies pending migrations and unlocks the sealed values with `keys`. Replicas that
    /// start together migrate one after the other (the write lock, see `db::postgres`).
    pub fn open_postgres(url: &str, keys: &KeySet) -> StoreResult<Self> {
        let pg = db::postgres::PgDb::open(url)?;
        Self::unlocked(Backend::Postgres(pg), keys)
    }

    /// Migrates the database and unlocks its sealed values.
    fn unlocked(backend: Backend, keys: &KeySet) -> StoreResult<Self> {
        let (keyring, resealed) = backend.write(Durability::Full, |tx| {
            migrate(tx, keys)?;
            let (ring, resealed) = keys::unlock(tx, keys)?;
            Ok(((ring, resealed), resealed > 0))
        })?;
        Ok(Self { backend: Arc::new(backend), keyring: Arc::new(keyring), resealed })
    }

    /// The database file, for a SQLite store.
    pub fn path(&self) -> Option<&Path> {
        match &*self.backend {
            Backend::Sqlite(db) => Some(db.path()),
            Backend::Postgres(_) => None,
        }
    }

    /// The database, for messages: the file, or the URL without its password.
    pub fn describe(&self) -> String {
        match &*self.backend {
            Backend::Sqlite(db) => db.path().display().to_string(),
            Backend::Postgres(db) => db.shown().to_string(),
        }
    }

    /// Whether the store is a PostgreSQL database (which several replicas may share).
    pub fn is_shared(&self) -> bool {
        matches!(&*self.backend, Backend::Postgres(_))
    }

    /// How many stored values were re-encrypted with the primary key when the store opened
    /// (after the primary key changed).
    pub fn resealed_at_open(&self) -> usize {
        self.resealed
    }

    /// The label of the key new values are sealed with.
    pub fn primary_key_label(&self) -> &str {
        self.keyring.primary()
    }

    /// The keyring, for code in the store that seals or opens a value (see `sealed`).
    pub(crate) fn keyring(&self) -> &sealing::Keyring {
        &self.keyring
    }
}

impl Backend {
    fn conn<T>(&self, f: impl FnOnce(&dyn Sql) -> StoreResult<T>) -> StoreResult<T> {
        match self {
            Self::Sqlite(db) => db.read(f),
            Self::Postgres(db) => db.read(f),
        }
    }

    fn write<T>(
        &self, durability: Durability, f: impl FnOnce(&dyn Sql) -> StoreResult<(T, bool)>,
    ) -> StoreResult<T> {
        match self {
            Self::Sqlite(db) => db.write(durability, f),
            Self::Postgres(db) => db.write(durability, f),
        }
    }
}

impl Store {
    /// Whether the database takes a write transaction now (for readiness checks).
    pub fn check_writable(&self) -> StoreResult<()> {
        match &*self.backend {
            Backend::Sqlite(db) => db.check_writable(),
            Backend::Postgres(db) => db.check_writable(),
        }
    }

    /// Runs `f` on a pooled connection outside any transaction: reads, and writes of one
    /// statement. Private: the store is the only module that writes SQL, so nothing above
    /// it depends on the database.
    fn conn<T>(&self, f: impl FnOnce(&dyn Sql) -> StoreResult<T>) -> StoreResult<T> {
        self.backend.conn(f)
    }

    /// Runs `f` in one write transaction and commits it. `f` answers whether it deleted or
    /// replaced something that must not survive in older pages; the files are then
    /// scrubbed (SQLite). An error rolls the transaction back.
    fn write(&self, f: impl FnOnce(&dyn Sql) -> StoreResult<bool>) -> StoreResult<()> {
        self.backend.write(Durability::Full, |tx| Ok(((), f(tx)?)))
    }

    /// [`Store::write`] with a result of `f` and the durability it needs.
    fn write_returning<T>(
        &self, durability: Durability, f: impl FnOnce(&dyn Sql) -> StoreResult<(T, bool)>,
    ) -> StoreResult<T> {
        self.backend.write(durability, f)
    }

    /// Runs `f` on the blocking thread pool, so the async executor never waits on the
    /// database.
    pub async fn run<T, F>(&self, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Store) -> StoreResult<T> + Send + 'static,
    {
        let store = self.clone();
        tokio::task::spawn_blocking(move || f(&store))
            .await
            .map_err(|e| StoreError::Task(e.to_string()))?
    }

    // ----- instances -----

    /// The instance with this id, including deleted tombstones.
    pub fn instance(&self, id: &InstanceId) -> StoreResult<Option<InstanceRecord>> {
        self.query_one(
            &format!("SELECT {INSTANCE_COLUMNS} FROM instances WHERE id = ?1"),
            params![id],
            InstanceRecord::from_row,
        )
    }

    /// All instances that are not deleted, oldest first.
    pub fn live_instances(&self) -> StoreResult<Vec<InstanceRecord>> {
        self.conn(|c| live_instances_in(c, &self.keyring))
    }

    /// Every live instance with its newest operation (`None` when it has none).
    pub fn live_instances_with_latest_operation(
        &self,
    ) -> StoreResult<Vec<(InstanceRecord, Option<OperationRecord>)>> {
        self.live_instances()?
            .into_iter()
            .map(|instance| {
                let op = self.latest_operation(&instance.id)?;
                Ok((instance, op))
            })
            .collect()
    }

    /// Records a new instance and its create operation in one transaction. A tombstone of a
    /// deleted instance with the same id is replaced.
    pub fn begin_provision(
        &self, instance: &InstanceRecord, op: &OperationRecord,
    ) -> StoreResult<()> {
        self.begin_provision_admitted(instance, op, None)
    }

    /// [`Store::begin_provision`], once `admit` (if given) accepts it in the same
    /// transaction ([`StoreError::Refused`] otherwise).
    pub fn begin_provision_admitted(
        &self, instance: &InstanceRecord, op: &OperationRecord, admit: Option<&Admission>,
    ) -> StoreResult<()> {
        self.write(|tx| {
            admit_in(tx, &self.keyring, admit)?;
            let existing: Option<InstanceState> = optional_value(
                tx,
                "instances.state",
                "SELECT state FROM instances WHERE id = ?1",
                params![instance.id],
            )?;
            let replaced = match existing {
                Some(InstanceState::Deleted) => {
                    tx.execute("DELETE FROM instances WHERE id = ?1", params![instance.id])?;
                    tx.execute(
                        "DELETE FROM bindings WHERE instance_id = ?1",
                        params![instance.id],
                    )?;
                    true
                }
                Some(_) => return Err(StoreError::AlreadyExists),
                None => false,
            };
            insert_instance(tx, &self.keyring, instance)?;
            insert_operation(tx, &self.keyring, op)?;
            Ok(replaced)
        })
    }

    /// [`Store::begin_operation_with_grace`] with [`DEFAULT_PENDING_BINDING_GRACE`]: starts a
    /// new operation on an existing instance, setting the instance's state in the same
    /// transaction.
    pub fn begin_operation(
        &self, op: &OperationRecord, instance_state: InstanceState,
    ) -> StoreResult<()> {
        self.begin_operation_with_grace(op, instance_state, DEFAULT_PENDING_BINDING_GRACE)
    }

    /// Starts a new operation on an existing instance, setting the instance's state in the
    /// same transaction. Fails with [`StoreError::InFlight`] if one is already running.
    ///
    /// A delete also fails, with [`StoreError::BindingInProgress`], while a binding of the
    /// instance is being created: its record is pending (create-binding has not answered)
    /// and was written less than `pending_binding_grace` ago. Pass the adapter's timeout
    /// plus a margin: a bind cannot run longer than that, so an older pending record is a
    /// leftover of a broker that stopped mid-bind, not a bind in progress, and must not block
    /// a deprovision forever. (Retrying such a bind takes the record over and renews its
    /// time; see [`Store::insert_binding`].) `Duration::ZERO` disables the check.
    ///
    /// Together with the check in [`Store::insert_binding`], and because both run in one
    /// `BEGIN IMMEDIATE` transaction, a bind and a deprovision of the same instance cannot
    /// both go ahead: whichever is recorded first makes the other fail.
    pub fn begin_operation_with_grace(
        &self, op: &OperationRecord, instance_state: InstanceState, pending_binding_grace: Duration,
    ) -> StoreResult<()> {
        self.begin_operation_admitted(op, instance_state, pending_binding_grace, None)
    }

    /// [`Store::begin_operation_with_grace`], once `admit` (if given) accepts it in the same
    /// transaction ([`StoreError::Refused`] otherwise).
    pub fn begin_operation_admitted(
        &self, op: &OperationRecord, instance_state: InstanceState,
        pending_binding_grace: Duration, admit: Option<&Admission>,
    ) -> StoreResult<()> {
        self.write(|tx| {
            admit_in(tx, &self.keyring, admit)?;
            if op.kind == OperationKind::Delete {
                if let Some(binding) =
                    recent_pending_binding(tx, &op.instance_id, pending_binding_grace)?
                {
                    return Err(StoreError::BindingInProgress {
                        instance: op.instance_id.clone(),
                        binding,
                    });
                }
            }
            insert_operation(tx, &self.keyring, op)?;
            tx.execute(
                "UPDATE instances SET state = ?2, updated_at = ?3 WHERE id = ?1",
                params![op.instance_id, instance_state, Timestamp::now()],
            )?;
            Ok(false)
        })
    }

    /// Removes an instance and its operations entirely: used when a provision fails before
    /// anything was deployed, so the platform's request leaves no state behind.
    pub fn forget_instance(&self, id: &InstanceId) -> StoreResult<()> {
        self.write(|tx| forget_instance_in(tx, id))
    }

    /// [`Store::forget_instance`] after its create operation `op` failed on replica `owner`;
    /// [`StoreError::LeaseLost`], removing nothing, when another replica has taken the
    /// operation over meanwhile.
    pub fn forget_failed_provision(
        &self, id: &InstanceId, op: &OperationId, owner: &str,
    ) -> StoreResult<()> {
        self.write(|tx| {
            leases::ensure_not_taken_over(tx, op, owner)?;
            forget_instance_in(tx, id)
        })
    }

    /// Removes one operation (one that failed before any side effect) and restores the
    /// instance's state; [`StoreError::LeaseLost`], changing nothing, when a replica other
    /// than `owner` has taken the operation over. Its request may hold secrets among its
    /// parameters, so the removal is scrubbed from the files like a deleted binding.
    pub fn abandon_operation(
        &self, op_id: &OperationId, instance_id: &InstanceId, restore: InstanceState, owner: &str,
    ) -> StoreResult<()> {
        self.write(|tx| {
            leases::ensure_not_taken_over(tx, op_id, owner)?;
            tx.execute("DELETE FROM operations WHERE id = ?1", params![op_id])?;
            tx.execute(
                "UPDATE instances SET state = ?2, updated_at = ?3 WHERE id = ?1",
                params![instance_id, restore, Timestamp::now()],
            )?;
            Ok(true)
        })
    }
}

/// Removes every record of instance `id`, in the caller's transaction.
fn forget_instance_in(tx: &dyn Sql, id: &InstanceId) -> StoreResult<bool> {
    tx.execute("DELETE FROM operations WHERE instance_id = ?1", params![id])?;
    tx.execute("DELETE FROM bindings WHERE instance_id = ?1", params![id])?;
    tx.execute(
        "DELETE FROM secrets WHERE deployment IN (SELECT deployment_name FROM instances WHERE id = ?1)",
        params![id],
    )?;
    tx.execute("DELETE FROM instances WHERE id = ?1", params![id])?;
    Ok(true)
}

impl Store {
    // ----- operations -----

    /// The operation with this id.
    pub fn operation(&self, id: &OperationId) -> StoreResult<Option<OperationRecord>> {
        self.query_one(
            &format!("SELECT {OPERATION_COLUMNS} FROM operations WHERE id = ?1"),
            params![id],
            OperationRecord::from_row,
        )
    }

    /// The newest operation of an instance.
    pub fn latest_operation(
        &self, instance_id: &InstanceId,
    ) -> StoreResult<Option<OperationRecord>> {
        self.query_one(
            &format!(
                "SELECT {OPERATION_COLUMNS} FROM operations WHERE instance_id = ?1 ORDER BY created_at DESC, rowid DESC LIMIT 1"
            ),
            params![instance_id],
            OperationRecord::from_row,
        )
    }

    /// Every operation still in progress, oldest first.
    pub fn in_flight_operations(&self) -> StoreResult<Vec<OperationRecord>> {
        self.conn(|c| in_flight_operations_in(c, &self.keyring))
    }

    /// Saves an operation's progress (stage, task, errand index, state, texts).
    pub fn save_operation(&self, op: &OperationRecord) -> StoreResult<()> {
        self.conn(|c| {
            update_operation(c, &self.keyring, op)?;
            Ok(())
        })
    }

    /// Saves an operation and its instance together, in one transaction. A deleted instance's
    /// bindings and secrets are removed with it.
    pub fn save_operation_and_instance(
        &self, op: &OperationRecord, instance: &InstanceRecord,
    ) -> StoreResult<()> {
        self.write(|tx| {
            update_operation(tx, &self.keyring, op)?;
            update_instance(tx, &self.keyring, instance)?;
            let deleted = instance.state == InstanceState::Deleted;
            if deleted {
                tx.execute("DELETE FROM bindings WHERE instance_id = ?1", params![instance.id])?;
                tx.execute(
                    "DELETE FROM secrets WHERE deployment = ?1",
                    params![instance.deployment_name],
                )?;
            }
            Ok(deleted)
        })
    }

    // ----- bindings -----

    /// The binding with this id on this instance.
    pub fn binding(
        &self, instance_id: &InstanceId, binding_id: &BindingId,
    ) -> StoreResult<Option<BindingRecord>> {
        self.query_one(
            &format!("SELECT {BINDING_COLUMNS} FROM bindings WHERE instance_id = ?1 AND id = ?2"),
            params![instance_id, binding_id],
            BindingRecord::from_row,
        )
    }

    /// The bindings of an instance.
    pub fn bindings_of(&self, instance_id: &InstanceId) -> StoreResult<Vec<BindingRecord>> {
        self.query_all(
            &format!("SELECT {BINDING_COLUMNS} FROM bindings WHERE instance_id = ?1 ORDER BY created_at, id"),
            params![instance_id],
            BindingRecord::from_row,
        )
    }

    /// Stores a new binding; [`StoreError::AlreadyExists`] if the id is taken. This is how a
    /// bind records its intent (a pending record: `response` is `None`, stored as `null`)
    /// before the adapter runs.
    ///
    /// Fails with [`StoreError::InstanceBusy`], writing nothing, when the instance is being
    /// deleted (state `deprovisioning`, or a delete operation in flight), is deleted, or is not
    /// recorded: the adapter must not create credentials that the delete would drop untracked.
    ///
    /// A pending record with the same id and the same request (left by a broker that stopped
    /// while create-binding ran) is taken over: it gets this record's `created_at`, so a
    /// deprovision sees the retried bind as in progress again. A pending record with another
    /// request, or a finished binding, is [`StoreError::AlreadyExists`].
    pub fn insert_binding(&self, b: &BindingRecord) -> StoreResult<()> {
        let ring = &*self.keyring;
        let request = sealed::seal_binding_request(ring, &b.instance_id, &b.id, &b.request)?;
        let response =
            sealed::seal_binding_response(ring, &b.instance_id, &b.id, b.response.as_ref())?;
        self.write(|tx| {
            if let Some(reason) = bind_refusal(tx, &b.instance_id)? {
                return Err(StoreError::InstanceBusy {
                    instance: b.instance_id.clone(),
                    reason,
                });
            }
            let existing = tx.query_opt(
                &format!("SELECT {BINDING_COLUMNS} FROM bindings WHERE instance_id = ?1 AND id = ?2"),
                params![b.instance_id, b.id],
                |r| BindingRecord::from_row(r, ring),
            )?;
            match existing {
                None => {
                    tx.execute(
                        "INSERT INTO bindings (instance_id, id, service_id, plan_id, request, response, created_at)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                        params![
                            b.instance_id,
                            b.id,
                            b.service_id,
                            b.plan_id,
                            request,
                            response,
                            b.created_at,
                        ],
                    )?;
                }
                // The same request left pending by a broker that stopped: taken over.
                Some(old)
                    if old.is_pending()
                        && old.request == b.request
                        && old.service_id == b.service_id
                        && old.plan_id == b.plan_id =>
                {
                    tx.execute(
                        "UPDATE bindings SET response = ?3, created_at = ?4
                         WHERE instance_id = ?1 AND id = ?2",
                        params![b.instance_id, b.id, response, b.created_at],
                    )?;
                }
                Some(_) => return Err(StoreError::AlreadyExists),
            }
            Ok(false)
        })
    }

    /// Stores the adapter's answer for a recorded binding. Returns false when the record is
    /// gone (its instance was deleted meanwhile): the credentials the adapter created are
    /// then tracked nowhere, and the caller should ask the adapter to delete them.
    pub fn set_binding_response(
        &self, instance_id: &InstanceId, binding_id: &BindingId, response: &serde_json::Value,
    ) -> StoreResult<bool> {
        let response =
            sealed::seal_binding_response(&self.keyring, instance_id, binding_id, Some(response))?;
        self.conn(|c| {
            let n = c.execute(
                "UPDATE bindings SET response = ?3 WHERE instance_id = ?1 AND id = ?2",
                params![instance_id, binding_id, response],
            )?;
            Ok(n > 0)
        })
    }

    /// Deletes a binding, and scrubs its credentials from the files. Returns false when it
    /// did not exist.
    pub fn delete_binding(
        &self, instance_id: &InstanceId, binding_id: &BindingId,
    ) -> StoreResult<bool> {
        self.write_returning(Durability::Full, |tx| {
            let n = tx.execute(
                "DELETE FROM bindings WHERE instance_id = ?1 AND id = ?2",
                params![instance_id, binding_id],
            )?;
            Ok((n > 0, n > 0))
        })
    }
}

impl Store {
    /// Stores ODB-managed secrets of a deployment (name → value), replacing older values;
    /// replaced values are scrubbed from the files.
    pub fn put_secrets(
        &self, deployment: &str, secrets: &std::collections::BTreeMap<String, String>,
    ) -> StoreResult<()> {
        let ring = &*self.keyring;
        self.write(|tx| {
            let mut replaced = false;
            for (name, value) in secrets {
                let old = tx.query_opt(
                    "SELECT deployment, name, value FROM secrets WHERE deployment = ?1 AND name = ?2",
                    params![deployment, name],
                    |r| sealed::open_secret_value(r, ring),
                )?;
                replaced |= old.is_some_and(|old| old != *value);
                tx.execute(
                    "INSERT INTO secrets (deployment, name, value) VALUES (?1, ?2, ?3)
                     ON CONFLICT(deployment, name) DO UPDATE SET value = excluded.value",
                    params![deployment, name, sealed::seal_secret_value(ring, deployment, name, value)],
                )?;
            }
            Ok(replaced)
        })
    }

    /// Names of stored secrets (of any deployment) that contain `part`, case-insensitively.
    pub fn secret_names_like(&self, part: &str) -> StoreResult<Vec<String>> {
        self.query_all(
            "SELECT DISTINCT name FROM secrets WHERE instr(lower(name), lower(?1)) > 0 ORDER BY name",
            params![part],
            |r, _| columns::get(r, "secrets.name"),
        )
    }

    /// Deletes the secret `name` of every deployment; its value is scrubbed from the files.
    pub fn delete_secret(&self, name: &str) -> StoreResult<bool> {
        self.write_returning(Durability::Full, |tx| {
            let n = tx.execute("DELETE FROM secrets WHERE name = ?1", params![name])?;
            Ok((n > 0, n > 0))
        })
    }

    /// The ODB-managed secrets of a deployment (name → value).
    pub fn secrets(
        &self, deployment: &str,
    ) -> StoreResult<std::collections::BTreeMap<String, String>> {
        self.query_all(
            "SELECT deployment, name, value FROM secrets WHERE deployment = ?1",
            params![deployment],
            |r, ring| {
                let name = columns::get(r, "secrets.name")?;
                Ok((name, sealed::open_secret_value(r, ring)?))
            },
        )
        .map(|pairs| pairs.into_iter().collect())
    }
}

/// Decodes a row into a record; sealed columns are opened with the keyring.
type FromRow<T> = fn(&Row<'_>, &sealing::Keyring) -> StoreResult<T>;

impl Store {
    /// Runs a query expected to return at most one row.
    fn query_one<T>(
        &self, sql: &str, params: &[&dyn rusqlite::ToSql], from_row: FromRow<T>,
    ) -> StoreResult<Option<T>> {
        self.conn(|c| c.query_opt(sql, params, |r| from_row(r, &self.keyring)))
    }

    /// Runs a query returning any number of rows.
    fn query_all<T>(
        &self, sql: &str, params: &[&dyn rusqlite::ToSql], from_row: FromRow<T>,
    ) -> StoreResult<Vec<T>> {
        self.conn(|c| c.query_vec(sql, params, |r| from_row(r, &self.keyring)))
    }
}

/// Applies the pending migrations, in the caller's write transaction; the one that
/// introduces sealing also seals the clear values an older broker wrote (SQLite only: no
/// broker wrote PostgreSQL before sealing).
fn migrate(tx: &dyn Sql, keys: &KeySet) -> StoreResult<()> {
    let dialect = tx.dialect();
    let current = match dialect {
        db::Dialect::Sqlite => db::sqlite::schema_version(tx)?,
        db::Dialect::Postgres => db::postgres::schema_version(tx)?,
    };
    let supported = migrations::MIGRATIONS.len() as i64;
    if current > supported {
        return Err(StoreError::TooNew { found: current, supported });
    }
    for (i, migration) in migrations::MIGRATIONS.iter().enumerate().skip(current as usize) {
        let version = (i + 1) as i64;
        tx.execute_batch(&migration.sql(dialect))?;
        if version == migrations::SEALING_VERSION && dialect == db::Dialect::Sqlite {
            let ring = keys::load(tx, keys)?;
            keys::seal_clear_rows(tx, &ring)?;
        }
    }
    if current < supported {
        match dialect {
            db::Dialect::Sqlite => db::sqlite::set_schema_version(tx, supported)?,
            db::Dialect::Postgres => db::postgres::set_schema_version(tx, supported)?,
        }
    }
    Ok(())
}

/// Runs `admit` against the live instances and in-flight operations as `tx` sees them.
fn admit_in(tx: &dyn Sql, ring: &sealing::Keyring, admit: Option<&Admission>) -> StoreResult<()> {
    let Some(admit) = admit else { return Ok(()) };
    let instances = live_instances_in(tx, ring)?;
    let in_flight = in_flight_operations_in(tx, ring)?;
    admit(&instances, &in_flight).map_err(StoreError::Refused)
}

/// The instances that are not deleted, oldest first, as `c` sees them.
fn live_instances_in(c: &dyn Sql, ring: &sealing::Keyring) -> StoreResult<Vec<InstanceRecord>> {
    c.query_vec(
        &format!("SELECT {INSTANCE_COLUMNS} FROM instances WHERE state != 'deleted' ORDER BY created_at, id"),
        params![],
        |r| InstanceRecord::from_row(r, ring),
    )
}

/// The operations in progress, oldest first, as `c` sees them.
fn in_flight_operations_in(
    c: &dyn Sql, ring: &sealing::Keyring,
) -> StoreResult<Vec<OperationRecord>> {
    c.query_vec(
        &format!("SELECT {OPERATION_COLUMNS} FROM operations WHERE state = 'in progress' ORDER BY created_at, rowid"),
        params![],
        |r| OperationRecord::from_row(r, ring),
    )
}

/// Why a binding may not be recorded on `instance_id` now, if it may not.
fn bind_refusal(c: &dyn Sql, instance_id: &InstanceId) -> StoreResult<Option<BindRefusal>> {
    let delete: Option<OperationId> = optional_value(
        c,
        "operations.id",
        "SELECT id FROM operations WHERE instance_id = ?1 AND state = 'in progress' AND kind = ?2",
        params![instance_id, OperationKind::Delete],
    )?;
    if let Some(operation) = delete {
        return Ok(Some(BindRefusal::DeleteInFlight { operation }));
    }
    let state: Option<InstanceState> = optional_value(
        c,
        "instances.state",
        "SELECT state FROM instances WHERE id = ?1",
        params![instance_id],
    )?;
    Ok(match state {
        None | Some(InstanceState::Deleted) => Some(BindRefusal::Deleted),
        Some(InstanceState::Deprovisioning) => Some(BindRefusal::Deprovisioning),
        _ => None,
    })
}

/// A pending binding of `instance_id` (create-binding has not answered) recorded within the
/// last `grace`, oldest first. Timestamps are stored as fixed-width UTC text, which sorts as
/// time does, so they are compared as text (see [`Timestamp`]).
fn recent_pending_binding(
    c: &dyn Sql, instance_id: &InstanceId, grace: Duration,
) -> StoreResult<Option<BindingId>> {
    if grace.is_zero() {
        return Ok(None);
    }
    let cutoff = Timestamp::now().saturating_sub(grace);
    optional_value(
        c,
        "bindings.id",
        "SELECT id FROM bindings WHERE instance_id = ?1 AND response = 'null' AND created_at >= ?2
         ORDER BY created_at, id LIMIT 1",
        params![instance_id, cutoff],
    )
}

/// The one value `sql` selects, or `None` when it selects no row; a value that does not
/// decode is an error naming its `column`.
fn optional_value<T: rusqlite::types::FromSql>(
    c: &dyn Sql, column: &'static str, sql: &str, params: &[&dyn rusqlite::ToSql],
) -> StoreResult<Option<T>> {
    c.query_opt(sql, params, |r| r.get_at(0).map_err(|e| columns::column_error(column, e)))
}

/// Runs an INSERT of one row; a row with its key exists already: [`StoreError::AlreadyExists`].
fn insert_row(c: &dyn Sql, sql: &str, values: &[&dyn rusqlite::ToSql]) -> StoreResult<()> {
    match c.execute(sql, values) {
        Err(e) if e.is_unique_violation() => Err(StoreError::AlreadyExists),
        other => other.map(drop),
    }
}

fn insert_instance(c: &dyn Sql, ring: &sealing::Keyring, i: &InstanceRecord) -> StoreResult<()> {
    let json = InstanceJson::of(ring, i)?;
    let mut values = json.with_columns(i, &i.created_at).to_vec();
    values.push(&i.deployment_name);
    insert_row(
        c,
        "INSERT INTO instances (id, service_id, plan_id, organization_guid, space_guid, context,
         parameters, maintenance_info, dashboard_url, labels, state, created_at, configs,
         deployment_name, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?12)",
        &values,
    )
}

fn insert_operation(c: &dyn Sql, ring: &sealing::Keyring, op: &OperationRecord) -> StoreResult<()> {
    // Checked first, in the caller's write transaction: PostgreSQL ends a transaction at
    // its first error, so the unique index below is the guard, not the way to find out.
    let running: Option<OperationId> = optional_value(
        c,
        "operations.id",
        "SELECT id FROM operations WHERE instance_id = ?1 AND state = 'in progress'",
        params![op.instance_id],
    )?;
    if let Some(id) = running {
        return Err(StoreError::InFlight(id));
    }
    let request = sealed::seal_operation_request(ring, &op.id, &op.request)?;
    let mut values = progress_values(op, &request, &op.created_at).to_vec();
    values.extend([&op.instance_id as &dyn rusqlite::ToSql, &op.kind]);
    insert_row(
        c,
        "INSERT INTO operations (id, state, stage, task_id, errand_index, request, description,
         error, created_at, instance_id, kind, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?9)",
        &values,
    )
}

/// The values an insert and a save of an operation both write, numbered `?1` to `?9` in
/// their statements: the id, then its progress (`request` sealed; `at` the time of the write).
fn progress_values<'a>(
    op: &'a OperationRecord, request: &'a dyn rusqlite::ToSql, at: &'a Timestamp,
) -> [&'a dyn rusqlite::ToSql; 9] {
    [
        &op.id,
        &op.state,
        &op.stage,
        &op.task_id,
        &op.errand_index,
        request,
        &op.description,
        &op.error,
        at,
    ]
}

/// The JSON columns of an instance, encoded (and checked for depth) once; the parameters
/// sealed.
struct InstanceJson {
    context: String,
    parameters: String,
    maintenance_info: String,
    labels: String,
    configs: String,
}

impl InstanceJson {
    /// The values an insert and an update of the instance both write, numbered `?1` to `?13`
    /// in their statements: the id, then every column an update may change (`at` is the
    /// time of the write).
    fn with_columns<'a>(
        &'a self, i: &'a InstanceRecord, at: &'a Timestamp,
    ) -> [&'a dyn rusqlite::ToSql; 13] {
        [
            &i.id,
            &i.service_id,
            &i.plan_id,
            &i.organization_guid,
            &i.space_guid,
            &self.context,
            &self.parameters,
            &self.maintenance_info,
            &i.dashboard_url,
            &self.labels,
            &i.state,
            at,
            &self.configs,
        ]
    }

    fn of(ring: &sealing::Keyring, i: &InstanceRecord) -> StoreResult<Self> {
        Ok(Self {
            context: json::encode("instances.context", &i.context)?,
            parameters: sealed::seal_instance_parameters(ring, &i.id, &i.parameters)?,
            maintenance_info: json::encode("instances.maintenance_info", &i.maintenance_info)?,
            labels: json::encode("instances.labels", &i.labels)?,
            configs: json::encode("instances.configs", &i.configs)?,
        })
    }
}

fn update_instance(c: &dyn Sql, ring: &sealing::Keyring, i: &InstanceRecord) -> StoreResult<()> {
    let json = InstanceJson::of(ring, i)?;
    c.execute(
        "UPDATE instances SET service_id=?2, plan_id=?3, organization_guid=?4, space_guid=?5,
         context=?6, parameters=?7, maintenance_info=?8, dashboard_url=?9, labels=?10,
         state=?11, updated_at=?12, configs=?13 WHERE id=?1",
        &json.with_columns(i, &Timestamp::now()),
    )?;
    Ok(())
}

/// Saves an operation's progress, only while its lease epoch is still the record's (see
/// [`OperationRecord::lease_epoch`]): [`StoreError::LeaseLost`] otherwise.
fn update_operation(c: &dyn Sql, ring: &sealing::Keyring, op: &OperationRecord) -> StoreResult<()> {
    let request = sealed::seal_operation_request(ring, &op.id, &op.request)?;
    let now = Timestamp::now();
    let mut values = progress_values(op, &request, &now).to_vec();
    values.push(&op.lease_epoch);
    let n = c.execute(
        "UPDATE operations SET state=?2, stage=?3, task_id=?4, errand_index=?5, request=?6,
         description=?7, error=?8, updated_at=?9 WHERE id=?1 AND lease_epoch=?10",
        &values,
    )?;
    if n == 0 {
        let epoch: Option<i64> = optional_value(
            c,
            "operations.lease_epoch",
            "SELECT lease_epoch FROM operations WHERE id = ?1",
            params![op.id],
        )?;
        if epoch.is_some_and(|e| e != op.lease_epoch) {
            return Err(StoreError::LeaseLost { operation: op.id.clone(), epoch: op.lease_epoch });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;

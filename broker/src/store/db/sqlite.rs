//! The SQLite back end: one database file in WAL mode, a small pool of connections, write
//! transactions that take the write lock up front, and the scrubbing of deleted content
//! from the files (see [`SqliteDb::scrub`]).

use super::{Dialect, Durability, Row, Sql};
use crate::store::{StoreError, StoreResult};
use rusqlite::types::ToSql;
use rusqlite::Connection;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::Duration;

/// How long a connection waits for another writer before SQLite answers "database is locked".
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// How long the checkpoint right after a deletion waits for readers to finish before it gives
/// up and leaves the work to the next database call. Reads here are single short queries.
pub(crate) const CHECKPOINT_WAIT: Duration = Duration::from_millis(200);

/// How many idle connections the pool keeps.
const POOL_SIZE: usize = 8;

/// A SQLite database file and its pooled connections.
pub(crate) struct SqliteDb {
    path: PathBuf,
    pool: Mutex<Vec<Connection>>,
    /// Set when a checkpoint after a deletion could not finish, so the next call retries it.
    needs_checkpoint: AtomicBool,
}

impl SqliteDb {
    /// Opens the database file at `path` (creating it) with the store's settings.
    pub(crate) fn open(path: &Path) -> StoreResult<Self> {
        let conn = connect(path)?;
        Ok(Self {
            path: path.to_path_buf(),
            pool: Mutex::new(vec![conn]),
            needs_checkpoint: AtomicBool::new(false),
        })
    }

    /// The database file.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `f` with a pooled connection, outside any transaction.
    pub(crate) fn read<T>(&self, f: impl FnOnce(&dyn Sql) -> StoreResult<T>) -> StoreResult<T> {
        self.with_conn(|c| f(c))
    }

    /// Runs `f` in one write transaction and commits it. `f` also answers whether it deleted
    /// or replaced something that must not survive in older pages; the files are then
    /// scrubbed. An error rolls the transaction back.
    pub(crate) fn write<T>(
        &self, durability: Durability, f: impl FnOnce(&dyn Sql) -> StoreResult<(T, bool)>,
    ) -> StoreResult<T> {
        self.with_conn(|c| {
            let relaxed = durability == Durability::Relaxed;
            if relaxed {
                // Committed without an fsync of their own (`synchronous=NORMAL` in WAL
                // mode): the next FULL commit syncs the log with them in it.
                c.pragma_update(None, "synchronous", "NORMAL")?;
            }
            let result = (|| -> StoreResult<(T, bool)> {
                let tx = write_transaction(c)?;
                let (out, scrub) = f(&*tx)?;
                tx.commit()?;
                Ok((out, scrub))
            })();
            if relaxed {
                c.pragma_update(None, "synchronous", "FULL")?;
            }
            let (out, scrub) = result?;
            if scrub {
                self.scrub(c, CHECKPOINT_WAIT);
            }
            Ok(out)
        })
    }

    /// Whether the database takes a write transaction now: begins an immediate transaction
    /// and rolls it back.
    pub(crate) fn check_writable(&self) -> StoreResult<()> {
        self.with_conn(|c| {
            c.execute_batch("BEGIN IMMEDIATE; ROLLBACK;")?;
            Ok(())
        })
    }

    /// Scrubs the files now (after opening: a broker that stopped abruptly leaves its log
    /// behind, deleted rows and all).
    pub(crate) fn scrub_now(&self) {
        self.with_conn(|c| {
            self.scrub(c, CHECKPOINT_WAIT);
            Ok(())
        })
        .ok();
    }

    fn with_conn<T>(&self, f: impl FnOnce(&mut Connection) -> StoreResult<T>) -> StoreResult<T> {
        let pooled = self.pool.lock().expect("pool lock").pop();
        let mut conn = match pooled {
            Some(c) => c,
            None => connect(&self.path)?,
        };
        let result = f(&mut conn);
        if self.needs_checkpoint.load(Ordering::SeqCst) {
            // A checkpoint after a deletion was busy: try again, without waiting this time.
            self.scrub(&conn, Duration::ZERO);
        }
        let mut pool = self.pool.lock().expect("pool lock");
        if pool.len() < POOL_SIZE {
            pool.push(conn);
        }
        result
    }

    /// Moves every committed page from the write-ahead log into the database file and
    /// empties the log (`wal_checkpoint(TRUNCATE)`), so content deleted with `secure_delete`
    /// no longer survives in older copies of its pages in the `-wal` file. Run after each
    /// deletion of credentials or secrets, on a connection outside any transaction.
    ///
    /// Readers still using the log keep a checkpoint from finishing; it then waits at most
    /// `wait` and gives up without an error: the deletion itself is committed, and the next
    /// database call tries again (a busy checkpoint never fails the caller).
    fn scrub(&self, conn: &Connection, wait: Duration) {
        // Cleared before trying, so a deletion committed meanwhile is never left unscrubbed.
        self.needs_checkpoint.store(false, Ordering::SeqCst);
        match checkpoint(conn, wait) {
            Ok(true) => {}
            Ok(false) => {
                self.needs_checkpoint.store(true, Ordering::SeqCst);
                tracing::debug!(
                    "WAL checkpoint busy (readers active); retrying with the next database call"
                );
            }
            Err(e) => {
                self.needs_checkpoint.store(true, Ordering::SeqCst);
                tracing::debug!(error = %e, "WAL checkpoint failed; retrying with the next database call");
            }
        }
    }
}

impl Sql for Connection {
    fn dialect(&self) -> Dialect {
        Dialect::Sqlite
    }

    fn execute(&self, sql: &str, params: &[&dyn ToSql]) -> StoreResult<usize> {
        Ok(self.prepare(sql)?.execute(params)?)
    }

    fn execute_batch(&self, sql: &str) -> StoreResult<()> {
        Ok(Connection::execute_batch(self, sql)?)
    }

    fn query_each(
        &self, sql: &str, params: &[&dyn ToSql], each: &mut dyn FnMut(&Row<'_>) -> StoreResult<()>,
    ) -> StoreResult<()> {
        let mut stmt = self.prepare(sql)?;
        let mut rows = stmt.query(params)?;
        while let Some(row) = rows.next()? {
            each(&Row::sqlite(row))?;
        }
        Ok(())
    }
}

/// Opens a connection to the database at `path` with the store's settings.
fn connect(path: &Path) -> StoreResult<Connection> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    // Deleted rows are overwritten with zeros, not just marked free: a removed binding's
    // credentials must not stay readable in the file.
    conn.pragma_update(None, "secure_delete", "ON")?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    // FULL: a committed state change survives an OS crash or power loss, not just a
    // process crash; the broker writes little, so the extra fsync costs nothing noticeable.
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    // A page cache of 256 KiB per connection (SQLite's default is 2 MiB): the broker's
    // working set is small, and a bigger cache only grows the process under load.
    conn.pragma_update(None, "cache_size", -256)?;
    Ok(conn)
}

/// Starts a write transaction that takes SQLite's write lock at once (`BEGIN IMMEDIATE`).
/// A deferred transaction that reads first and writes later cannot wait for another writer:
/// SQLite answers "database is locked" at once. Taking the lock up front lets the busy
/// timeout do its job.
fn write_transaction(c: &mut Connection) -> rusqlite::Result<rusqlite::Transaction<'_>> {
    c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
}

/// True when `e` is a violated constraint (a duplicate key).
pub(crate) fn is_constraint(e: &rusqlite::Error) -> bool {
    matches!(e, rusqlite::Error::SqliteFailure(f, _) if f.code == rusqlite::ErrorCode::ConstraintViolation)
}

fn is_busy(e: &rusqlite::Error) -> bool {
    matches!(e, rusqlite::Error::SqliteFailure(f, _)
        if matches!(f.code, rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked))
}

/// Runs `wal_checkpoint(TRUNCATE)`, waiting at most `wait` for readers and writers. True when
/// it finished (the log is empty), false when it was busy.
fn checkpoint(conn: &Connection, wait: Duration) -> rusqlite::Result<bool> {
    conn.busy_timeout(wait)?;
    // The first column is 1 when readers or a writer kept the checkpoint from finishing.
    let result = conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| r.get::<_, i64>(0));
    conn.busy_timeout(BUSY_TIMEOUT)?;
    match result {
        Ok(busy) => Ok(busy == 0),
        Err(e) if is_busy(&e) => Ok(false),
        Err(e) => Err(e),
    }
}

/// The schema version kept in `PRAGMA user_version`.
pub(crate) fn schema_version(c: &dyn Sql) -> StoreResult<i64> {
    super::SqlExt::query_opt(c, "PRAGMA user_version", &[], |r| {
        r.get_at(0).map_err(StoreError::from)
    })
    .map(|v| v.unwrap_or(0))
}

/// Records the schema version in `PRAGMA user_version`.
pub(crate) fn set_schema_version(c: &dyn Sql, version: i64) -> StoreResult<()> {
    // A pragma takes no parameters; the version is a number the broker chose.
    c.execute_batch(&format!("PRAGMA user_version = {version}"))
}

//! The PostgreSQL back end: tokio-postgres connections in a deadpool pool, driven by a
//! small runtime of their own, so that the store keeps its synchronous API (each call runs
//! on a blocking thread, see `Store::run`) whichever back end is configured.
//!
//! Write transactions are serialised across every replica with one transaction-scoped
//! advisory lock ([`WRITE_LOCK`]): each sees every write committed before it, as SQLite's
//! single writer does, so the checks the store makes before it writes (one operation in
//! flight, no bind during a delete, quotas) hold across replicas as they hold in one
//! process. The broker writes little, so one lock costs nothing measurable.

use super::{Dialect, Durability, Row, Sql, ValueRow};
use crate::store::{StoreError, StoreResult};
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use rusqlite::types::{ToSql as SqliteToSql, ToSqlOutput, Value};
use std::sync::Arc;
use std::time::Duration;
use tokio_postgres::types::{IsNull, ToSql, Type};

/// The key of the advisory lock every write transaction takes.
pub(crate) const WRITE_LOCK: i64 = 0x000D_B005_70E5;

/// How many connections one broker keeps open at most.
const POOL_SIZE: usize = 16;

/// How long a call waits for a connection (the database down, or every connection busy)
/// before it fails.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// A PostgreSQL database and the pool of connections to it.
pub(crate) struct PgDb {
    pool: Pool,
    runtime: DriverRuntime,
    /// The URL without its password, for messages.
    shown: String,
}

/// The runtime that drives the connections; shut down without waiting when the store goes
/// (also from inside an async context, where dropping a runtime would panic).
struct DriverRuntime(Option<tokio::runtime::Runtime>);

impl DriverRuntime {
    fn handle(&self) -> &tokio::runtime::Handle {
        self.0.as_ref().expect("driver runtime").handle()
    }
}

impl Drop for DriverRuntime {
    fn drop(&mut self) {
        if let Some(rt) = self.0.take() {
            rt.shutdown_background();
        }
    }
}

impl PgDb {
    /// Connects to the database at `url` (`postgres://…`), checking that it answers.
    pub(crate) fn open(url: &str) -> StoreResult<Self> {
        let settings = super::super::pg_url::PgSettings::parse(url)?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("postgres-driver")
            .enable_all()
            .build()
            .map_err(|e| StoreError::Postgres {
                database: settings.shown.clone(),
                message: format!("cannot start the driver runtime: {e}"),
                code: None,
            })?;
        let manager = Manager::from_config(
            settings.config.clone(),
            settings.tls.clone(),
            ManagerConfig { recycling_method: RecyclingMethod::Fast },
        );
        let pool = Pool::builder(manager)
            .max_size(POOL_SIZE)
            .runtime(deadpool_postgres::Runtime::Tokio1)
            .wait_timeout(Some(CONNECT_TIMEOUT))
            .create_timeout(Some(CONNECT_TIMEOUT))
            .recycle_timeout(Some(CONNECT_TIMEOUT))
            .build()
            .map_err(|e| StoreError::Postgres {
                database: settings.shown.clone(),
                message: e.to_string(),
                code: None,
            })?;
        let db = Self { pool, runtime: DriverRuntime(Some(runtime)), shown: settings.shown };
        db.read(|c| c.execute_batch("SELECT 1"))?;
        Ok(db)
    }

    /// The database URL without its password.
    pub(crate) fn shown(&self) -> &str {
        &self.shown
    }

    fn client(&self) -> StoreResult<deadpool_postgres::Object> {
        self.runtime.handle().block_on(self.pool.get()).map_err(|e| StoreError::Postgres {
            database: self.shown.clone(),
            message: format!("no connection: {e}"),
            code: None,
        })
    }

    /// Runs `f` on a pooled connection, outside any transaction.
    pub(crate) fn read<T>(&self, f: impl FnOnce(&dyn Sql) -> StoreResult<T>) -> StoreResult<T> {
        let client = self.client()?;
        f(&PgConn { client: &client, db: self })
    }

    /// Runs `f` in one write transaction holding [`WRITE_LOCK`], and commits it. An error
    /// rolls it back. (The scrub flag of `f` means nothing here: PostgreSQL keeps no
    /// write-ahead log the broker could empty, and every secret it holds is sealed.)
    pub(crate) fn write<T>(
        &self, durability: Durability, f: impl FnOnce(&dyn Sql) -> StoreResult<(T, bool)>,
    ) -> StoreResult<T> {
        let client = self.client()?;
        let conn = PgConn { client: &client, db: self };
        conn.execute_batch("BEGIN")?;
        let result = (|| {
            conn.execute("SELECT pg_advisory_xact_lock(?1)", &[&WRITE_LOCK])?;
            if durability == Durability::Relaxed {
                // The journal's lines: the next state change's commit makes them durable.
                conn.execute_batch("SET LOCAL synchronous_commit TO OFF")?;
            }
            let (out, _) = f(&conn)?;
            conn.execute_batch("COMMIT")?;
            Ok(out)
        })();
        if result.is_err() && conn.execute_batch("ROLLBACK").is_err() {
            // A connection whose transaction state is unknown is not given back.
            drop(deadpool_postgres::Object::take(client));
        }
        result
    }

    /// Whether the database takes a write now: a transaction that asks for a transaction
    /// id (refused by a read-only server), rolled back.
    pub(crate) fn check_writable(&self) -> StoreResult<()> {
        self.read(|c| {
            c.execute_batch("BEGIN; SELECT txid_current(); ROLLBACK")?;
            Ok(())
        })
    }

    fn block_on<F: std::future::Future>(&self, fut: F) -> F::Output {
        self.runtime.handle().block_on(fut)
    }

    fn error(&self, e: tokio_postgres::Error) -> StoreError {
        StoreError::from_postgres(&self.shown, e)
    }
}

/// A pooled connection, or its open transaction.
struct PgConn<'a> {
    client: &'a deadpool_postgres::Client,
    db: &'a PgDb,
}

impl PgConn<'_> {
    /// The statement for `sql` (translated to `$N` placeholders), prepared once per
    /// connection.
    fn statement(&self, sql: &str) -> StoreResult<tokio_postgres::Statement> {
        self.wait(self.client.prepare_cached(&placeholders(sql)))
    }
}

impl PgConn<'_> {
    /// Waits for a call on the connection.
    fn wait<T>(
        &self, call: impl std::future::Future<Output = Result<T, tokio_postgres::Error>>,
    ) -> StoreResult<T> {
        self.db.block_on(call).map_err(|e| self.db.error(e))
    }
}

/// `values` as the parameter list tokio-postgres takes.
fn refs(values: &[Param]) -> Vec<&(dyn ToSql + Sync)> {
    values.iter().map(|v| v as &(dyn ToSql + Sync)).collect()
}

impl Sql for PgConn<'_> {
    fn dialect(&self) -> Dialect {
        Dialect::Postgres
    }

    fn execute(&self, sql: &str, params: &[&dyn SqliteToSql]) -> StoreResult<usize> {
        let stmt = self.statement(sql)?;
        let values = params_of(params)?;
        let n = self.wait(self.client.execute(&stmt, &refs(&values)))?;
        Ok(n as usize)
    }

    fn execute_batch(&self, sql: &str) -> StoreResult<()> {
        self.wait(self.client.batch_execute(sql))
    }

    fn query_each(
        &self, sql: &str, params: &[&dyn SqliteToSql],
        each: &mut dyn FnMut(&Row<'_>) -> StoreResult<()>,
    ) -> StoreResult<()> {
        let stmt = self.statement(sql)?;
        let values = params_of(params)?;
        let rows = self.wait(self.client.query(&stmt, &refs(&values)))?;
        let names: Arc<[String]> = stmt.columns().iter().map(|c| c.name().to_string()).collect();
        for row in &rows {
            let values = (0..row.len())
                .map(|i| cell(row, i).map_err(|e| self.db.error(e)))
                .collect::<StoreResult<Vec<_>>>()?;
            each(&Row::values(&ValueRow::new(names.clone(), values)))?;
        }
        Ok(())
    }
}

/// The store's `?N` placeholders as PostgreSQL's `$N`; text inside quotes is left alone.
pub(crate) fn placeholders(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut quoted = false;
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                quoted = !quoted;
                out.push(c);
            }
            '?' if !quoted && chars.peek().is_some_and(|n| n.is_ascii_digit()) => out.push('$'),
            _ => out.push(c),
        }
    }
    out
}

/// A parameter, converted from rusqlite's value model.
#[derive(Debug)]
struct Param(Value);

fn params_of(params: &[&dyn SqliteToSql]) -> StoreResult<Vec<Param>> {
    params
        .iter()
        .map(|p| {
            Ok(Param(match p.to_sql()? {
                ToSqlOutput::Borrowed(v) => v.into(),
                ToSqlOutput::Owned(v) => v,
                _ => return Err(StoreError::Sqlite(rusqlite::Error::InvalidQuery)),
            }))
        })
        .collect()
}

type BoxError = Box<dyn std::error::Error + Sync + Send>;

impl ToSql for Param {
    fn to_sql(&self, ty: &Type, out: &mut bytes::BytesMut) -> Result<IsNull, BoxError> {
        match &self.0 {
            Value::Null => Ok(IsNull::Yes),
            Value::Integer(n) => match *ty {
                Type::INT8 => ToSql::to_sql(&n, ty, out),
                Type::INT4 => ToSql::to_sql(&i32::try_from(*n)?, ty, out),
                Type::INT2 => ToSql::to_sql(&i16::try_from(*n)?, ty, out),
                Type::BOOL => ToSql::to_sql(&(*n != 0), ty, out),
                Type::TEXT | Type::VARCHAR => ToSql::to_sql(&n.to_string(), ty, out),
                _ => Err(format!("an integer parameter cannot be sent as {ty}").into()),
            },
            Value::Real(x) => match *ty {
                Type::FLOAT8 => ToSql::to_sql(&x, ty, out),
                Type::FLOAT4 => ToSql::to_sql(&(*x as f32), ty, out),
                _ => Err(format!("a real parameter cannot be sent as {ty}").into()),
            },
            Value::Text(s) => match *ty {
                Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME | Type::UNKNOWN => {
                    ToSql::to_sql(&s.as_str(), ty, out)
                }
                _ => Err(format!("a text parameter cannot be sent as {ty}").into()),
            },
            Value::Blob(b) => match *ty {
                Type::BYTEA => ToSql::to_sql(&b.as_slice(), ty, out),
                _ => Err(format!("a blob parameter cannot be sent as {ty}").into()),
            },
        }
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    tokio_postgres::types::to_sql_checked!();
}

/// Cell `i` of `row` in rusqlite's value model.
fn cell(row: &tokio_postgres::Row, i: usize) -> Result<Value, tokio_postgres::Error> {
    let ty = row.columns()[i].type_().clone();
    Ok(match ty {
        Type::INT8 => row.try_get::<_, Option<i64>>(i)?.map_or(Value::Null, Value::Integer),
        Type::INT4 => {
            row.try_get::<_, Option<i32>>(i)?.map_or(Value::Null, |n| Value::Integer(n.into()))
        }
        Type::INT2 => {
            row.try_get::<_, Option<i16>>(i)?.map_or(Value::Null, |n| Value::Integer(n.into()))
        }
        Type::BOOL => {
            row.try_get::<_, Option<bool>>(i)?.map_or(Value::Null, |b| Value::Integer(b.into()))
        }
        Type::FLOAT8 => row.try_get::<_, Option<f64>>(i)?.map_or(Value::Null, Value::Real),
        Type::BYTEA => row.try_get::<_, Option<Vec<u8>>>(i)?.map_or(Value::Null, Value::Blob),
        // Text, and anything else PostgreSQL can hand over as text (a function's result
        // of an unusual type is read as its text form by `try_get` failing loudly).
        _ => row.try_get::<_, Option<String>>(i)?.map_or(Value::Null, Value::Text),
    })
}

/// The schema version, from the `schema_version` table (created when missing).
pub(crate) fn schema_version(c: &dyn Sql) -> StoreResult<i64> {
    c.execute_batch("CREATE TABLE IF NOT EXISTS schema_version (version BIGINT NOT NULL)")?;
    let found =
        super::SqlExt::query_opt(c, "SELECT max(version) AS v FROM schema_version", &[], |r| {
            r.get::<Option<i64>>("v").map_err(StoreError::from)
        })?;
    Ok(found.flatten().unwrap_or(0))
}

/// Records the schema version.
pub(crate) fn set_schema_version(c: &dyn Sql, version: i64) -> StoreResult<()> {
    c.execute("DELETE FROM schema_version", &[])?;
    c.execute("INSERT INTO schema_version (version) VALUES (?1)", &[&version])?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_become_dollar_numbers_outside_quotes() {
        assert_eq!(
            placeholders("SELECT a FROM t WHERE x = ?1 AND y = '?2' AND z = ?12"),
            "SELECT a FROM t WHERE x = $1 AND y = '?2' AND z = $12"
        );
        assert_eq!(placeholders("a ? b"), "a ? b");
    }
}

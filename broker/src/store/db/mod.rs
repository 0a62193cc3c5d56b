//! The seam between the store and its two back ends: SQLite (one file, the default) and
//! PostgreSQL (a server that several broker replicas share).
//!
//! The store's SQL is written once, for both: `?N` placeholders (PostgreSQL gets them as
//! `$N`, see `postgres::placeholders`), `ON CONFLICT … DO UPDATE` upserts, `RETURNING`,
//! and only functions both servers have (the PostgreSQL schema adds `instr`). What differs is
//! behind [`Sql`]: how a statement runs, how a write transaction takes the database's write
//! lock, and how durable a commit is.
//!
//! Values cross the seam in rusqlite's value model (`ToSql`, `FromSql`, `ValueRef`): the
//! column codecs of `super::columns` (ids, enums, timestamps, JSON, sealed values) are written
//! once against it, and the PostgreSQL connection converts its parameters and cells to and
//! from it. So a record is decoded by the same code whichever database it comes from.

pub(crate) mod postgres;
pub(crate) mod sqlite;

use super::StoreResult;
use rusqlite::types::{FromSql, FromSqlError, ToSql, Value, ValueRef};
use std::sync::Arc;

/// Which SQL dialect a connection speaks, for the few statements that differ (schema
/// versions, migrations).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dialect {
    /// SQLite.
    Sqlite,
    /// PostgreSQL.
    Postgres,
}

/// A connection, or an open transaction, the store's SQL runs on.
pub(crate) trait Sql {
    /// The dialect it speaks.
    fn dialect(&self) -> Dialect;
    /// Runs one statement; returns how many rows it changed.
    fn execute(&self, sql: &str, params: &[&dyn ToSql]) -> StoreResult<usize>;
    /// Runs several statements without parameters (a migration).
    fn execute_batch(&self, sql: &str) -> StoreResult<()>;
    /// Runs a query and hands each row to `each`, in order.
    fn query_each(
        &self, sql: &str, params: &[&dyn ToSql], each: &mut dyn FnMut(&Row<'_>) -> StoreResult<()>,
    ) -> StoreResult<()>;
}

/// The typed conveniences over [`Sql`].
pub(crate) trait SqlExt: Sql {
    /// The first row of a query, decoded by `f`; `None` when it selects no row.
    fn query_opt<T>(
        &self, sql: &str, params: &[&dyn ToSql], f: impl FnOnce(&Row<'_>) -> StoreResult<T>,
    ) -> StoreResult<Option<T>> {
        let mut f = Some(f);
        let mut out = None;
        self.query_each(sql, params, &mut |row| {
            if let Some(f) = f.take() {
                out = Some(f(row)?);
            }
            Ok(())
        })?;
        Ok(out)
    }

    /// Every row of a query, decoded by `f`.
    fn query_vec<T>(
        &self, sql: &str, params: &[&dyn ToSql], mut f: impl FnMut(&Row<'_>) -> StoreResult<T>,
    ) -> StoreResult<Vec<T>> {
        let mut out = Vec::new();
        self.query_each(sql, params, &mut |row| {
            out.push(f(row)?);
            Ok(())
        })?;
        Ok(out)
    }
}

impl<S: Sql + ?Sized> SqlExt for S {}

/// One row of a result, from either back end.
pub(crate) struct Row<'a>(RowInner<'a>);

enum RowInner<'a> {
    Sqlite(&'a rusqlite::Row<'a>),
    Values(&'a ValueRow),
}

/// A row already converted to rusqlite values (how PostgreSQL rows are read).
pub(crate) struct ValueRow {
    names: Arc<[String]>,
    values: Vec<Value>,
}

impl ValueRow {
    /// A row of `values`, named by `names` (one per value).
    pub(crate) fn new(names: Arc<[String]>, values: Vec<Value>) -> Self {
        debug_assert_eq!(names.len(), values.len());
        Self { names, values }
    }
}

impl<'a> Row<'a> {
    pub(crate) fn sqlite(row: &'a rusqlite::Row<'a>) -> Self {
        Self(RowInner::Sqlite(row))
    }

    pub(crate) fn values(row: &'a ValueRow) -> Self {
        Self(RowInner::Values(row))
    }

    /// The column named `name`, decoded as a `T`; the errors are rusqlite's for both back
    /// ends, so `super::columns::column_error` names the column in the same way.
    pub(crate) fn get<T: FromSql>(&self, name: &str) -> rusqlite::Result<T> {
        match &self.0 {
            RowInner::Sqlite(row) => row.get(name),
            RowInner::Values(row) => {
                let index = row
                    .names
                    .iter()
                    .position(|n| n == name)
                    .ok_or_else(|| rusqlite::Error::InvalidColumnName(name.to_string()))?;
                decode(row, index)
            }
        }
    }

    /// The column at `index` (from 0), decoded as a `T`.
    pub(crate) fn get_at<T: FromSql>(&self, index: usize) -> rusqlite::Result<T> {
        match &self.0 {
            RowInner::Sqlite(row) => row.get(index),
            RowInner::Values(row) if index < row.values.len() => decode(row, index),
            RowInner::Values(_) => Err(rusqlite::Error::InvalidColumnIndex(index)),
        }
    }
}

/// Decodes one cell as rusqlite's `Row::get` does, with the same errors.
fn decode<T: FromSql>(row: &ValueRow, index: usize) -> rusqlite::Result<T> {
    let value = &row.values[index];
    let value_ref = ValueRef::from(value);
    T::column_result(value_ref).map_err(|e| match e {
        FromSqlError::InvalidType => rusqlite::Error::InvalidColumnType(
            index,
            row.names[index].clone(),
            value_ref.data_type(),
        ),
        FromSqlError::OutOfRange(n) => rusqlite::Error::IntegralValueOutOfRange(index, n),
        FromSqlError::Other(err) => {
            rusqlite::Error::FromSqlConversionFailure(index, value_ref.data_type(), err)
        }
        other => {
            rusqlite::Error::FromSqlConversionFailure(index, value_ref.data_type(), Box::new(other))
        }
    })
}

/// How durable a write transaction's commit must be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Durability {
    /// On disk before the commit returns: every state change.
    Full,
    /// Survives a crash of the broker, may be lost with the machine: the journal's lines,
    /// which the next full commit makes durable with it.
    Relaxed,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row() -> ValueRow {
        ValueRow::new(
            vec!["n".to_string(), "t".to_string(), "z".to_string()].into(),
            vec![Value::Integer(7), Value::Text("x".into()), Value::Null],
        )
    }

    #[test]
    fn a_value_row_decodes_like_a_sqlite_row() {
        let r = row();
        let row = Row::values(&r);
        assert_eq!(row.get::<i64>("n").unwrap(), 7);
        assert_eq!(row.get::<String>("t").unwrap(), "x");
        assert_eq!(row.get::<Option<String>>("z").unwrap(), None);
        assert_eq!(row.get_at::<String>(1).unwrap(), "x");
    }

    #[test]
    fn a_value_row_reports_rusqlites_errors() {
        let r = row();
        let row = Row::values(&r);
        assert!(matches!(
            row.get::<String>("n"),
            Err(rusqlite::Error::InvalidColumnType(0, _, rusqlite::types::Type::Integer))
        ));
        assert!(matches!(row.get::<i64>("missing"), Err(rusqlite::Error::InvalidColumnName(_))));
        assert!(matches!(row.get_at::<i64>(9), Err(rusqlite::Error::InvalidColumnIndex(9))));
    }
}

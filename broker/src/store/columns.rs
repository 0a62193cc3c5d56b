//! How typed values are read from the store's columns: enums from their text
//! ([`string_enum!`]), JSON documents through [`Json`], timestamps as [`super::Timestamp`]
//! and ids as the id newtypes of `crate::ids` (checked against the id rule again), each with
//! `FromSql`, so that a record is decoded once, where it leaves the database.
//!
//! The ids' `FromSql` and `ToSql` live here rather than in `crate::ids`: what SQLite needs is
//! the store's business, and the rest of the broker stays free of it.
//!
//! Every column is read with [`get`], which turns a value that does not decode into a
//! [`StoreError::Column`] naming the table and column (`operations.request`): a bad row is an
//! error the operator can find, never a default the broker acts on.

use super::{StoreError, StoreResult};
use crate::ids::{BindingId, IdError, InstanceId, OperationId};
use rusqlite::types::{FromSql, FromSqlError, FromSqlResult, ToSql, ToSqlOutput, ValueRef};

/// Why a stored value could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ColumnError {
    /// The text names no variant of the enum the column holds.
    #[error("unknown {what} '{text}'")]
    UnknownText {
        /// What the column holds ("instance state", ...).
        what: &'static str,
        /// The text found.
        text: String,
    },
    /// The JSON document does not decode into what the column holds.
    #[error("corrupt JSON: {0}")]
    Json(#[source] serde_json::Error),
    /// The text is not an RFC 3339 timestamp.
    #[error("'{text}' is not an RFC 3339 timestamp: {source}")]
    Timestamp {
        /// The text found.
        text: String,
        /// Why it does not parse.
        source: time::error::Parse,
    },
    /// The text breaks the id rule (`crate::ids`).
    #[error("'{text}' is not a valid {what}: it {source}")]
    Id {
        /// What the id names ("the service instance id", ...).
        what: &'static str,
        /// The text found.
        text: String,
        /// Which part of the rule it breaks.
        source: IdError,
    },
    /// The value has the wrong SQL type (a `NULL`, a number for text, ...).
    #[error("{0}")]
    Type(String),
}

impl ColumnError {
    /// This error as `FromSql` reports it; [`get`] unwraps it again.
    pub(super) fn into_from_sql(self) -> FromSqlError {
        FromSqlError::Other(Box::new(self))
    }
}

/// Reads the column `column` (`table.name`) of `row` as a `T`; a value that does not decode
/// is [`StoreError::Column`] naming it.
pub(super) fn get<T: FromSql>(row: &super::db::Row<'_>, column: &'static str) -> StoreResult<T> {
    let name = column.rsplit('.').next().unwrap_or(column);
    row.get(name).map_err(|e| column_error(column, e))
}

/// The store's error for a failed read of `column`.
pub(super) fn column_error(column: &'static str, e: rusqlite::Error) -> StoreError {
    use rusqlite::Error as E;
    let source = match e {
        E::FromSqlConversionFailure(_, _, err) => match err.downcast::<ColumnError>() {
            Ok(err) => *err,
            Err(other) => ColumnError::Type(other.to_string()),
        },
        E::InvalidColumnType(_, _, ty) => ColumnError::Type(format!("holds a value of type {ty}")),
        E::IntegralValueOutOfRange(_, n) => ColumnError::Type(format!("{n} is out of range")),
        other => return StoreError::Sqlite(other),
    };
    StoreError::Column { column, source }
}

/// A JSON column: decodes the stored text into `T` (serde), so a document that does not have
/// the expected shape is an error when the row is read, not wherever it is used. Written
/// with `json::encode`, which also refuses documents too deep to be read back.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Json<T>(pub T);

impl<T: serde::de::DeserializeOwned> FromSql for Json<T> {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        let text = value.as_str()?;
        super::json::decode(text).map(Json).map_err(|e| ColumnError::Json(e).into_from_sql())
    }
}

macro_rules! id_column {
    ($($id:ty),+) => {$(
        impl ToSql for $id {
            fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
                Ok(self.as_str().into())
            }
        }
        impl FromSql for $id {
            fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
                let text = value.as_str()?;
                <$id>::parse(text).map_err(|source| {
                    ColumnError::Id {
                        what: <$id>::WHAT,
                        text: text.to_string(),
                        source,
                    }
                    .into_from_sql()
                })
            }
        }
    )+};
}
id_column!(InstanceId, BindingId, OperationId, crate::ids::ServiceId, crate::ids::PlanId);

/// An enum stored as text: `as_str` gives the stored text, `FromSql` and `ToSql` read and
/// write it, and unknown text is a [`ColumnError::UnknownText`].
macro_rules! string_enum {
    ($(#[$meta:meta])* $name:ident, $what:literal { $($(#[$vmeta:meta])* $variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum $name { $($(#[$vmeta])* $variant),+ }
        impl $name {
            /// The text stored in the database.
            pub fn as_str(self) -> &'static str {
                match self { $(Self::$variant => $text),+ }
            }
        }
        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
        impl rusqlite::types::ToSql for $name {
            fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
                Ok(self.as_str().into())
            }
        }
        impl rusqlite::types::FromSql for $name {
            fn column_result(
                value: rusqlite::types::ValueRef<'_>,
            ) -> rusqlite::types::FromSqlResult<Self> {
                match value.as_str()? {
                    $($text => Ok(Self::$variant),)+
                    other => Err($crate::store::columns::ColumnError::UnknownText {
                        what: $what,
                        text: other.to_string(),
                    }
                    .into_from_sql()),
                }
            }
        }
    };
}
pub(super) use string_enum;

/// A record read from a row of `table`, each field from the column of its name through
/// [`get`]; a field followed by `: Json` is decoded from the column's JSON text, and one
/// followed by `: Sealed(open_fn)` is opened with the keyring by `super::sealed::open_fn`.
/// Evaluates to the record, returning early with the error of the first column that does not
/// decode.
macro_rules! from_row {
    ($row:expr, $ring:expr, $table:literal => $record:ident {
        $($field:ident $(: $kind:ident $(($open:ident))?)?),+ $(,)?
    }) => {
        $record {
            $($field: $crate::store::columns::from_row!(
                @get $row, $ring, concat!($table, ".", stringify!($field)) $(, $kind $(($open))?)?
            ),)+
        }
    };
    (@get $row:expr, $ring:expr, $column:expr) => {
        $crate::store::columns::get($row, $column)?
    };
    (@get $row:expr, $ring:expr, $column:expr, Json) => {
        $crate::store::columns::get::<$crate::store::columns::Json<_>>($row, $column)?.0
    };
    (@get $row:expr, $ring:expr, $column:expr, Sealed($open:ident)) => {
        $crate::store::sealed::$open($row, $ring)?
    };
}
pub(super) use from_row;

/// A record's columns in one place: `record_columns!(Record in "table" => COLUMNS { .. })`
/// defines `COLUMNS`, the columns to `SELECT` for it, and its `from_row`, which reads each
/// field from the column of its name ([`from_row!`]).
macro_rules! record_columns {
    ($record:ident in $table:literal => $columns:ident {
        $first:ident $(: $first_kind:ident $(($first_open:ident))?)?
        $(, $field:ident $(: $kind:ident $(($open:ident))?)?)* $(,)?
    }) => {
        pub(super) const $columns: &str =
            concat!(stringify!($first) $(, ", ", stringify!($field))*);

        impl $record {
            pub(super) fn from_row(
                row: &$crate::store::db::Row<'_>,
                ring: &$crate::store::sealing::Keyring,
            ) -> $crate::store::StoreResult<Self> {
                let _ = ring;
                Ok($crate::store::columns::from_row!(row, ring, $table => Self {
                    $first $(: $first_kind $(($first_open))?)?
                    $(, $field $(: $kind $(($open))?)?)*
                }))
            }
        }
    };
}
pub(super) use record_columns;

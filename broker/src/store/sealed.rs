//! The store's sealed columns: every column that holds a secret, in one list
//! ([`SEALED_COLUMNS`]), and for each one the function pair that writes and reads it.
//!
//! A column that holds secrets is declared here as a [`SealedColumn`] (its table, its name,
//! the columns of the row's key, and the one clear value it may hold, if any) and added to
//! [`SEALED_COLUMNS`]; migration, key rotation and the check for keys that are no longer
//! configured then cover it. Writes go through [`SealedColumn::seal_text`] or
//! [`SealedColumn::seal_json`], reads through [`SealedColumn::read_text`] or
//! [`SealedColumn::read_json`] (or [`SealedColumn::open_text`] for a value already
//! selected). A value that does not open is [`StoreError::Sealed`] naming the column, never a
//! default.
//!
//! A new secret column, for example `config_values.value` keyed by `(deployment, name)`:
//!
//! ```text
//! pub(crate) const CONFIG_VALUE: SealedColumn =
//!     sealed_column!(config_values.value, key["deployment", "name"]);
//! // added to SEALED_COLUMNS, then, in the store:
//! let stored = CONFIG_VALUE.seal_text(self.keyring(), &[deployment, name], value);
//! // ... INSERT stored ...; and reading, with a SELECT of deployment, name, value:
//! self.query_all(sql, params, |row, ring| CONFIG_VALUE.read_text(row, ring))
//! ```
//!
//! The row key must be the columns that identify the row for its whole life: a value
//! moved to a row with another key no longer opens.

use super::columns::{column_error, ColumnError};
use super::db::Row;
use super::sealing::{Cell, Keyring};
use super::{json, StoreError, StoreResult};
use crate::ids::{BindingId, InstanceId, OperationId};
use serde_json::Value;

/// A column whose values are sealed.
#[derive(Debug)]
pub(crate) struct SealedColumn {
    /// `table.column`, as errors name it.
    pub name: &'static str,
    /// The table.
    pub table: &'static str,
    /// The column.
    pub column: &'static str,
    /// The columns of the row's key, bound into every seal.
    pub key: &'static [&'static str],
    /// A value stored in clear because it is no secret (`null` marks a binding whose
    /// create-binding has not answered, which the SQL checks for).
    pub clear: Option<&'static str>,
}

/// A [`SealedColumn`] named `table.column` (so its name, table and column cannot disagree),
/// with the columns of its row key and, after `clear`, the one value it may hold in clear.
macro_rules! sealed_column {
    ($table:ident . $column:ident, key[$($key:literal),+] $(, clear $clear:literal)?) => {
        SealedColumn {
            name: concat!(stringify!($table), ".", stringify!($column)),
            table: stringify!($table),
            column: stringify!($column),
            key: &[$($key),+],
            clear: sealed_column!(@clear $($clear)?),
        }
    };
    (@clear) => {
        None
    };
    (@clear $clear:literal) => {
        Some($clear)
    };
}

/// `instances.parameters`: the arbitrary parameters in effect.
pub(crate) const INSTANCE_PARAMETERS: SealedColumn =
    sealed_column!(instances.parameters, key["id"]);

/// `operations.request`: what the operation was asked to do, parameters included.
pub(crate) const OPERATION_REQUEST: SealedColumn = sealed_column!(operations.request, key["id"]);

/// `bindings.request`: the bind request's parameters.
pub(crate) const BINDING_REQUEST: SealedColumn =
    sealed_column!(bindings.request, key["instance_id", "id"]);

/// `bindings.response`: the credentials; `null` (clear) while create-binding runs.
pub(crate) const BINDING_RESPONSE: SealedColumn =
    sealed_column!(bindings.response, key["instance_id", "id"], clear "null");

/// `secrets.value`: ODB-managed secret values.
pub(crate) const SECRET_VALUE: SealedColumn =
    sealed_column!(secrets.value, key["deployment", "name"]);

/// `sim_deployments.manifest`: the simulated director's manifests (secrets resolved in them).
pub(crate) const SIM_MANIFEST: SealedColumn = sealed_column!(sim_deployments.manifest, key["name"]);

/// `config_values.value`: a credential of the simulated director's config server.
pub(crate) const CONFIG_VALUE: SealedColumn = sealed_column!(config_values.value, key["id"]);

/// Every sealed column.
pub(crate) const SEALED_COLUMNS: &[&SealedColumn] = &[
    &INSTANCE_PARAMETERS,
    &OPERATION_REQUEST,
    &BINDING_REQUEST,
    &BINDING_RESPONSE,
    &SECRET_VALUE,
    &SIM_MANIFEST,
    &CONFIG_VALUE,
];

impl SealedColumn {
    fn cell<'a>(&'a self, key: &'a [&'a str]) -> Cell<'a> {
        debug_assert_eq!(key.len(), self.key.len(), "{}: the row's key", self.name);
        Cell { table: self.table, column: self.column, key }
    }

    /// The stored form of `text` in the row `key`: sealed with the primary key (the clear
    /// value, if the column has one, stays as it is).
    pub(crate) fn seal_text(&self, ring: &Keyring, key: &[&str], text: &str) -> String {
        if self.clear == Some(text) {
            return text.to_string();
        }
        ring.seal(&self.cell(key), text.as_bytes())
    }

    /// `value` as JSON ([`json::encode`]), sealed for the row `key`.
    pub(crate) fn seal_json<T: serde::Serialize + ?Sized>(
        &self, ring: &Keyring, key: &[&str], value: &T,
    ) -> StoreResult<String> {
        Ok(self.seal_text(ring, key, &json::encode(self.name, value)?))
    }

    /// Opens the stored value of the row `key`.
    pub(crate) fn open_text(
        &self, ring: &Keyring, key: &[&str], stored: &str,
    ) -> StoreResult<String> {
        if self.clear == Some(stored) {
            return Ok(stored.to_string());
        }
        let bytes = ring
            .open(&self.cell(key), stored)
            .map_err(|source| StoreError::Sealed { column: self.name, source })?;
        String::from_utf8(bytes).map_err(|_| StoreError::Column {
            column: self.name,
            source: ColumnError::Type("the opened value is not UTF-8 text".into()),
        })
    }

    /// Reads and opens this column of `row`, which also holds the key columns.
    pub(crate) fn read_text(&self, row: &Row<'_>, ring: &Keyring) -> StoreResult<String> {
        let mut key = Vec::with_capacity(self.key.len());
        for column in self.key {
            key.push(row.get::<String>(column).map_err(|e| column_error(self.name, e))?);
        }
        let stored: String = row.get(self.column).map_err(|e| column_error(self.name, e))?;
        let key: Vec<&str> = key.iter().map(String::as_str).collect();
        self.open_text(ring, &key, &stored)
    }

    /// Reads, opens and decodes this JSON column of `row`.
    pub(crate) fn read_json<T: serde::de::DeserializeOwned>(
        &self, row: &Row<'_>, ring: &Keyring,
    ) -> StoreResult<T> {
        let text = self.read_text(row, ring)?;
        json::decode(&text)
            .map_err(|e| StoreError::Column { column: self.name, source: ColumnError::Json(e) })
    }
}

// ----- the function pair of each sealed column -----

/// Writes `instances.parameters`.
pub(super) fn seal_instance_parameters(
    ring: &Keyring, id: &InstanceId, parameters: &Value,
) -> StoreResult<String> {
    INSTANCE_PARAMETERS.seal_json(ring, &[id.as_str()], parameters)
}

/// Reads `instances.parameters`.
pub(super) fn open_instance_parameters(row: &Row<'_>, ring: &Keyring) -> StoreResult<Value> {
    INSTANCE_PARAMETERS.read_json(row, ring)
}

/// Writes `operations.request`.
pub(super) fn seal_operation_request(
    ring: &Keyring, id: &OperationId, request: &super::OperationRequest,
) -> StoreResult<String> {
    OPERATION_REQUEST.seal_json(ring, &[id.as_str()], request)
}

/// Reads `operations.request`.
pub(super) fn open_operation_request(
    row: &Row<'_>, ring: &Keyring,
) -> StoreResult<super::OperationRequest> {
    OPERATION_REQUEST.read_json(row, ring)
}

/// Writes `bindings.request`.
pub(super) fn seal_binding_request(
    ring: &Keyring, instance_id: &InstanceId, id: &BindingId, request: &Value,
) -> StoreResult<String> {
    BINDING_REQUEST.seal_json(ring, &[instance_id.as_str(), id.as_str()], request)
}

/// Reads `bindings.request`.
pub(super) fn open_binding_request(row: &Row<'_>, ring: &Keyring) -> StoreResult<Value> {
    BINDING_REQUEST.read_json(row, ring)
}

/// Writes `bindings.response` (`None`, a pending binding, is the clear `null`).
pub(super) fn seal_binding_response(
    ring: &Keyring, instance_id: &InstanceId, id: &BindingId, response: Option<&Value>,
) -> StoreResult<String> {
    BINDING_RESPONSE.seal_json(ring, &[instance_id.as_str(), id.as_str()], &response)
}

/// Reads `bindings.response`.
pub(super) fn open_binding_response(row: &Row<'_>, ring: &Keyring) -> StoreResult<Option<Value>> {
    BINDING_RESPONSE.read_json(row, ring)
}

/// Writes `secrets.value`.
pub(super) fn seal_secret_value(
    ring: &Keyring, deployment: &str, name: &str, value: &str,
) -> String {
    SECRET_VALUE.seal_text(ring, &[deployment, name], value)
}

/// Reads `secrets.value` (the row also selects `deployment` and `name`).
pub(super) fn open_secret_value(row: &Row<'_>, ring: &Keyring) -> StoreResult<String> {
    SECRET_VALUE.read_text(row, ring)
}

/// Writes `sim_deployments.manifest`.
pub(super) fn seal_sim_manifest(ring: &Keyring, name: &str, manifest: &str) -> String {
    SIM_MANIFEST.seal_text(ring, &[name], manifest)
}

/// Reads `sim_deployments.manifest` (the row also selects `name`).
pub(super) fn open_sim_manifest(row: &Row<'_>, ring: &Keyring) -> StoreResult<String> {
    SIM_MANIFEST.read_text(row, ring)
}

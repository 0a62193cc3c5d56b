//! The simulated director's config server: credential versions (name, id, type, generation
//! options, sealed value) and, per deployment, the version of each variable it was deployed
//! with. The SQL of both tables lives here; values go through [`sealed::CONFIG_VALUE`] only.

use super::columns::{get, Json};
use super::db::{Durability, Row, SqlExt as _};
use super::sealed::CONFIG_VALUE;
use super::{StoreResult, Timestamp};
use crate::redacted::Redacted;
use crate::store::Store;
use rusqlite::params;
use serde_json::Value;

/// One stored version of a credential.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfigValueRecord {
    /// The version's id.
    pub id: String,
    /// The credential's absolute name.
    pub name: String,
    /// Its type (`password`, `certificate`, `user`, `ssh`, `value`, `json`).
    pub kind: String,
    /// The options it was generated with (`null` for values the broker set).
    pub options: Value,
    /// The value (never shown by `Debug`).
    pub value: Redacted<Value>,
}

const COLUMNS: &str = "id, name, kind, options, value";

fn record(row: &Row<'_>, ring: &super::sealing::Keyring) -> StoreResult<ConfigValueRecord> {
    let options: Json<Value> = get(row, "config_values.options")?;
    Ok(ConfigValueRecord {
        id: get(row, "config_values.id")?,
        name: get(row, "config_values.name")?,
        kind: get(row, "config_values.kind")?,
        options: options.0,
        value: Redacted(CONFIG_VALUE.read_json(row, ring)?),
    })
}

impl Store {
    /// Stores a new version of `name` and returns it.
    pub fn config_value_put(
        &self, name: &str, kind: &str, options: &Value, value: &Value,
    ) -> StoreResult<ConfigValueRecord> {
        let id = uuid::Uuid::new_v4().to_string();
        let sealed = CONFIG_VALUE.seal_json(self.keyring(), &[&id], value)?;
        let options_text = options.to_string();
        self.conn(|c| {
            c.execute(
                "INSERT INTO config_values (id, name, kind, options, value, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![id, name, kind, options_text, sealed, Timestamp::now()],
            )?;
            Ok(())
        })?;
        Ok(ConfigValueRecord {
            id,
            name: name.to_string(),
            kind: kind.to_string(),
            options: options.clone(),
            value: value.clone().into(),
        })
    }

    /// The newest version of `name`.
    pub fn config_value_latest(&self, name: &str) -> StoreResult<Option<ConfigValueRecord>> {
        self.query_one(
            &format!("SELECT {COLUMNS} FROM config_values WHERE name = ?1 ORDER BY created_at DESC, rowid DESC LIMIT 1"),
            params![name],
            record,
        )
    }

    /// The version with id `id`.
    pub fn config_value_by_id(&self, id: &str) -> StoreResult<Option<ConfigValueRecord>> {
        self.query_one(
            &format!("SELECT {COLUMNS} FROM config_values WHERE id = ?1"),
            params![id],
            record,
        )
    }

    /// Names of credentials containing `part`, case-insensitively, each once.
    pub fn config_value_names_like(&self, part: &str) -> StoreResult<Vec<String>> {
        self.query_all(
            "SELECT DISTINCT name FROM config_values WHERE instr(lower(name), lower(?1)) > 0 ORDER BY name",
            params![part],
            |r, _| get(r, "config_values.name"),
        )
    }

    /// Deletes every version of `name`; returns how many there were.
    pub fn config_value_delete(&self, name: &str) -> StoreResult<usize> {
        self.config_values_delete_where("name = ?1", name)
    }

    /// Deletes every credential under `prefix` (a deployment's generated variables).
    pub fn config_values_delete_under(&self, prefix: &str) -> StoreResult<usize> {
        self.config_values_delete_where("substr(name, 1, length(?1)) = ?1", prefix)
    }

    fn config_values_delete_where(&self, condition: &str, value: &str) -> StoreResult<usize> {
        self.write_returning(Durability::Full, |tx| {
            let deleted = tx
                .execute(&format!("DELETE FROM config_values WHERE {condition}"), params![value])?;
            // Deleted values must not stay readable in the files.
            Ok((deleted, deleted > 0))
        })
    }

    /// Records the variable versions (name, id) a deployment was deployed with, replacing the
    /// previous deploy's.
    pub fn deployment_variables_set(
        &self, deployment: &str, variables: &[(String, String)],
    ) -> StoreResult<()> {
        self.write(|tx| {
            tx.execute(
                "DELETE FROM deployment_variables WHERE deployment = ?1",
                params![deployment],
            )?;
            for (name, id) in variables {
                tx.execute(
                    "INSERT INTO deployment_variables (deployment, name, value_id) VALUES (?1, ?2, ?3)
                     ON CONFLICT(deployment, name) DO UPDATE SET value_id = excluded.value_id",
                    params![deployment, name, id],
                )?;
            }
            Ok(true)
        })
    }

    /// The variable versions (name, id) a deployment was deployed with, by name.
    pub fn deployment_variables(&self, deployment: &str) -> StoreResult<Vec<(String, String)>> {
        self.query_all(
            "SELECT name, value_id FROM deployment_variables WHERE deployment = ?1 ORDER BY name",
            params![deployment],
            |r, _| {
                Ok((get(r, "deployment_variables.name")?, get(r, "deployment_variables.value_id")?))
            },
        )
    }

    /// Forgets which variables a deployment was deployed with.
    pub fn deployment_variables_forget(&self, deployment: &str) -> StoreResult<()> {
        self.conn(|c| {
            c.execute(
                "DELETE FROM deployment_variables WHERE deployment = ?1",
                params![deployment],
            )?;
            Ok(())
        })
    }

    /// Whether a stored version of `name` exists.
    pub fn config_value_exists(&self, name: &str) -> StoreResult<bool> {
        self.conn(|c| {
            Ok(c.query_opt(
                "SELECT 1 AS found FROM config_values WHERE name = ?1 LIMIT 1",
                params![name],
                |_| Ok(()),
            )?
            .is_some())
        })
    }
}

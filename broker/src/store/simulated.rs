//! The simulated director's state: its deployments (name → manifest) and its tasks, kept in
//! the broker's database (`sim_deployments`, `sim_tasks`) so that they survive a restart as a
//! real director's would. The director (`director::simulated`) decides what the tasks do and
//! when they finish; this module only stores and reads them.
//!
//! A stored manifest can hold the deployment's secrets, so it is sealed (see
//! `super::sealed`), and deleting a deployment is scrubbed from the files like a deleted
//! binding (see `Store::scrub`).

use super::columns::{from_row, get, string_enum};
use super::db::{Durability, Row, SqlExt as _};
use super::sealed::{open_sim_manifest, seal_sim_manifest};
use super::sealing::Keyring;
use super::{Store, StoreResult};
use rusqlite::params;

string_enum!(
    /// How a simulated task ends once its time is up.
    SimTaskOutcome, "simulated task outcome" {
        /// It succeeds.
        Done = "done",
        /// It fails.
        Error = "error",
    }
);

/// A simulated task to record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewSimTask {
    /// The deployment it acts on.
    pub deployment: String,
    /// What it does (`create deployment`, `run errand x`, ...).
    pub description: String,
    /// The context id the broker gave it (its operation id).
    pub context_id: String,
    /// When it started, in Unix milliseconds.
    pub started_ms: i64,
    /// How long it runs, in milliseconds.
    pub duration_ms: i64,
    /// How it ends.
    pub outcome: SimTaskOutcome,
    /// The result text of a failed task.
    pub result: String,
}

/// A recorded simulated task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimTaskRecord {
    /// Its task id.
    pub id: i64,
    /// The task as it was recorded.
    pub task: NewSimTask,
}

/// Which simulated tasks to list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SimTaskFilter {
    /// The tasks started with this context id.
    Context(String),
    /// The tasks of this deployment.
    Deployment(String),
}

const SIM_TASK_COLUMNS: &str =
    "id, deployment, description, context_id, started_ms, duration_ms, outcome, result";

fn sim_task_from_row(r: &Row<'_>, _ring: &Keyring) -> StoreResult<SimTaskRecord> {
    Ok(SimTaskRecord {
        id: get(r, "sim_tasks.id")?,
        task: from_row!(r, _ring, "sim_tasks" => NewSimTask {
            deployment, description, context_id, started_ms, duration_ms, outcome, result,
        }),
    })
}

impl Store {
    /// Stores the manifest of a simulated deployment, replacing an older one.
    pub fn sim_put_deployment(&self, name: &str, manifest: &str) -> StoreResult<()> {
        let sealed = seal_sim_manifest(self.keyring(), name, manifest);
        self.conn(|c| {
            c.execute(
                "INSERT INTO sim_deployments (name, manifest) VALUES (?1, ?2)
                 ON CONFLICT(name) DO UPDATE SET manifest = excluded.manifest",
                params![name, sealed],
            )?;
            Ok(())
        })
    }

    /// The manifest of a simulated deployment, if it exists.
    pub fn sim_manifest(&self, name: &str) -> StoreResult<Option<String>> {
        self.query_one(
            "SELECT name, manifest FROM sim_deployments WHERE name = ?1",
            params![name],
            open_sim_manifest,
        )
    }

    /// The names of every simulated deployment, sorted.
    pub fn sim_deployment_names(&self) -> StoreResult<Vec<String>> {
        self.query_all("SELECT name FROM sim_deployments ORDER BY name", params![], |r, _| {
            get(r, "sim_deployments.name")
        })
    }

    /// Deletes a simulated deployment, and scrubs its manifest (which may hold secrets) from
    /// the files. Returns false when it did not exist.
    pub fn sim_delete_deployment(&self, name: &str) -> StoreResult<bool> {
        self.write_returning(Durability::Full, |tx| {
            let n = tx.execute("DELETE FROM sim_deployments WHERE name = ?1", params![name])?;
            Ok((n > 0, n > 0))
        })
    }

    /// Records a simulated task; returns its id.
    pub fn sim_record_task(&self, task: &NewSimTask) -> StoreResult<i64> {
        self.conn(|c| {
            let id = c.query_opt(
                "INSERT INTO sim_tasks (deployment, description, context_id, started_ms, duration_ms, outcome, result)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) RETURNING id",
                params![
                    task.deployment,
                    task.description,
                    task.context_id,
                    task.started_ms,
                    task.duration_ms,
                    task.outcome,
                    task.result,
                ],
                |r| get(r, "sim_tasks.id"),
            )?;
            id.ok_or(super::StoreError::Sqlite(rusqlite::Error::QueryReturnedNoRows))
        })
    }

    /// The simulated task with this id.
    pub fn sim_task(&self, id: i64) -> StoreResult<Option<SimTaskRecord>> {
        self.query_one(
            &format!("SELECT {SIM_TASK_COLUMNS} FROM sim_tasks WHERE id = ?1"),
            params![id],
            sim_task_from_row,
        )
    }

    /// The simulated tasks that `filter` selects, newest first.
    pub fn sim_tasks_where(&self, filter: &SimTaskFilter) -> StoreResult<Vec<SimTaskRecord>> {
        let (column, value) = match filter {
            SimTaskFilter::Context(id) => ("context_id", id),
            SimTaskFilter::Deployment(name) => ("deployment", name),
        };
        self.query_all(
            &format!(
                "SELECT {SIM_TASK_COLUMNS} FROM sim_tasks WHERE {column} = ?1 ORDER BY id DESC"
            ),
            params![value],
            sim_task_from_row,
        )
    }
}

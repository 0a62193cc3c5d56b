//! The operations journal's rows: one per step of an operation (or of a bind or unbind), in
//! order, bounded per instance and pruned by age. What a step holds is the caller's
//! (`crate::journal`), kept here as JSON; nothing secret may be written into it.

use super::columns::{get, Json};
use super::db::{Durability, Sql};
use super::{Store, StoreResult, Timestamp};
use crate::ids::{InstanceId, OperationId};
use rusqlite::params;

/// The most steps kept per instance; older ones are dropped as new ones come.
pub const MAX_STEPS_PER_INSTANCE: i64 = 500;

/// One stored step.
#[derive(Debug, Clone, PartialEq)]
pub struct JournalRecord {
    /// Its order among all steps.
    pub seq: i64,
    /// The instance it concerns.
    pub instance_id: InstanceId,
    /// The operation it belongs to; `None` for a bind or unbind.
    pub operation_id: Option<OperationId>,
    /// What was being done (`create`, `bind b1`, ...).
    pub activity: String,
    /// When.
    pub at: Timestamp,
    /// The step, as JSON.
    pub step: serde_json::Value,
}

impl Store {
    /// Appends a step, dropping the instance's oldest beyond [`MAX_STEPS_PER_INSTANCE`].
    pub fn journal_append(
        &self, instance_id: &InstanceId, operation_id: Option<&OperationId>, activity: &str,
        step: &serde_json::Value,
    ) -> StoreResult<()> {
        let text = super::json::encode("journal.step", step)?;
        // Journal lines are diagnostics: they are committed without an fsync of their own,
        // and the next state change's full commit makes them durable with it. A crash of the
        // process loses none; a power loss may lose the last lines, never a state change.
        self.write_returning(Durability::Relaxed, |tx| {
            append_step(tx, instance_id, operation_id, activity, &text)?;
            Ok(((), false))
        })
    }

    /// The steps of an instance, oldest first.
    pub fn journal_of(&self, instance_id: &InstanceId) -> StoreResult<Vec<JournalRecord>> {
        self.query_all(
            "SELECT seq, instance_id, operation_id, activity, at, step FROM journal WHERE instance_id = ?1 ORDER BY seq",
            params![instance_id],
            |r, _| {
                Ok(JournalRecord {
                    seq: get(r, "journal.seq")?,
                    instance_id: get(r, "journal.instance_id")?,
                    operation_id: get(r, "journal.operation_id")?,
                    activity: get(r, "journal.activity")?,
                    at: get(r, "journal.at")?,
                    step: get::<Json<serde_json::Value>>(r, "journal.step")?.0,
                })
            },
        )
    }

    /// Drops every step older than `before`; returns how many.
    pub fn journal_prune(&self, before: Timestamp) -> StoreResult<usize> {
        self.conn(|c| c.execute("DELETE FROM journal WHERE at < ?1", params![before]))
    }
}

impl Store {
    /// Every operation of an instance, newest first.
    pub fn operations_of(
        &self, instance_id: &InstanceId,
    ) -> StoreResult<Vec<super::OperationRecord>> {
        self.query_all(
            &format!(
                "SELECT {} FROM operations WHERE instance_id = ?1 ORDER BY created_at DESC, rowid DESC",
                super::records::OPERATION_COLUMNS
            ),
            params![instance_id],
            super::OperationRecord::from_row,
        )
    }
}

/// Inserts one step and drops the instance's oldest beyond [`MAX_STEPS_PER_INSTANCE`], in the
/// caller's write transaction.
fn append_step(
    tx: &dyn Sql, instance_id: &InstanceId, operation_id: Option<&OperationId>, activity: &str,
    text: &str,
) -> StoreResult<()> {
    tx.execute(
        "INSERT INTO journal (instance_id, operation_id, activity, at, step) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![instance_id, operation_id, activity, Timestamp::now(), text],
    )?;
    tx.execute(
        "DELETE FROM journal WHERE instance_id = ?1 AND seq <= (SELECT seq FROM journal WHERE instance_id = ?1 ORDER BY seq DESC LIMIT 1 OFFSET ?2)",
        params![instance_id, MAX_STEPS_PER_INSTANCE],
    )?;
    Ok(())
}

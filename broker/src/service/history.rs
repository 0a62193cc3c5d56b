//! The history of an instance for operators: its operations, newest first, each with the
//! steps the journal recorded (adapter runs, director calls, task changes, the end), and the
//! binds and unbinds with theirs. Answers for a deleted instance until its steps are pruned.

use super::{Broker, ServiceError, ServiceResult};
use crate::ids::{InstanceId, OperationId};
use crate::store::{JournalRecord, OperationRecord, Timestamp};
use serde::Serialize;
use serde_json::Value;

/// One operation, bind or unbind, with its steps.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct HistoryEntry {
    /// `create`, `update`, ..., or `bind <binding id>`, `unbind <binding id>`.
    pub activity: String,
    /// The operation id (none for binds and unbinds).
    pub operation: Option<OperationId>,
    /// The operation's state, when it is recorded.
    pub state: Option<&'static str>,
    /// What the platform user was told.
    pub description: Option<String>,
    /// The operator's detail of a failure.
    pub error: Option<String>,
    /// When it started.
    pub started_at: String,
    /// Its steps, in order; each is an object with `at` and `kind`.
    pub steps: Vec<Value>,
}

fn step_value(record: &JournalRecord) -> Value {
    let mut step = record.step.clone();
    if let Some(map) = step.as_object_mut() {
        map.insert("at".into(), Value::String(record.at.to_string()));
    }
    step
}

/// Groups consecutive steps of the same operation or activity, and joins the operations.
fn entries(operations: Vec<OperationRecord>, journal: Vec<JournalRecord>) -> Vec<HistoryEntry> {
    let mut out: Vec<(Timestamp, HistoryEntry)> = Vec::new();
    let mut current: Option<(Option<OperationId>, String)> = None;
    for record in &journal {
        let key = (record.operation_id.clone(), record.activity.clone());
        if current.as_ref() != Some(&key) {
            out.push((
                record.at,
                HistoryEntry {
                    activity: record.activity.clone(),
                    operation: record.operation_id.clone(),
                    state: None,
                    description: None,
                    error: None,
                    started_at: record.at.to_string(),
                    steps: Vec::new(),
                },
            ));
            current = Some(key);
        }
        if let Some((_, entry)) = out.last_mut() {
            entry.steps.push(step_value(record));
        }
    }
    for op in operations {
        let mut matched = false;
        for (at, entry) in out.iter_mut() {
            if entry.operation.as_ref() == Some(&op.id) {
                entry.state = Some(op.state.as_str());
                entry.description = Some(op.description.clone());
                entry.error = Some(op.error.clone()).filter(|e| !e.is_empty());
                entry.started_at = op.created_at.to_string();
                *at = op.created_at;
                matched = true;
            }
        }
        if !matched {
            out.push((
                op.created_at,
                HistoryEntry {
                    activity: op.kind.as_str().to_string(),
                    operation: Some(op.id.clone()),
                    state: Some(op.state.as_str()),
                    description: Some(op.description.clone()),
                    error: Some(op.error.clone()).filter(|e| !e.is_empty()),
                    started_at: op.created_at.to_string(),
                    steps: Vec::new(),
                },
            ));
        }
    }
    out.sort_by_key(|e| std::cmp::Reverse(e.0));
    out.into_iter().map(|(_, e)| e).collect()
}

impl Broker {
    /// The history of an instance, newest first; not found when the broker knows nothing
    /// of it.
    pub async fn history(&self, id: &InstanceId) -> ServiceResult<Vec<HistoryEntry>> {
        let owned = id.clone();
        let (operations, journal) = self
            .stored(id, "history", move |s| Ok((s.operations_of(&owned)?, s.journal_of(&owned)?)))
            .await?;
        if operations.is_empty() && journal.is_empty() {
            return Err(ServiceError::NotFound(format!(
                "service instance {id} has no history: it does not exist, or its history was pruned"
            )));
        }
        Ok(entries(operations, journal))
    }
}

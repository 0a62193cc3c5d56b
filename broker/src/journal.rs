//! The operations journal: for every operation (and every bind and unbind), each step in
//! order — adapter runs (subcommand, outcome, duration, excerpts of what it printed with every
//! known secret masked), director and CredHub calls (method, path, status, duration), task
//! changes, and the end — so that an operator can answer "why did my create-service fail?" from
//! `GET /mgmt/service_instances/:id/operations` or `on-demand-broker history`.
//!
//! The engine and the bind use cases run their work inside [`within`] a [`Scope`] (a tokio
//! task-local); the adapter client and the BOSH and CredHub clients call [`record`] as they go, and do
//! nothing when no scope is set. A step that cannot be stored is logged and dropped: the
//! journal never fails the work it describes.
//!
//! Nothing secret is written: an adapter's stdout is kept only when it failed (then it is
//! the message the platform user sees anyway), stderr only after masking, both cut short.

use crate::ids::{InstanceId, OperationId};
use crate::store::Store;
use serde::{Deserialize, Serialize};
use std::future::Future;
use std::sync::Arc;

/// A field of a step as the operations endpoint renders it (JSON), as text for display:
/// strings as they are, `""` when absent, anything else as JSON.
pub fn field_text(step: &serde_json::Value, key: &str) -> String {
    match &step[key] {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// How a display marks up the pieces of a step: the `history` command prints them as they
/// are, the console escapes and styles them. [`describe_step`] puts the pieces together, so
/// that both say the same.
pub trait StepMarkup {
    /// The arrow from a call to its answer.
    const ARROW: &'static str;
    /// A value taken from the step.
    fn value(&self, text: &str) -> String;
    /// The adapter subcommand that ran.
    fn subcommand(&self, text: &str) -> String {
        self.value(text)
    }
    /// A state: a task's, or how the work finished.
    fn state(&self, text: &str) -> String {
        self.value(text)
    }
    /// An excerpt of what the adapter printed on `stream` (`stdout` or `stderr`).
    fn excerpt(&self, stream: &str, text: &str) -> String;
}

/// A step, as the operations endpoint renders it (JSON), in words, each piece marked up.
pub fn describe_step<M: StepMarkup>(step: &serde_json::Value, markup: &M) -> String {
    let text = |k: &str| field_text(step, k);
    let value = |k: &str| markup.value(&text(k));
    match text("kind").as_str() {
        "adapter" => {
            let subcommand = markup.subcommand(&text("subcommand"));
            let mut out =
                format!("adapter {subcommand} {} ({} ms)", value("outcome"), value("duration_ms"));
            for stream in ["stdout", "stderr"] {
                let excerpt = text(stream);
                if !excerpt.trim().is_empty() {
                    out.push_str(&markup.excerpt(stream, excerpt.trim_end()));
                }
            }
            out
        }
        kind @ ("director" | "credhub") => {
            let status = Some(text("status")).filter(|s| !s.is_empty());
            let status = markup.value(status.as_deref().unwrap_or("no answer"));
            let (method, path, millis) = (value("method"), value("path"), value("duration_ms"));
            format!("{kind} {method} {path} {} {status} ({millis} ms)", M::ARROW)
        }
        "task" => {
            format!("task {} {} {}", value("task"), value("what"), markup.state(&text("state")))
        }
        "finished" => match (markup.state(&text("state")), text("detail")) {
            (state, detail) if detail.is_empty() => state,
            (state, detail) => format!("{state}: {}", markup.value(&detail)),
        },
        other => format!("{} {}", markup.value(other), markup.value(&step.to_string())),
    }
}

/// How much of an adapter's stdout or stderr a step keeps.
pub const EXCERPT_BYTES: usize = 2048;

/// One step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Step {
    /// The service adapter ran.
    Adapter {
        /// `generate-manifest`, `create-binding`, ...
        subcommand: String,
        /// `exit_0`, `exit_1`, `timeout`, ...
        outcome: String,
        /// How long it ran.
        duration_ms: u64,
        /// What it printed on stdout, when it failed (masked, cut short).
        stdout: String,
        /// What it printed on stderr (masked, cut short).
        stderr: String,
    },
    /// One call to the BOSH director's API.
    Director {
        /// `GET`, `POST`, ...
        method: String,
        /// The path called.
        path: String,
        /// The answer's status, `None` when there was none.
        status: Option<u16>,
        /// How long the call took.
        duration_ms: u64,
    },
    /// One call to a CredHub's API (the director's, or the runtime one).
    Credhub {
        /// `GET`, `PUT`, ...
        method: String,
        /// The path called (credential names travel in the query and the body, and are
        /// not kept).
        path: String,
        /// The answer's status, `None` when there was none.
        status: Option<u16>,
        /// How long the call took.
        duration_ms: u64,
    },
    /// A director task was started or changed state.
    Task {
        /// The task id.
        task: i64,
        /// What it does (`deploy`, `delete`, `errand <name>`, `recreate`).
        what: String,
        /// `submitted`, or the state it ended in.
        state: String,
    },
    /// The operation ended.
    Finished {
        /// `succeeded` or `failed`.
        state: String,
        /// The operator's detail of a failure (empty on success).
        detail: String,
    },
}

/// Where the steps of the current work go.
#[derive(Clone)]
pub struct Scope {
    store: Store,
    instance_id: InstanceId,
    operation_id: Option<OperationId>,
    activity: String,
}

impl Scope {
    /// The steps of operation `operation_id` (`activity`: its kind) of `instance_id`.
    pub fn operation(
        store: Store, instance_id: InstanceId, operation_id: OperationId, activity: &str,
    ) -> Self {
        Self {
            store,
            instance_id,
            operation_id: Some(operation_id),
            activity: activity.to_string(),
        }
    }

    /// The steps of a bind or unbind (`activity`: `bind <binding id>`, ...).
    pub fn activity(store: Store, instance_id: InstanceId, activity: String) -> Self {
        Self { store, instance_id, operation_id: None, activity }
    }
}

tokio::task_local! {
    static CURRENT: Arc<Scope>;
}

/// Runs `work` with its steps going to `scope`.
pub async fn within<F: Future>(scope: Scope, work: F) -> F::Output {
    CURRENT.scope(Arc::new(scope), work).await
}

/// Whether steps are being recorded now.
pub fn active() -> bool {
    CURRENT.try_with(|_| ()).is_ok()
}

/// Records `step` in the current scope; does nothing outside one.
pub async fn record(step: Step) {
    let Ok(scope) = CURRENT.try_with(Arc::clone) else {
        return;
    };
    let value = match serde_json::to_value(&step) {
        Ok(v) => v,
        Err(e) => {
            tracing::warn!(error = %e, "journal step not recorded");
            return;
        }
    };
    let store = scope.store.clone();
    let written = store
        .run(move |s| {
            s.journal_append(
                &scope.instance_id,
                scope.operation_id.as_ref(),
                &scope.activity,
                &value,
            )
        })
        .await;
    if let Err(e) = written {
        tracing::warn!(error = %e, "journal step not recorded");
    }
}

/// `text` cut to [`EXCERPT_BYTES`] at a character boundary, with a note of what was cut.
pub fn excerpt(text: &str) -> String {
    if text.len() <= EXCERPT_BYTES {
        return text.to_string();
    }
    let mut end = EXCERPT_BYTES;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}… ({} more bytes)", &text[..end], text.len() - end)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Marks every piece, so a test sees which part of the text is which.
    struct Marked;

    impl StepMarkup for Marked {
        const ARROW: &'static str = "=>";

        fn value(&self, text: &str) -> String {
            format!("[{text}]")
        }

        fn state(&self, text: &str) -> String {
            format!("<{text}>")
        }

        fn excerpt(&self, stream: &str, text: &str) -> String {
            format!(" {stream}{{{text}}}")
        }
    }

    #[test]
    fn a_step_is_described_piece_by_piece_in_the_display_s_markup() {
        let step = |v: serde_json::Value| describe_step(&v, &Marked);
        let call =
            serde_json::json!({"kind": "credhub", "method": "PUT", "path": "/p", "duration_ms": 4});
        assert_eq!(step(call), "credhub [PUT] [/p] => [no answer] ([4] ms)");
        let run = serde_json::json!({"kind": "adapter", "subcommand": "create-binding",
            "outcome": "exit_1", "duration_ms": 2, "stdout": "oops\n", "stderr": " "});
        assert_eq!(step(run), "adapter [create-binding] [exit_1] ([2] ms) stdout{oops}");
        let task =
            serde_json::json!({"kind": "task", "task": 7, "what": "deploy", "state": "done"});
        assert_eq!(step(task), "task [7] [deploy] <done>");
        let end = serde_json::json!({"kind": "finished", "state": "failed", "detail": "why"});
        assert_eq!(step(end), "<failed>: [why]");
        let unknown = serde_json::json!({"kind": "new"});
        assert_eq!(step(unknown), r#"[new] [{"kind":"new"}]"#);
    }

    #[test]
    fn excerpts_are_cut_at_a_character_boundary() {
        assert_eq!(excerpt("short"), "short");
        let long = "é".repeat(EXCERPT_BYTES);
        let cut = excerpt(&long);
        assert!(cut.len() < EXCERPT_BYTES + 40);
        assert!(cut.ends_with(&format!("({} more bytes)", long.len() - EXCERPT_BYTES)));
    }

    #[test]
    fn steps_serialise_with_their_kind() {
        let step = Step::Task { task: 7, what: "deploy".into(), state: "submitted".into() };
        let json = serde_json::to_value(&step).unwrap();
        assert_eq!(json["kind"], "task");
        assert_eq!(serde_json::from_value::<Step>(json).unwrap(), step);
    }

    #[tokio::test]
    async fn steps_outside_a_scope_go_nowhere_and_inside_go_to_the_store() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("db")).unwrap();
        let id = InstanceId::parse("i1").unwrap();
        assert!(!active());
        record(Step::Finished { state: "succeeded".into(), detail: String::new() }).await;
        let op = OperationId::parse("op-1").unwrap();
        within(Scope::operation(store.clone(), id.clone(), op.clone(), "create"), async {
            assert!(active());
            record(Step::Finished { state: "failed".into(), detail: "x".into() }).await;
        })
        .await;
        let steps = store.journal_of(&id).unwrap();
        assert_eq!(steps.len(), 1);
        assert_eq!(steps[0].operation_id.as_ref(), Some(&op));
        assert_eq!(steps[0].activity, "create");
        assert_eq!(steps[0].step["state"], "failed");
    }
}

//! `on-demand-broker history INSTANCE`: the timeline of one instance from a running broker's
//! journal — each operation, bind and unbind, newest first, with its steps in order.

use super::ConnectionArgs;
use crate::journal::{describe_step, field_text, StepMarkup};
use clap::Args;
use serde_json::Value;
use std::process::ExitCode;

/// Options of `history`.
#[derive(Debug, Clone, Args)]
pub struct HistoryArgs {
    /// How to reach the broker.
    #[command(flatten)]
    pub connection: ConnectionArgs,
    /// The service instance id.
    pub instance: String,
    /// `text` (a readable timeline) or `json` (what the broker answered).
    #[arg(long, default_value = "text", value_parser = ["text", "json"])]
    pub format: String,
}

/// Prints the history; exits non-zero when the broker cannot answer.
pub fn history(args: &HistoryArgs) -> ExitCode {
    let entries = match args.connection.client().and_then(|c| c.history(&args.instance)) {
        Ok(e) => e,
        Err(e) => {
            eprintln!("history: {e}");
            return ExitCode::FAILURE;
        }
    };
    if args.format == "json" {
        println!("{}", serde_json::to_string_pretty(&entries).unwrap_or_else(|_| "[]".into()));
    } else {
        print!("{}", timeline(&entries));
    }
    ExitCode::SUCCESS
}

/// Steps as plain text: values as they are, excerpts on lines of their own.
struct PlainText;

impl StepMarkup for PlainText {
    const ARROW: &'static str = "->";

    fn value(&self, text: &str) -> String {
        text.to_string()
    }

    fn excerpt(&self, stream: &str, text: &str) -> String {
        format!("\n      {stream}: {text}")
    }
}

/// One line describing a step.
fn step_line(step: &Value) -> String {
    let at = field_text(step, "at");
    format!("    {at}  {}\n", describe_step(step, &PlainText))
}

/// The readable timeline of the broker's answer.
pub fn timeline(entries: &[Value]) -> String {
    let mut out = String::new();
    if entries.is_empty() {
        out.push_str("no history\n");
    }
    for entry in entries {
        out.push_str(&format!(
            "{}  {}{}{}\n",
            field_text(entry, "started_at"),
            field_text(entry, "activity"),
            match field_text(entry, "operation").as_str() {
                "" => String::new(),
                op => format!(" (operation {op})"),
            },
            match field_text(entry, "state").as_str() {
                "" => String::new(),
                state => format!(": {state}"),
            }
        ));
        let description = field_text(entry, "description");
        if !description.is_empty() {
            out.push_str(&format!("  {description}\n"));
        }
        let error = field_text(entry, "error");
        if !error.is_empty() {
            out.push_str(&format!("  error: {error}\n"));
        }
        for step in entry["steps"].as_array().into_iter().flatten() {
            out.push_str(&step_line(step));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_timeline_shows_each_step_on_its_own_line() {
        let entries = vec![json!({
            "activity": "create",
            "operation": "op-1",
            "state": "failed",
            "description": "Instance provisioning failed",
            "error": "director task 3 ended in state error",
            "started_at": "2026-12-02T00:00:00.000Z",
            "steps": [
                {"at": "t1", "kind": "adapter", "subcommand": "generate-manifest", "outcome": "exit_0", "duration_ms": 12, "stdout": "", "stderr": "log line"},
                {"at": "t2", "kind": "task", "task": 3, "what": "deploy", "state": "submitted"},
                {"at": "t3", "kind": "director", "method": "GET", "path": "/tasks/3", "status": 200, "duration_ms": 1},
                {"at": "t3", "kind": "credhub", "method": "PUT", "path": "/api/v1/data", "status": 503, "duration_ms": 2},
                {"at": "t4", "kind": "finished", "state": "failed", "detail": "director task 3 ended in state error"}
            ]
        })];
        let text = timeline(&entries);
        assert!(
            text.starts_with("2026-12-02T00:00:00.000Z  create (operation op-1): failed\n"),
            "{text}"
        );
        assert!(text.contains("    t3  credhub PUT /api/v1/data -> 503 (2 ms)\n"), "{text}");
        assert!(
            text.contains(
                "    t1  adapter generate-manifest exit_0 (12 ms)\n      stderr: log line\n"
            ),
            "{text}"
        );
        assert!(text.contains("    t2  task 3 deploy submitted\n"), "{text}");
        assert!(text.contains("    t3  director GET /tasks/3 -> 200 (1 ms)\n"), "{text}");
        assert!(text.contains("    t4  failed: director task 3 ended in state error\n"), "{text}");
        assert_eq!(timeline(&[]), "no history\n");
    }
}

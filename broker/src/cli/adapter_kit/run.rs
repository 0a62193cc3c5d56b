//! Runs one adapter call the way the broker does (through [`crate::adapter::process`]: clean
//! environment, own process group, output cap, timeout), and keeps everything the kit reports
//! on: exit code or signal, both streams, and the time taken.

use super::envelope::Envelope;
use crate::adapter::process::{self, Capped, Outcome, RunError};
use crate::adapter::AdapterProgram;
use crate::config::{AdapterCommand, AdapterSettings};
use std::time::{Duration, Instant};

/// The configured adapter, ready to run: the broker's own command line for it.
#[derive(Debug, Clone)]
pub struct Program(AdapterProgram);

impl std::ops::Deref for Program {
    type Target = AdapterProgram;

    fn deref(&self) -> &AdapterProgram {
        &self.0
    }
}

/// How one call ended.
#[derive(Debug, Clone)]
pub struct CallRecord {
    /// The adapter subcommand.
    pub subcommand: &'static str,
    /// How the process ended: its exit code or signal (neither when it was killed at the
    /// timeout or never ran) and both streams (as far as it wrote them before a timeout).
    pub outcome: Outcome,
    /// How long it ran.
    pub elapsed: Duration,
    /// True when it was killed at the timeout.
    pub timed_out: bool,
    /// Why it could not be started, if it could not.
    pub spawn_error: Option<String>,
}

impl CallRecord {
    /// A call that was not run: why, and how long it took to find out.
    pub fn not_started(subcommand: &'static str, elapsed: Duration, why: String) -> Self {
        Self {
            subcommand,
            outcome: Outcome::default(),
            elapsed,
            timed_out: false,
            spawn_error: Some(why),
        }
    }

    /// Its stdout as text.
    pub fn stdout_text(&self) -> String {
        String::from_utf8_lossy(&self.outcome.stdout.kept).into_owned()
    }

    /// Its stderr as text.
    pub fn stderr_text(&self) -> String {
        String::from_utf8_lossy(&self.outcome.stderr.kept).into_owned()
    }

    /// "exit 0", "signal 9", "killed at the timeout", "not started".
    pub fn status(&self) -> String {
        if self.spawn_error.is_some() {
            "not started".to_string()
        } else if self.timed_out {
            "killed at the timeout".to_string()
        } else if let Some(code) = self.outcome.exit_code {
            format!("exit {code}")
        } else if let Some(signal) = self.outcome.signal {
            format!("signal {signal}")
        } else {
            "unknown status".to_string()
        }
    }
}

impl Program {
    /// The adapter the settings name. The built-in example adapter is this very binary, run
    /// as `<binary> example-adapter <subcommand>`, as the broker runs it.
    ///
    /// A path of a single component (`adapter.py`, from a config in the current directory)
    /// is refused: the runner would look it up on the adapter's clean `PATH`, as the broker
    /// does, and not find it.
    pub fn new(settings: &AdapterSettings) -> Result<Self, String> {
        if let AdapterCommand::Executable(p) = &settings.command {
            if p.components().count() == 1 && p.is_relative() {
                return Err(format!(
                    "service_adapter.path '{}' has no directory part, so it would be looked up on PATH and not found: write ./{} or an absolute path (or run from another directory)",
                    p.display(),
                    p.display()
                ));
            }
        }
        AdapterProgram::new(settings.clone()).map(Self).map_err(|e| e.to_string())
    }

    /// Whether calls carry their input on stdin (`true`) or as legacy positional arguments.
    pub fn use_stdin(&self) -> bool {
        self.settings.use_stdin
    }

    /// Runs one call with this envelope.
    pub async fn run(&self, envelope: &Envelope) -> CallRecord {
        let inv =
            self.invocation(envelope.subcommand, envelope.stdin.clone(), &envelope.legacy_args);
        let started = Instant::now();
        let result = process::run(&inv).await;
        let elapsed = started.elapsed();
        let (outcome, timed_out) = match result {
            Ok(outcome) => (outcome, false),
            // What it wrote before it was killed; nothing else of how it ended counts.
            Err(RunError::TimedOut(_, o)) => {
                let outcome = Outcome {
                    stdout: Capped::from(o.stdout.kept),
                    stderr: Capped::from(o.stderr.kept),
                    ..Outcome::default()
                };
                (outcome, true)
            }
            Err(e @ RunError::Spawn { .. }) => {
                return CallRecord::not_started(envelope.subcommand, elapsed, e.to_string())
            }
        };
        CallRecord {
            subcommand: envelope.subcommand,
            outcome,
            elapsed,
            timed_out,
            spawn_error: None,
        }
    }
}

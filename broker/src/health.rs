//! Readiness: whether this broker can do its work, checked in the background so that a load
//! balancer or BOSH health check polling `GET /health/ready` costs nothing per request.
//!
//! Ready means: the store takes a write transaction, the adapter executable is present and
//! executable, and the director answered within the last three check intervals. Each change
//! between ready and not ready is logged once, with the reason; the endpoint itself says only
//! `{"status": "ready"}` or `{"status": "unready"}`.

use crate::config::{AdapterCommand, Config};
use crate::director::Director;
use crate::store::Store;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The latest outcome of the checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// Why the broker is not ready; empty when it is.
    pub problems: Vec<String>,
}

impl Report {
    /// Whether every check passed.
    pub fn ready(&self) -> bool {
        self.problems.is_empty()
    }
}

/// The readiness of the broker, updated by [`Readiness::run`].
pub struct Readiness {
    config: Arc<Config>,
    store: Store,
    director: Arc<dyn Director>,
    state: Mutex<State>,
}

struct State {
    report: Report,
    director_answered: Option<Instant>,
}

impl Readiness {
    /// Readiness of a broker over these collaborators; not ready until the first check.
    pub fn new(config: Arc<Config>, store: Store, director: Arc<dyn Director>) -> Self {
        Self {
            config,
            store,
            director,
            state: Mutex::new(State {
                report: Report { problems: vec!["not checked yet".into()] },
                director_answered: None,
            }),
        }
    }

    /// The latest report.
    pub fn report(&self) -> Report {
        self.state.lock().expect("readiness").report.clone()
    }

    fn interval(&self) -> Duration {
        self.config.broker.readiness_interval
    }

    /// Runs every check once and records the outcome.
    pub async fn check(&self) -> Report {
        let mut problems = Vec::new();
        let store = self.store.clone();
        let writable = store.run(|s| s.check_writable()).await;
        if let Err(e) = writable {
            problems.push(format!("the store cannot be written: {e}"));
        }
        if let Err(e) = adapter_present(&self.config.adapter.command) {
            problems.push(e);
        }
        let answered = tokio::time::timeout(self.interval(), self.director.info()).await;
        let now = Instant::now();
        let mut state = self.state.lock().expect("readiness");
        match answered {
            Ok(Ok(_)) => state.director_answered = Some(now),
            Ok(Err(e)) => tracing::debug!(error = %e, "readiness: the director did not answer"),
            Err(_) => tracing::debug!("readiness: the director did not answer in time"),
        }
        let recent =
            state.director_answered.is_some_and(|t| now.duration_since(t) <= self.interval() * 3);
        if !recent {
            problems.push("the director has not answered recently".into());
        }
        let report = Report { problems };
        if report != state.report {
            if report.ready() {
                tracing::info!("ready");
            } else {
                tracing::warn!(problems = ?report.problems, "not ready");
            }
        }
        state.report = report.clone();
        report
    }

    /// Checks forever, once per `broker.readiness_interval_millis`.
    pub async fn run(self: Arc<Self>) {
        let mut ticker = tokio::time::interval(self.interval());
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            self.check().await;
        }
    }
}

/// Whether the adapter can be started: the executable exists and may be run.
fn adapter_present(command: &AdapterCommand) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt;
    let path = match command {
        AdapterCommand::Executable(path) => path.clone(),
        AdapterCommand::BuiltinExample => std::env::current_exe()
            .map_err(|e| format!("the broker's own executable cannot be found: {e}"))?,
    };
    let meta = std::fs::metadata(&path)
        .map_err(|e| format!("the service adapter {} is missing: {e}", path.display()))?;
    if meta.is_dir() || meta.permissions().mode() & 0o111 == 0 {
        return Err(format!("the service adapter {} is not executable", path.display()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_or_plain_file_is_no_adapter() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nope");
        assert!(adapter_present(&AdapterCommand::Executable(missing))
            .unwrap_err()
            .contains("missing"));
        let plain = dir.path().join("plain");
        std::fs::write(&plain, "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(&plain, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(adapter_present(&AdapterCommand::Executable(plain.clone()))
            .unwrap_err()
            .contains("not executable"));
        std::fs::set_permissions(&plain, std::fs::Permissions::from_mode(0o755)).unwrap();
        assert!(adapter_present(&AdapterCommand::Executable(plain)).is_ok());
        assert!(adapter_present(&AdapterCommand::Executable(dir.path().into())).is_err());
    }
}

//! The background worker: drives every in-flight operation, a bounded number at a time, so
//! one slow adapter call does not hold up the others; and prunes the journal by age.

use super::Engine;
use futures_util::StreamExt as _;
use std::sync::Arc;

/// How many operations the worker drives at the same time: enough that a slow adapter call
/// or director answer holds up nobody else, few enough to bound the adapter processes and
/// director calls one tick can start.
pub const MAX_DRIVEN_AT_ONCE: usize = 8;

/// How long the journal keeps a step.
pub const JOURNAL_KEEP: std::time::Duration = std::time::Duration::from_secs(30 * 24 * 3600);

/// How often old journal steps are pruned.
const JOURNAL_PRUNE_EVERY: std::time::Duration = std::time::Duration::from_secs(3600);

impl Engine {
    /// Drives every in-flight operation once, at most [`MAX_DRIVEN_AT_ONCE`] at the same time.
    pub async fn drive_all(&self) {
        match self.store.run(|s| s.in_flight_operations()).await {
            Ok(ops) => {
                futures_util::stream::iter(ops)
                    .for_each_concurrent(MAX_DRIVEN_AT_ONCE, |op| async move {
                        self.drive(&op.id).await;
                    })
                    .await;
            }
            Err(e) => tracing::error!(error = %e, "cannot list in-flight operations"),
        }
    }

    /// The background worker: drives in-flight operations forever, starting with those a
    /// previous process left behind.
    pub async fn run_worker(self: Arc<Self>) {
        match self.store.run(|s| s.in_flight_operations()).await {
            Ok(ops) if !ops.is_empty() => {
                tracing::info!(count = ops.len(), "resuming in-flight operations")
            }
            _ => {}
        }
        let mut ticker = tokio::time::interval(self.config.broker.worker_interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut pruned: Option<std::time::Instant> = None;
        loop {
            ticker.tick().await;
            if pruned.is_none_or(|at| at.elapsed() >= JOURNAL_PRUNE_EVERY) {
                self.prune_journal().await;
                pruned = Some(std::time::Instant::now());
            }
            self.drive_all().await;
        }
    }

    /// Drops journal steps older than [`JOURNAL_KEEP`].
    async fn prune_journal(&self) {
        let before = crate::store::Timestamp::now().saturating_sub(JOURNAL_KEEP);
        match self.store.run(move |s| s.journal_prune(before)).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(steps = n, "pruned old journal steps"),
            Err(e) => tracing::warn!(error = %e, "cannot prune the journal"),
        }
    }
}

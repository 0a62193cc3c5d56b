//! The background worker: drives every in-flight operation, a bounded number at a time, so
//! one slow adapter call does not hold up the others.

use super::Engine;
use futures_util::StreamExt as _;
use std::sync::Arc;

/// How many operations the worker drives at the same time: enough that a slow adapter call
/// or director answer holds up nobody else, few enough to bound the adapter processes and
/// director calls one tick can start.
pub const MAX_DRIVEN_AT_ONCE: usize = 8;

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
        loop {
            ticker.tick().await;
            self.drive_all().await;
        }
    }
}

//! Operation leases in the engine, for several replicas on one database (a shared store):
//! a replica advances an operation only while it holds the operation's lease in the store,
//! renews it while the work runs, confirms it right before each director task it submits,
//! and gives it up when the step is done, so that the next poll or worker tick on any
//! replica can take the operation on. One that lost its lease (paused past its expiry,
//! partitioned) finds out at its next write or confirmation, says so in the log, and writes
//! nothing more for that operation: the store refuses its writes (the fencing epoch, see
//! `store::leases`).
//!
//! With a store only this process uses (SQLite), the in-process lock of each operation is
//! enough, and no lease is written.

use super::{Engine, EngineError};
use crate::ids::OperationId;
use crate::store::{Lease, LeaseOutcome, OperationRecord, StoreError};
use std::future::Future;

/// This replica's name in leases: host, process and a random part, so that a restarted
/// process on the same host is another holder.
pub fn replica_name() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "host".to_string());
    let host: String = host
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
        .take(64)
        .collect();
    let random = uuid::Uuid::new_v4().simple().to_string();
    format!("{host}-{}-{}", std::process::id(), &random[..8])
}

impl Engine {
    /// Whether operations are leased (the store is shared with other replicas).
    fn leases_operations(&self) -> bool {
        self.store.is_shared()
    }

    /// Runs `advance` (which loads and advances the operation `op_id`) while holding the
    /// operation's lease. When another replica holds it, the operation is left to that
    /// replica and its stored state is returned.
    pub(super) async fn with_lease<F>(
        &self, op_id: &OperationId, advance: F,
    ) -> Result<Option<OperationRecord>, EngineError>
    where
        F: Future<Output = Result<Option<OperationRecord>, EngineError>>,
    {
        if !self.leases_operations() {
            return advance.await;
        }
        let (id, owner, length) = (op_id.clone(), self.replica.clone(), self.lease_length());
        let outcome = self.store.run(move |s| s.take_lease(&id, &owner, length)).await?;
        let lease = match outcome {
            LeaseOutcome::Taken { lease, from } => {
                if let Some(previous) = from {
                    tracing::info!(
                        operation = %op_id,
                        previous = %previous.escape_debug(),
                        epoch = lease.epoch,
                        "took the operation over from replica {}, whose lease had expired or was given up",
                        previous.escape_debug()
                    );
                }
                lease
            }
            LeaseOutcome::HeldBy(_) | LeaseOutcome::NotInFlight => {
                return Ok(self.load_op(op_id).await?);
            }
        };
        let renewer = self.spawn_renewer(lease.clone());
        let result = advance.await;
        renewer.abort();
        let store = self.store.clone();
        let held = lease.clone();
        if let Err(e) = store.run(move |s| s.release_lease(&held)).await {
            tracing::warn!(operation = %op_id, error = %e, "could not give the operation's lease up; it expires by itself");
        }
        if let Err(err) = &result {
            if err.is_lease_lost() {
                self.report_lost(&lease);
            }
        }
        result
    }

    /// Renews `lease` every third of its length until aborted or lost.
    fn spawn_renewer(&self, lease: Lease) -> tokio::task::JoinHandle<()> {
        let store = self.store.clone();
        let length = self.lease_length();
        tokio::spawn(async move {
            let mut ticker = tokio::time::interval(length / 3);
            ticker.tick().await;
            loop {
                ticker.tick().await;
                let held = lease.clone();
                match store.run(move |s| s.renew_lease(&held, length)).await {
                    Ok(true) => {}
                    Ok(false) => return,
                    Err(e) => {
                        tracing::warn!(operation = %lease.operation, error = %e, "could not renew the operation's lease")
                    }
                }
            }
        })
    }

    /// Right before a side effect at the director: the lease of `op` must still be this
    /// replica's ([`StoreError::LeaseLost`] otherwise), and is renewed for the step.
    pub(super) async fn confirm_lease(&self, op: &OperationRecord) -> Result<(), EngineError> {
        if !self.leases_operations() {
            return Ok(());
        }
        let lease =
            Lease { operation: op.id.clone(), owner: self.replica.clone(), epoch: op.lease_epoch };
        let length = self.lease_length();
        let held = lease.clone();
        if self.store.run(move |s| s.renew_lease(&held, length)).await? {
            Ok(())
        } else {
            Err(EngineError::Store(StoreError::LeaseLost {
                operation: lease.operation,
                epoch: lease.epoch,
            }))
        }
    }

    fn report_lost(&self, lease: &Lease) {
        tracing::warn!(
            operation = %lease.operation,
            epoch = lease.epoch,
            replica = %self.replica,
            "lost the lease of the operation to another replica: this replica writes nothing more for it"
        );
    }

    fn lease_length(&self) -> std::time::Duration {
        self.config.broker.operation_lease
    }
}

impl EngineError {
    /// True when this replica lost the operation's lease to another one.
    pub fn is_lease_lost(&self) -> bool {
        matches!(self, Self::Store(StoreError::LeaseLost { .. }))
    }
}

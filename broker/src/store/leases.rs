//! Operation leases, for several replicas on one database: an operation is driven only by the
//! replica that holds its lease (owner, expiry), and every take-over increments its fencing
//! epoch. Saving an operation is conditional on the epoch it was read under (see
//! `update_operation`), so a replica that lost its lease (paused, partitioned) writes nothing
//! for it any more, whatever it was doing when it stopped.
//!
//! Expiry is in Unix milliseconds of the replica that writes it: replicas need clocks within
//! a fraction of the lease length of each other (NTP gives milliseconds). A clock further
//! off costs liveness (a lease taken over early or late), never safety: the epoch decides
//! who may write.

use super::db::SqlExt as _;
use super::{Store, StoreResult, Timestamp};
use crate::ids::OperationId;
use rusqlite::params;
use std::time::Duration;

/// A held lease: who holds it, and the epoch it holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    /// The operation.
    pub operation: OperationId,
    /// The replica holding it.
    pub owner: String,
    /// The fencing epoch this holder writes under.
    pub epoch: i64,
}

/// What [`Store::take_lease`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LeaseOutcome {
    /// The lease is this replica's now.
    Taken {
        /// The lease.
        lease: Lease,
        /// The replica whose expired lease was taken over, if another held it.
        from: Option<String>,
    },
    /// Another replica holds the lease, and it has not expired.
    HeldBy(String),
    /// The operation is finished, or not recorded.
    NotInFlight,
}

fn millis(length: Duration) -> i64 {
    i64::try_from(length.as_millis()).unwrap_or(i64::MAX)
}

/// Refuses with [`super::StoreError::LeaseLost`] when a replica other than `owner` has held
/// the lease of `operation`: the operation goes on there, so `owner` must not undo it.
pub(super) fn ensure_not_taken_over(
    tx: &dyn super::db::Sql, operation: &OperationId, owner: &str,
) -> StoreResult<()> {
    let holder = tx.query_opt(
        "SELECT lease_owner, lease_epoch FROM operations WHERE id = ?1",
        params![operation],
        |r| {
            Ok((
                super::columns::get::<Option<String>>(r, "operations.lease_owner")?,
                super::columns::get::<i64>(r, "operations.lease_epoch")?,
            ))
        },
    )?;
    match holder {
        Some((Some(holder), epoch)) if holder != owner => {
            Err(super::StoreError::LeaseLost { operation: operation.clone(), epoch: epoch - 1 })
        }
        _ => Ok(()),
    }
}

impl Store {
    /// Takes the lease of an in-flight operation for `owner`, for `length`: free, expired or
    /// already `owner`'s. Taking it from another holder (or after an expiry) increments the
    /// epoch; renewing one's own live lease keeps it.
    pub fn take_lease(
        &self, operation: &OperationId, owner: &str, length: Duration,
    ) -> StoreResult<LeaseOutcome> {
        self.write_returning(super::db::Durability::Full, |tx| {
            let now = Timestamp::now().unix_millis();
            let current = tx.query_opt(
                "SELECT state, lease_owner, lease_expires_ms, lease_epoch FROM operations WHERE id = ?1",
                params![operation],
                |r| {
                    Ok((
                        super::columns::get::<super::OperationState>(r, "operations.state")?,
                        super::columns::get::<Option<String>>(r, "operations.lease_owner")?,
                        super::columns::get::<i64>(r, "operations.lease_expires_ms")?,
                        super::columns::get::<i64>(r, "operations.lease_epoch")?,
                    ))
                },
            )?;
            let Some((state, holder, expires, epoch)) = current else {
                return Ok((LeaseOutcome::NotInFlight, false));
            };
            if state != super::OperationState::InProgress {
                return Ok((LeaseOutcome::NotInFlight, false));
            }
            let live = expires > now;
            let mine = holder.as_deref() == Some(owner);
            if live && !mine {
                return Ok((LeaseOutcome::HeldBy(holder.unwrap_or_default()), false));
            }
            let epoch = if live && mine { epoch } else { epoch + 1 };
            tx.execute(
                "UPDATE operations SET lease_owner = ?2, lease_expires_ms = ?3, lease_epoch = ?4 WHERE id = ?1",
                params![operation, owner, now.saturating_add(millis(length)), epoch],
            )?;
            let from = holder.filter(|h| h != owner);
            let lease = Lease {
                operation: operation.clone(),
                owner: owner.to_string(),
                epoch,
            };
            Ok((LeaseOutcome::Taken { lease, from }, false))
        })
    }

    /// Extends a held lease by `length` from now. False when it is not held any more (taken
    /// over by another replica): the holder must stop writing for the operation.
    pub fn renew_lease(&self, lease: &Lease, length: Duration) -> StoreResult<bool> {
        let until = Timestamp::now().unix_millis().saturating_add(millis(length));
        self.conn(|c| {
            let n = c.execute(
                "UPDATE operations SET lease_expires_ms = ?4
                 WHERE id = ?1 AND lease_owner = ?2 AND lease_epoch = ?3",
                params![lease.operation, lease.owner, lease.epoch, until],
            )?;
            Ok(n > 0)
        })
    }

    /// Gives a held lease up, so that any replica can drive the operation at once; nothing
    /// happens when it is not held any more.
    pub fn release_lease(&self, lease: &Lease) -> StoreResult<()> {
        self.conn(|c| {
            c.execute(
                "UPDATE operations SET lease_expires_ms = 0
                 WHERE id = ?1 AND lease_owner = ?2 AND lease_epoch = ?3",
                params![lease.operation, lease.owner, lease.epoch],
            )?;
            Ok(())
        })
    }
}

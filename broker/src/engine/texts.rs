//! The user-facing texts of operations: what `last_operation` says while an operation runs,
//! when it succeeded and when it failed.

use crate::store::OperationKind;

/// User-facing texts of an operation kind: (in progress, succeeded, failed prefix).
pub(super) fn texts(kind: OperationKind) -> (&'static str, &'static str, &'static str) {
    match kind {
        OperationKind::Create => (
            "Instance provisioning in progress",
            "Instance provisioning completed",
            "Instance provisioning failed",
        ),
        OperationKind::Update => {
            ("Instance update in progress", "Instance update completed", "Instance update failed")
        }
        OperationKind::Upgrade => (
            "Instance upgrade in progress",
            "Instance upgrade completed",
            "Instance upgrade failed",
        ),
        OperationKind::Recreate => (
            "Instance recreate in progress",
            "Instance recreate completed",
            "Instance recreate failed",
        ),
        OperationKind::Delete => (
            "Instance deletion in progress",
            "Instance deletion completed",
            "Instance deletion failed",
        ),
    }
}

/// The description of an operation in progress.
pub fn in_progress_text(kind: OperationKind) -> &'static str {
    texts(kind).0
}

//! Why a use case refused or failed: one typed error for every use case, which the HTTP
//! layer maps to OSB answers in one place (`api::error::answer`).

use crate::adapter::AdapterError;
use crate::engine::EngineError;
use crate::store::StoreError;

/// A failure of one of the broker's collaborators, with what the request was doing.
#[derive(Debug)]
pub struct Failure<E> {
    /// The instance the request was about (`-` when none).
    pub instance: String,
    /// What the user asked for, in the words of the generic message ("create", "update", ...).
    pub action: &'static str,
    /// The operation named in the generic message and the log.
    pub operation: &'static str,
    /// The failure.
    pub source: E,
}

/// Why a use case did not complete. Variants with a `String` carry the user-facing text;
/// collaborator failures are boxed, so the common refusals stay small.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// The request is malformed or names something the catalog does not have (400).
    #[error("{0}")]
    BadRequest(String),
    /// The instance or binding does not exist (404).
    #[error("{0}")]
    NotFound(String),
    /// The instance or binding is gone (410); with a description, or `{}`.
    #[error("gone")]
    Gone(Option<String>),
    /// The request conflicts with what exists (409).
    #[error("{0}")]
    Conflict(String),
    /// The request cannot be carried out as asked (422).
    #[error("{0}")]
    Unprocessable(String),
    /// Another operation is in the way (422 `ConcurrencyError`).
    #[error("{0}")]
    Concurrency(String),
    /// The request names maintenance info the catalog does not have (422
    /// `MaintenanceInfoConflict`).
    #[error("{0}")]
    MaintenanceInfoConflict(String),
    /// The operation is asynchronous and the platform did not say it accepts that (422
    /// `AsyncRequired`).
    #[error("the request must accept an asynchronous answer")]
    AsyncRequired,
    /// The broker cannot do it right now; the text says so (500).
    #[error("{0}")]
    Unavailable(String),
    /// The operation engine failed.
    #[error("{}", .0.source)]
    Engine(Box<Failure<EngineError>>),
    /// The service adapter failed.
    #[error("{}", .0.source)]
    Adapter(Box<Failure<AdapterError>>),
    /// The state store failed.
    #[error("{}", .0.source)]
    Store(Box<Failure<StoreError>>),
}

/// Result of a use case.
pub type ServiceResult<T> = Result<T, ServiceError>;

impl ServiceError {
    /// An engine failure while doing `action` (`operation` in messages) on `instance`.
    pub fn engine(
        instance: &str, action: &'static str, operation: &'static str, source: EngineError,
    ) -> Self {
        Self::Engine(Box::new(Failure {
            instance: instance.to_string(),
            action,
            operation,
            source,
        }))
    }

    /// An adapter failure during `operation` on `instance`.
    pub fn adapter(instance: &str, operation: &'static str, source: AdapterError) -> Self {
        Self::Adapter(Box::new(Failure {
            instance: instance.to_string(),
            action: operation,
            operation,
            source,
        }))
    }

    /// A store failure during `operation` on `instance`.
    pub fn store(instance: &str, operation: &'static str, source: StoreError) -> Self {
        Self::Store(Box::new(Failure {
            instance: instance.to_string(),
            action: operation,
            operation,
            source,
        }))
    }
}

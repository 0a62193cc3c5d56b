//! Errors an adapter returns to the SDK, and the exit codes they map to.

use std::fmt::Display;

use crate::{
    APP_GUID_NOT_PROVIDED_ERROR_EXIT_CODE, BINDING_ALREADY_EXISTS_ERROR_EXIT_CODE,
    BINDING_NOT_FOUND_ERROR_EXIT_CODE, ERROR_EXIT_CODE,
};

/// An error from adapter (business) code.
///
/// The SDK writes its text to stdout with no trailing newline, so the broker can show it
/// to the platform user, and also to stderr as `[odb-sdk] <text>`. The typed kinds map to
/// the exit codes the broker turns into OSB answers (409, 422, 410).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AdapterError {
    /// create-binding: the binding exists already (exit 49, OSB 409).
    #[error("binding already exists: {0}")]
    BindingAlreadyExists(String),
    /// create-binding: the request has no app GUID and the service needs one (exit 42, OSB 422).
    #[error("app GUID not provided: {0}")]
    AppGuidNotProvided(String),
    /// delete-binding: there is no such binding (exit 41, OSB 410).
    #[error("binding not found: {0}")]
    BindingNotFound(String),
    /// Any other failure (exit 1); the text is shown verbatim.
    #[error("{0}")]
    Other(String),
}

impl AdapterError {
    /// A [`AdapterError::BindingAlreadyExists`] with `message` after the fixed prefix.
    pub fn binding_already_exists(message: impl Display) -> Self {
        AdapterError::BindingAlreadyExists(message.to_string())
    }

    /// A [`AdapterError::AppGuidNotProvided`] with `message` after the fixed prefix.
    pub fn app_guid_not_provided(message: impl Display) -> Self {
        AdapterError::AppGuidNotProvided(message.to_string())
    }

    /// A [`AdapterError::BindingNotFound`] with `message` after the fixed prefix.
    pub fn binding_not_found(message: impl Display) -> Self {
        AdapterError::BindingNotFound(message.to_string())
    }

    /// A plain failure with exactly `message` as its text.
    pub fn other(message: impl Display) -> Self {
        AdapterError::Other(message.to_string())
    }

    /// The process exit code for this error.
    pub fn exit_code(&self) -> i32 {
        match self {
            AdapterError::BindingAlreadyExists(_) => BINDING_ALREADY_EXISTS_ERROR_EXIT_CODE,
            AdapterError::AppGuidNotProvided(_) => APP_GUID_NOT_PROVIDED_ERROR_EXIT_CODE,
            AdapterError::BindingNotFound(_) => BINDING_NOT_FOUND_ERROR_EXIT_CODE,
            AdapterError::Other(_) => ERROR_EXIT_CODE,
        }
    }
}

impl From<crate::helpers::HelperError> for AdapterError {
    fn from(error: crate::helpers::HelperError) -> Self {
        AdapterError::Other(error.to_string())
    }
}

impl From<crate::yaml::YamlError> for AdapterError {
    fn from(error: crate::yaml::YamlError) -> Self {
        AdapterError::Other(error.to_string())
    }
}

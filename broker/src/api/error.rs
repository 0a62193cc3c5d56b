//! The one error type of the HTTP layer, rendered as an OSB error body.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde_json::{json, Map, Value};

/// An OSB error response: status, optional `error` code and a `description` that says what
/// went wrong and what to do.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// OSB error code (`AsyncRequired`, `ConcurrencyError`, ...).
    pub code: Option<&'static str>,
    /// User-facing text; `None` renders `{}`.
    pub description: Option<String>,
    /// Extra body fields (`instance_usable`, ...).
    pub extra: Map<String, Value>,
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {}",
            self.status.as_u16(),
            self.description.as_deref().unwrap_or("")
        )
    }
}

impl ApiError {
    /// An error with a description.
    pub fn new(status: StatusCode, description: impl Into<String>) -> Self {
        Self {
            status,
            code: None,
            description: Some(description.into()),
            extra: Map::new(),
        }
    }

    /// An error whose body is `{}`.
    pub fn empty(status: StatusCode) -> Self {
        Self {
            status,
            code: None,
            description: None,
            extra: Map::new(),
        }
    }

    /// Adds an OSB error code.
    pub fn with_code(mut self, code: &'static str) -> Self {
        self.code = Some(code);
        self
    }

    /// 400 with a description.
    pub fn bad_request(description: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, description)
    }

    /// 404 with a description.
    pub fn not_found(description: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, description)
    }

    /// 409 with a description.
    pub fn conflict(description: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, description)
    }

    /// 410 `{}`.
    pub fn gone() -> Self {
        Self::empty(StatusCode::GONE)
    }

    /// 422 with a description.
    pub fn unprocessable(description: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, description)
    }

    /// 500 with a description.
    pub fn internal(description: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, description)
    }

    /// 422 `AsyncRequired`.
    pub fn async_required() -> Self {
        Self::unprocessable(
            "This service plan requires client support for asynchronous service operations: add accepts_incomplete=true to the request.",
        )
        .with_code("AsyncRequired")
    }

    /// 422 `ConcurrencyError`.
    pub fn concurrency(description: impl Into<String>) -> Self {
        Self::unprocessable(description).with_code("ConcurrencyError")
    }

    /// The JSON body.
    pub fn body(&self) -> Value {
        let mut body = Map::new();
        if let Some(code) = self.code {
            body.insert("error".into(), json!(code));
        }
        if let Some(d) = &self.description {
            body.insert("description".into(), json!(d));
        }
        for (k, v) in &self.extra {
            body.insert(k.clone(), v.clone());
        }
        Value::Object(body)
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        HttpResponse::build(self.status).json(self.body())
    }
}

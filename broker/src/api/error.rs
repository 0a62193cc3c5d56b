//! The one error type of the HTTP layer, rendered as an OSB error body, and the one place
//! where use-case errors become OSB answers.

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
        write!(f, "{} {}", self.status.as_u16(), self.description.as_deref().unwrap_or(""))
    }
}

impl ApiError {
    /// An error with a description.
    pub fn new(status: StatusCode, description: impl Into<String>) -> Self {
        Self { status, code: None, description: Some(description.into()), extra: Map::new() }
    }

    /// An error whose body is `{}`.
    pub fn empty(status: StatusCode) -> Self {
        Self { status, code: None, description: None, extra: Map::new() }
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

/// The OSB answer to a use-case error. Failures of the broker's collaborators are logged
/// with the request id (the operator's detail) and answered with a message the user can act
/// on; with `broker.expose_operational_errors` the detail is appended.
pub fn answer(
    broker: &crate::service::Broker, request_id: &str, err: crate::service::ServiceError,
) -> ApiError {
    use crate::service::ServiceError as E;
    match err {
        E::BadRequest(m) => ApiError::bad_request(m),
        E::NotFound(m) => ApiError::not_found(m),
        E::Gone(None) => ApiError::gone(),
        E::Gone(Some(m)) => ApiError::new(StatusCode::GONE, m),
        E::Conflict(m) => ApiError::conflict(m),
        E::Unprocessable(m) => ApiError::unprocessable(m),
        E::Concurrency(m) => ApiError::concurrency(m),
        E::MaintenanceInfoConflict(m) => {
            ApiError::unprocessable(m).with_code("MaintenanceInfoConflict")
        }
        E::AsyncRequired => ApiError::async_required(),
        E::Unavailable(m) => ApiError::internal(m),
        E::Engine(f) => engine_answer(broker, request_id, *f),
        E::Adapter(f) => adapter_answer(broker, request_id, *f),
        E::Store(f) => {
            tracing::error!(request_id, instance = %f.instance, operation = f.operation, error = %f.source, "state store failed");
            ApiError::internal(broker.generic_message(&f.instance, request_id, f.operation))
        }
    }
}

/// Appends the operator detail when `broker.expose_operational_errors` is on.
fn exposed(
    broker: &crate::service::Broker, mut api: ApiError, detail: &dyn std::fmt::Display,
) -> ApiError {
    if broker.config().broker.expose_operational_errors {
        let d = api.description.take().unwrap_or_default();
        api.description = Some(format!("{d} - error-message: {detail}"));
    }
    api
}

fn engine_answer(
    broker: &crate::service::Broker, request_id: &str,
    f: crate::service::Failure<crate::engine::EngineError>,
) -> ApiError {
    use crate::engine::EngineError;
    tracing::warn!(request_id, instance = %f.instance, operation = f.operation, error = %f.source, "request failed");
    let err = &f.source;
    match f.source {
        EngineError::Adapter(source) => adapter_answer(
            broker,
            request_id,
            crate::service::Failure {
                instance: f.instance,
                action: f.action,
                operation: f.operation,
                source,
            },
        ),
        EngineError::PendingChanges => ApiError::unprocessable(
            "The service broker has been updated, and this service instance is out of date. Please contact your operator.",
        ),
        EngineError::TaskInProgress(_) => ApiError::concurrency(
            "An operation is in progress for your service instance. Please try again later.",
        ),
        EngineError::Director(ref d) if d.is_unavailable() => exposed(
            broker,
            ApiError::internal(format!(
                "Currently unable to {} service instance, please try again later",
                f.action
            )),
            err,
        ),
        ref e if e.is_config_server_unavailable() => exposed(
            broker,
            ApiError::internal(format!(
                "Currently unable to {} service instance: the credential store is not answering, please try again later",
                f.action
            )),
            err,
        ),
        EngineError::DeploymentNotFound(ref d) => exposed(
            broker,
            ApiError::internal(format!("bosh deployment '{d}' not found")),
            err,
        ),
        EngineError::PlanNotFound(ref p) => {
            ApiError::internal(format!("plan {p} not found in the catalog"))
        }
        _ => exposed(
            broker,
            ApiError::internal(broker.generic_message(&f.instance, request_id, f.operation)),
            err,
        ),
    }
}

fn adapter_answer(
    broker: &crate::service::Broker, request_id: &str,
    f: crate::service::Failure<crate::adapter::AdapterError>,
) -> ApiError {
    use crate::adapter::AdapterError;
    tracing::warn!(request_id, instance = %f.instance, operation = f.operation, error = %f.source, "service adapter failed");
    match &f.source {
        AdapterError::BindingAlreadyExists(_) => ApiError::conflict("binding already exists"),
        AdapterError::BindingNotFound(_) => ApiError::gone(),
        AdapterError::AppGuidNotProvided(_) => {
            ApiError::unprocessable("app_guid is a required field but was not provided")
                .with_code("RequiresApp")
        }
        AdapterError::NotImplemented(subcommand) => ApiError::internal(format!(
            "The service adapter does not implement {subcommand}, which this request needs. Please contact your operations team providing the following information: service: {}, service-instance-guid: {}, broker-request-id: {request_id}",
            broker.config().catalog.service_name, f.instance
        )),
        other => match other.user_message() {
            Some(msg) => ApiError::internal(msg.to_string()),
            None => exposed(
                broker,
                ApiError::internal(broker.generic_message(&f.instance, request_id, f.operation)),
                other,
            ),
        },
    }
}

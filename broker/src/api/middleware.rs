//! What every request goes through before its handler runs.
//!
//! * The request span ([`RequestSpan`], a `tracing-actix-web` root span builder): one span
//!   per request holding the request id, the method and the route template — never the raw
//!   path, whose ids are the caller's — entered for the whole request, so every log line a
//!   handler writes carries the request id. When the request ends, one access line (status,
//!   elapsed time, the path escaped and cut short) and the HTTP metric.
//! * Basic auth (`actix-web-httpauth`) with a constant-time compare; a failure is a `401` with
//!   an OSB error body, and the connection is closed after it.
//! * For `/v2`: the `X-Broker-API-Version` header; for `/v2` and `/mgmt`: the originating
//!   identity, decoded. Both end up in [`RequestMeta`] for the handlers.
//! * `X-Broker-API-Request-Identity` is echoed on every answer.

use super::error::ApiError;
use crate::ids::log_safe;
use crate::redacted::Redacted;
use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::middleware::Next;
use actix_web::{web, Error, HttpMessage, HttpResponse, ResponseError};
use actix_web_httpauth::extractors::basic::BasicAuth;
use base64::Engine as _;
use std::time::{Duration, Instant};
use subtle::ConstantTimeEq;
use tracing::Span;
use tracing_actix_web::{RequestId, RootSpanBuilder};

/// The credentials platforms must present.
#[derive(Debug, Clone)]
pub struct Credentials {
    /// Expected user name.
    pub username: String,
    /// Expected password (never shown by `Debug`).
    pub password: Redacted<String>,
}

impl Credentials {
    /// Whether `presented` are these credentials, compared in constant time.
    pub fn accept(&self, presented: Option<&BasicAuth>) -> bool {
        let Some(presented) = presented else {
            return false;
        };
        let user_ok = presented.user_id().as_bytes().ct_eq(self.username.as_bytes());
        let pass_ok =
            presented.password().unwrap_or_default().as_bytes().ct_eq(self.password.as_bytes());
        (user_ok & pass_ok).into()
    }
}

/// Facts about the current request, available to handlers as `web::ReqData<RequestMeta>`.
#[derive(Debug, Clone, Default)]
pub struct RequestMeta {
    /// The broker's id for this request, in every log line and generic error message.
    pub request_id: String,
    /// The minor version of `X-Broker-API-Version` (2.x).
    pub api_minor: u32,
    /// The platform of `X-Broker-API-Originating-Identity`.
    pub originating_platform: Option<String>,
    /// The decoded identity object of `X-Broker-API-Originating-Identity`.
    pub originating_identity: Option<serde_json::Value>,
}

impl RequestMeta {
    /// Who calls the use cases for this request.
    pub fn caller(&self) -> crate::service::Caller<'_> {
        crate::service::Caller { request_id: &self.request_id }
    }

    /// Refuses an endpoint that OSB only has from version 2.14 on.
    pub fn require_2_14(&self, endpoint: &str) -> Result<(), ApiError> {
        if self.api_minor < 14 {
            return Err(ApiError::new(
                StatusCode::PRECONDITION_FAILED,
                format!("{endpoint} endpoint only supported starting with OSB version 2.14"),
            ));
        }
        Ok(())
    }
}

/// The lowest OSB minor version accepted (2.13).
pub const MIN_MINOR: u32 = 13;

const REQUEST_IDENTITY: &str = "x-broker-api-request-identity";

fn header<'a>(req: &'a ServiceRequest, name: &str) -> Option<&'a str> {
    req.headers().get(name).and_then(|v| v.to_str().ok())
}

/// The id tracing-actix-web gave the request (empty if it gave none).
fn request_id(req: &ServiceRequest) -> String {
    req.extensions().get::<RequestId>().map(ToString::to_string).unwrap_or_default()
}

/// When the request started, kept in its extensions for the access line.
#[derive(Clone, Copy)]
struct Started(Instant);

/// The request span of every request.
pub struct RequestSpan;

impl RootSpanBuilder for RequestSpan {
    fn on_request_start(request: &ServiceRequest) -> Span {
        request.extensions_mut().insert(Started(Instant::now()));
        let request_id = request_id(request);
        // The method is the caller's: escaped and cut short. The route is ours.
        tracing::info_span!(
            "request",
            request_id = %request_id,
            method = %log_safe(request.method().as_str(), 16),
            route = %request.match_pattern().unwrap_or_else(|| "unmatched".into()),
        )
    }

    fn on_request_end<B: MessageBody>(span: Span, outcome: &Result<ServiceResponse<B>, Error>) {
        let _entered = span.enter();
        let Ok(response) = outcome else {
            return;
        };
        let request = response.request();
        let status = response.status().as_u16();
        let elapsed =
            request.extensions().get::<Started>().map_or(Duration::ZERO, |s| s.0.elapsed());
        if let Some(metrics) = request.app_data::<web::Data<crate::metrics::Metrics>>() {
            let route = request.match_pattern();
            metrics.http_answered(
                request.method().as_str(),
                route.as_deref().unwrap_or("unmatched"),
                status,
                elapsed,
            );
        }
        let elapsed_ms = elapsed.as_millis() as u64;
        let identity =
            request.extensions().get::<RequestMeta>().and_then(|m| m.originating_identity.clone());
        tracing::info!(
            status,
            elapsed_ms,
            path = %log_safe(request.path(), 256),
            originating_identity = ?identity,
            "request completed"
        );
        audit(request, status, identity.as_ref());
    }
}

/// What a state-changing request asks for, from its method and route; `None` for reads.
fn audited_action(request: &actix_web::HttpRequest) -> Option<String> {
    let route = request.match_pattern()?;
    let method = request.method().as_str();
    let action = match (method, route.as_str()) {
        ("PUT", "/v2/service_instances/{instance_id}") => "provision",
        ("PATCH", "/v2/service_instances/{instance_id}") => "update",
        ("DELETE", "/v2/service_instances/{instance_id}") => "deprovision",
        ("PUT", "/v2/service_instances/{instance_id}/service_bindings/{binding_id}") => "bind",
        ("DELETE", "/v2/service_instances/{instance_id}/service_bindings/{binding_id}") => "unbind",
        ("PATCH", "/mgmt/service_instances/{instance_id}") => {
            let query = request.query_string();
            return Some(
                match query.split('&').find_map(|kv| kv.strip_prefix("operation_type=")) {
                    Some("upgrade") => "mgmt upgrade".to_string(),
                    Some("recreate") => "mgmt recreate".to_string(),
                    _ => "mgmt operation".to_string(),
                },
            );
        }
        _ => return None,
    };
    Some(action.to_string())
}

/// Who asked, from the decoded originating identity: Cloud Foundry's `user_id`, Kubernetes'
/// `username`, else `unknown`.
pub fn who(identity: Option<&serde_json::Value>) -> String {
    identity
        .and_then(|i| i.get("user_id").or_else(|| i.get("username")))
        .and_then(serde_json::Value::as_str)
        .map_or_else(|| "unknown".to_string(), |w| log_safe(w, 128))
}

/// One line on the `audit` target per state-changing OSB or `/mgmt` call: who, what, which
/// instance and binding, the outcome and the request id (the request span's).
fn audit(request: &actix_web::HttpRequest, status: u16, identity: Option<&serde_json::Value>) {
    let Some(action) = audited_action(request) else {
        return;
    };
    let id_after = |segment: &str| {
        super::extract::raw_segment_after(request, segment)
            .map(|raw| match crate::ids::InstanceId::from_path_segment(raw) {
                Ok(id) => id.to_string(),
                Err(_) => "(invalid)".to_string(),
            })
            .unwrap_or_default()
    };
    let outcome = match status {
        200..=299 => "done",
        400..=499 => "refused",
        _ => "failed",
    };
    tracing::info!(
        target: "audit",
        who = %who(identity),
        action = %action,
        instance = %id_after("service_instances"),
        binding = %id_after("service_bindings"),
        status,
        outcome = %outcome,
        "audit"
    );
}

/// The `401` of a request without the broker's credentials: an OSB error body, a challenge,
/// and no idle connection to keep.
#[derive(Debug)]
pub struct Unauthorized;

impl std::fmt::Display for Unauthorized {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("missing or wrong basic-auth credentials")
    }
}

impl ResponseError for Unauthorized {
    fn status_code(&self) -> StatusCode {
        StatusCode::UNAUTHORIZED
    }

    fn error_response(&self) -> HttpResponse {
        let body = ApiError::new(
            StatusCode::UNAUTHORIZED,
            "Not Authorized: send the broker's basic-auth credentials",
        )
        .body();
        HttpResponse::Unauthorized()
            .insert_header(("WWW-Authenticate", "Basic realm=\"on-demand-broker\""))
            .force_close()
            .json(body)
    }
}

/// The basic-auth check of `/v2`, `/mgmt` and `/metrics` (for
/// `actix_web_httpauth::middleware::HttpAuthentication::with_fn`).
pub async fn authenticate(
    req: ServiceRequest, presented: Option<BasicAuth>,
) -> Result<ServiceRequest, (Error, ServiceRequest)> {
    let accepted = req
        .app_data::<web::Data<Credentials>>()
        .is_some_and(|expected| expected.accept(presented.as_ref()));
    if accepted {
        Ok(req)
    } else {
        tracing::debug!("rejected: missing or wrong basic-auth credentials");
        Err((Unauthorized.into(), req))
    }
}

/// Parses `X-Broker-API-Version`: `Ok(minor)` for an accepted 2.x, else the error to send.
pub fn parse_api_version(value: Option<&str>) -> Result<u32, ApiError> {
    let Some(value) = value else {
        return Err(ApiError::bad_request(
            "X-Broker-API-Version header is missing: send X-Broker-API-Version: 2.17 (any 2.x with x >= 13 is accepted)",
        ));
    };
    let value = value.trim();
    let unsupported = || {
        ApiError::new(
            StatusCode::PRECONDITION_FAILED,
            format!(
                "X-Broker-API-Version '{}' is not supported: send 2.x with x >= {MIN_MINOR}, e.g. 2.17",
                log_safe(value, 32)
            ),
        )
    };
    let (major, minor) = value.split_once('.').ok_or_else(unsupported)?;
    let (major, minor) = (
        major.parse::<u32>().map_err(|_| unsupported())?,
        minor.parse::<u32>().map_err(|_| unsupported())?,
    );
    if major != 2 || minor < MIN_MINOR {
        return Err(unsupported());
    }
    Ok(minor)
}

fn parse_originating_identity(value: &str) -> (Option<String>, Option<serde_json::Value>) {
    let mut parts = value.splitn(2, ' ');
    let platform = parts.next().filter(|p| !p.is_empty()).map(str::to_string);
    let identity = parts
        .next()
        .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b.trim()).ok())
        .and_then(|bytes| serde_json::from_slice(&bytes).ok());
    (platform, identity)
}

/// Reads the version (when `check_version`) and identity headers into [`RequestMeta`].
async fn request_meta(
    req: ServiceRequest, next: Next<impl MessageBody + 'static>, check_version: bool,
) -> Result<ServiceResponse<BoxBody>, Error> {
    let api_minor = if check_version {
        match parse_api_version(header(&req, "x-broker-api-version")) {
            Ok(minor) => minor,
            Err(err) => {
                tracing::debug!("rejected: {err}");
                return Ok(req.error_response(err).map_into_boxed_body());
            }
        }
    } else {
        17
    };
    let (originating_platform, originating_identity) =
        header(&req, "x-broker-api-originating-identity")
            .map(parse_originating_identity)
            .unwrap_or((None, None));
    let request_id = request_id(&req);
    tracing::debug!(
        platform_request_identity = ?header(&req, REQUEST_IDENTITY),
        originating_platform = ?originating_platform,
        originating_identity = ?originating_identity,
        api_minor,
        "request received"
    );
    req.extensions_mut().insert(RequestMeta {
        request_id,
        api_minor,
        originating_platform,
        originating_identity,
    });
    Ok(next.call(req).await?.map_into_boxed_body())
}

/// Middleware for `/v2`: API version and identities.
pub async fn osb_headers(
    req: ServiceRequest, next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    request_meta(req, next, true).await
}

/// Middleware for `/mgmt` and `/metrics`: identities (no version header).
pub async fn mgmt_headers(
    req: ServiceRequest, next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    request_meta(req, next, false).await
}

/// Middleware for every request: echoes `X-Broker-API-Request-Identity`, also on errors.
pub async fn echo_request_identity(
    req: ServiceRequest, next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let identity = header(&req, REQUEST_IDENTITY)
        .filter(|s| !s.is_empty())
        .and_then(|s| HeaderValue::from_str(s).ok());
    let mut res = next.call(req).await?;
    if let Some(id) = identity {
        res.headers_mut().insert(HeaderName::from_static(REQUEST_IDENTITY), id);
    }
    Ok(res)
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    #[test]
    fn version_header_rules() {
        assert_eq!(parse_api_version(None).unwrap_err().status, StatusCode::BAD_REQUEST);
        for bad in ["", "2", "two.13", "3.0", "2.12", "1.17", "2.x"] {
            assert_eq!(
                parse_api_version(Some(bad)).unwrap_err().status,
                StatusCode::PRECONDITION_FAILED,
                "{bad}"
            );
        }
        assert_eq!(parse_api_version(Some("2.13")).unwrap(), 13);
        assert_eq!(parse_api_version(Some("2.17")).unwrap(), 17);
        assert_eq!(parse_api_version(Some("2.99")).unwrap(), 99);
    }

    #[test]
    fn originating_identity_is_decoded() {
        let (p, id) = parse_originating_identity("cloudfoundry eyJ1c2VyX2lkIjoiYWJjIn0=");
        assert_eq!(p.as_deref(), Some("cloudfoundry"));
        assert_eq!(id.unwrap()["user_id"], "abc");
        let (p, id) = parse_originating_identity("ROCS v0.2");
        assert_eq!(p.as_deref(), Some("ROCS"));
        assert!(id.is_none());
    }

    async fn presented(authorization: Option<&str>) -> Option<BasicAuth> {
        use actix_web::FromRequest;
        let mut req = TestRequest::default();
        if let Some(a) = authorization {
            req = req.insert_header(("Authorization", a));
        }
        let (req, mut payload) = req.to_http_parts();
        Option::<BasicAuth>::from_request(&req, &mut payload).await.unwrap()
    }

    #[actix_web::test]
    async fn only_the_exact_credentials_are_accepted() {
        let expected =
            Credentials { username: "admin".into(), password: Redacted("secret".into()) };
        let basic = |u: &str, p: &str| {
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(format!("{u}:{p}"))
            )
        };
        assert!(expected.accept(presented(Some(&basic("admin", "secret"))).await.as_ref()));
        for wrong in [
            basic("admin", "secre"),
            basic("admin", "secrets"),
            basic("Admin", "secret"),
            basic("admin", ""),
            "Bearer abc".to_string(),
            "Basic !!!".to_string(),
        ] {
            assert!(!expected.accept(presented(Some(&wrong)).await.as_ref()), "{wrong}");
        }
        assert!(!expected.accept(presented(None).await.as_ref()));
    }

    #[test]
    fn who_is_the_platform_user() {
        use serde_json::json;
        assert_eq!(who(Some(&json!({"user_id": "cf-user"}))), "cf-user");
        assert_eq!(who(Some(&json!({"username": "k8s-user"}))), "k8s-user");
        assert_eq!(who(Some(&json!({"other": 1}))), "unknown");
        assert_eq!(who(None), "unknown");
        assert_eq!(who(Some(&json!({"user_id": "a\nb"}))), "a\\nb");
    }

    #[test]
    fn the_401_closes_the_connection_and_challenges() {
        let response = Unauthorized.error_response();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert!(response.headers().contains_key("www-authenticate"));
        assert_eq!(response.head().connection_type(), actix_web::http::ConnectionType::Close);
    }
}

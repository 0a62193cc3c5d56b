//! Request checks every `/v2` call goes through: request identity, basic auth, and the
//! `X-Broker-API-Version` header. `/mgmt` calls go through the identity and auth checks.

use super::error::ApiError;
use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::http::{ConnectionType, StatusCode};
use actix_web::middleware::Next;
use actix_web::{web, HttpMessage, HttpResponse};
use base64::Engine as _;
use subtle::ConstantTimeEq;

/// The credentials platforms must present.
#[derive(Clone)]
pub struct Credentials {
    /// Expected user name.
    pub username: String,
    /// Expected password.
    pub password: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

/// Facts about the current request, available to handlers as `web::ReqData<RequestMeta>`.
#[derive(Debug, Clone, Default)]
pub struct RequestMeta {
    /// The broker's id for this request, in every log line and generic error message.
    pub request_id: String,
    /// `X-Broker-API-Request-Identity`, echoed in the response.
    pub platform_request_identity: Option<String>,
    /// The minor version of `X-Broker-API-Version` (2.x).
    pub api_minor: u32,
    /// The platform of `X-Broker-API-Originating-Identity`.
    pub originating_platform: Option<String>,
    /// The decoded identity object of `X-Broker-API-Originating-Identity`.
    pub originating_identity: Option<serde_json::Value>,
}

/// The lowest OSB minor version accepted (2.13).
pub const MIN_MINOR: u32 = 13;

const REQUEST_IDENTITY: &str = "x-broker-api-request-identity";

fn header(req: &ServiceRequest, name: &str) -> Option<String> {
    req.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

fn check_auth(req: &ServiceRequest, expected: &Credentials) -> bool {
    let Some(value) = header(req, "authorization") else {
        return false;
    };
    let Some(encoded) = value
        .strip_prefix("Basic ")
        .or_else(|| value.strip_prefix("basic "))
    else {
        return false;
    };
    let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(encoded.trim()) else {
        return false;
    };
    let Some(colon) = decoded.iter().position(|&b| b == b':') else {
        return false;
    };
    let (user, pass) = (&decoded[..colon], &decoded[colon + 1..]);
    let user_ok = user.ct_eq(expected.username.as_bytes());
    let pass_ok = pass.ct_eq(expected.password.as_bytes());
    (user_ok & pass_ok).into()
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
            format!("X-Broker-API-Version '{value}' is not supported: send 2.x with x >= {MIN_MINOR}, e.g. 2.17"),
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
        .and_then(|b| {
            base64::engine::general_purpose::STANDARD
                .decode(b.trim())
                .ok()
        })
        .and_then(|bytes| serde_json::from_slice(&bytes).ok());
    (platform, identity)
}

fn respond(req: ServiceRequest, err: ApiError, identity: Option<&str>) -> ServiceResponse<BoxBody> {
    crate::metrics::global().http_answered(req.method().as_str(), err.status.as_u16());
    let mut resp = HttpResponse::build(err.status).json(err.body());
    if err.status == StatusCode::UNAUTHORIZED {
        resp.headers_mut().insert(
            HeaderName::from_static("www-authenticate"),
            HeaderValue::from_static("Basic realm=\"on-demand-broker\""),
        );
    }
    echo_identity(&mut resp, identity);
    req.into_response(resp)
}

fn echo_identity<B>(resp: &mut actix_web::HttpResponse<B>, identity: Option<&str>) {
    if let Some(id) = identity.and_then(|i| HeaderValue::from_str(i).ok()) {
        resp.headers_mut()
            .insert(HeaderName::from_static(REQUEST_IDENTITY), id);
    }
}

async fn guard(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
    check_version: bool,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let identity = header(&req, REQUEST_IDENTITY).filter(|s| !s.is_empty());
    let request_id = uuid::Uuid::new_v4().to_string();
    let credentials = req.app_data::<web::Data<Credentials>>().cloned();
    let authorized = credentials
        .as_ref()
        .map(|c| check_auth(&req, c))
        .unwrap_or(false);
    // The method and path are the caller's: escaped and cut short, so that no request can
    // forge or flood the log.
    let span = tracing::info_span!(
        "request",
        request_id = %request_id,
        method = %crate::ids::log_safe(req.method().as_str(), 16),
        path = %crate::ids::log_safe(req.path(), 256),
    );
    let _enter = span.enter();
    if !authorized {
        tracing::info!(platform_request_identity = ?identity, "rejected: missing or wrong basic-auth credentials");
        let err = ApiError::new(
            StatusCode::UNAUTHORIZED,
            "Not Authorized: send the broker's basic-auth credentials",
        );
        // A caller without the credentials gets no idle connection to keep.
        let mut res = respond(req, err, identity.as_deref());
        res.response_mut()
            .head_mut()
            .set_connection_type(ConnectionType::Close);
        return Ok(res);
    }
    let api_minor = if check_version {
        match parse_api_version(header(&req, "x-broker-api-version").as_deref()) {
            Ok(minor) => minor,
            Err(err) => {
                tracing::info!(platform_request_identity = ?identity, "rejected: {}", err);
                return Ok(respond(req, err, identity.as_deref()));
            }
        }
    } else {
        17
    };
    let (originating_platform, originating_identity) =
        header(&req, "x-broker-api-originating-identity")
            .map(|v| parse_originating_identity(&v))
            .unwrap_or((None, None));
    tracing::info!(
        platform_request_identity = ?identity,
        originating_platform = ?originating_platform,
        originating_identity = ?originating_identity,
        api_minor,
        "request received"
    );
    req.extensions_mut().insert(RequestMeta {
        request_id: request_id.clone(),
        platform_request_identity: identity.clone(),
        api_minor,
        originating_platform,
        originating_identity,
    });
    drop(_enter);
    let started = std::time::Instant::now();
    let mut res = next.call(req).await?.map_into_boxed_body();
    echo_identity(res.response_mut(), identity.as_deref());
    let status = res.status().as_u16();
    crate::metrics::global().http_answered(res.request().method().as_str(), status);
    tracing::info!(request_id = %request_id, status, elapsed_ms = started.elapsed().as_millis() as u64, "request completed");
    Ok(res)
}

/// Middleware for `/v2`: identity, basic auth, API version.
pub async fn osb_guard(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    guard(req, next, true).await
}

/// Middleware for `/mgmt`: identity and basic auth (no version header).
pub async fn mgmt_guard(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    guard(req, next, false).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_header_rules() {
        assert_eq!(
            parse_api_version(None).unwrap_err().status,
            StatusCode::BAD_REQUEST
        );
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
}

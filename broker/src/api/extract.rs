//! Extractors that parse what a request carries at the edge: the ids in the path (strictly
//! percent-decoded, checked against the id rule of [`crate::ids`]) and the JSON body (size and
//! nesting bounded). A handler that takes these never sees an unparsed id or an unbounded
//! document; a bad value is a `400` (or `413`) with an OSB error body that says what to fix.

use super::error::ApiError;
use crate::ids::{decode_segment, BindingId, InstanceId, ID_RULE};
use actix_web::dev::Payload;
use actix_web::error::PayloadError;
use actix_web::http::StatusCode;
use actix_web::{FromRequest, HttpRequest};
use serde_json::{Map, Value};
use std::future::Future;
use std::pin::Pin;

/// The largest request body accepted, in bytes.
pub const MAX_BODY_BYTES: usize = 256 * 1024;

/// The deepest nesting of arrays and objects accepted in a request body. The store keeps
/// request documents inside a few more levels of its own and must read them back, so this
/// stays well under the JSON reader's limit of 128.
pub const MAX_BODY_DEPTH: usize = 64;

/// The raw (still percent-encoded) segment that follows the segment `after` in the request
/// path, found by decoded comparison so that an encoded route name still lines up.
pub(crate) fn raw_segment_after<'a>(req: &'a HttpRequest, after: &str) -> Option<&'a str> {
    let mut segments = req.uri().path().split('/');
    segments.find(|s| decode_segment(s).is_ok_and(|d| d == after))?;
    segments.next()
}

fn parse_segment<T>(
    req: &HttpRequest, after: &str, what: &str,
    parse: impl Fn(&str) -> Result<T, crate::ids::IdError>,
) -> Result<T, ApiError> {
    let raw = raw_segment_after(req, after)
        .ok_or_else(|| ApiError::bad_request(format!("{what} is missing from the path")))?;
    parse(raw).map_err(|e| {
        ApiError::bad_request(format!("{what} in the request path {e}: use {ID_RULE}"))
    })
}

/// `{instance_id}` of a `/service_instances/{instance_id}...` route.
#[derive(Debug, Clone)]
pub struct InstancePath(pub InstanceId);

impl InstancePath {
    /// The id.
    pub fn into_inner(self) -> InstanceId {
        self.0
    }
}

impl FromRequest for InstancePath {
    type Error = ApiError;
    type Future = std::future::Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        std::future::ready(
            parse_segment(
                req,
                "service_instances",
                "the service instance id",
                InstanceId::from_path_segment,
            )
            .map(Self),
        )
    }
}

/// `{instance_id}` and `{binding_id}` of a `.../service_bindings/{binding_id}...` route.
#[derive(Debug, Clone)]
pub struct BindingPath(pub InstanceId, pub BindingId);

impl BindingPath {
    /// The ids.
    pub fn into_inner(self) -> (InstanceId, BindingId) {
        (self.0, self.1)
    }
}

impl FromRequest for BindingPath {
    type Error = ApiError;
    type Future = std::future::Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let parsed = parse_segment(
            req,
            "service_instances",
            "the service instance id",
            InstanceId::from_path_segment,
        )
        .and_then(|instance| {
            parse_segment(req, "service_bindings", "the binding id", BindingId::from_path_segment)
                .map(|binding| Self(instance, binding))
        });
        std::future::ready(parsed)
    }
}

/// How deeply `value` nests arrays and objects (a scalar is 0).
pub fn depth(value: &Value) -> usize {
    match value {
        Value::Array(items) => 1 + items.iter().map(depth).max().unwrap_or(0),
        Value::Object(map) => 1 + map.values().map(depth).max().unwrap_or(0),
        _ => 0,
    }
}

/// Parses a request body that must be a JSON object, at most [`MAX_BODY_DEPTH`] deep.
pub fn json_object(body: &[u8]) -> Result<Map<String, Value>, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::bad_request("the request body is empty: send a JSON object"));
    }
    let too_deep = || {
        ApiError::bad_request(format!(
            "the request body nests objects and arrays more than {MAX_BODY_DEPTH} levels deep: flatten it"
        ))
    };
    match serde_json::from_slice::<Value>(body) {
        Ok(value) if depth(&value) > MAX_BODY_DEPTH => Err(too_deep()),
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(ApiError::bad_request("the request body must be a JSON object")),
        Err(e) if e.to_string().starts_with("recursion limit exceeded") => Err(too_deep()),
        Err(e) => Err(ApiError::bad_request(format!("the request body is not valid JSON: {e}"))),
    }
}

/// A request body that is a JSON object, at most [`MAX_BODY_BYTES`] long and
/// [`MAX_BODY_DEPTH`] deep.
#[derive(Debug, Clone)]
pub struct JsonBody(pub Map<String, Value>);

impl FromRequest for JsonBody {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let bytes = actix_web::web::Bytes::from_request(req, payload);
        Box::pin(async move {
            let bytes = bytes.await.map_err(|e| match e.as_error::<PayloadError>() {
                Some(PayloadError::Overflow) => ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    format!("the request body is larger than {MAX_BODY_BYTES} bytes: send less"),
                ),
                _ => ApiError::bad_request(format!("the request body could not be read: {e}")),
            })?;
            json_object(&bytes).map(Self)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    fn instance(path: &str) -> Result<InstanceId, ApiError> {
        let req = TestRequest::default().uri(path).to_http_request();
        parse_segment(
            &req,
            "service_instances",
            "the service instance id",
            InstanceId::from_path_segment,
        )
    }

    #[test]
    fn the_instance_id_comes_from_the_raw_path() {
        assert_eq!(
            instance("/v2/service_instances/abc-1/last_operation").unwrap().as_str(),
            "abc-1"
        );
        assert_eq!(instance("/mgmt/service_instances/abc").unwrap().as_str(), "abc");
        assert_eq!(instance("/v2/%73ervice_instances/abc").unwrap().as_str(), "abc");
        for hostile in [
            "/v2/service_instances/x%2F..%2F..%2Fdeployments%2Fcf",
            "/v2/service_instances/%2e%2e",
            "/v2/service_instances/a%23",
            "/v2/service_instances/a%0D%0AX-Injected%3A%201",
            "/v2/service_instances/bad%FEutf8",
            "/v2/service_instances/a%00",
            "/v2/service_instances/",
        ] {
            let err = instance(hostile).unwrap_err();
            assert_eq!(err.status, StatusCode::BAD_REQUEST, "{hostile}");
            assert!(err.description.unwrap().contains("1 to 64 characters"), "{hostile}");
        }
    }

    #[test]
    fn bodies_are_bounded_in_depth() {
        let nest = |n: usize| format!("{{\"c\":{}1{}}}", "[".repeat(n), "]".repeat(n));
        assert!(json_object(nest(MAX_BODY_DEPTH - 1).as_bytes()).is_ok());
        for n in [MAX_BODY_DEPTH, 125, 1000] {
            let err = json_object(nest(n).as_bytes()).unwrap_err();
            assert!(err.description.unwrap().contains("levels deep"), "depth {n}");
        }
        assert!(json_object(b"  ").is_err());
        assert!(json_object(b"[1]").is_err());
        assert_eq!(depth(&serde_json::json!({"a": {"b": [1]}})), 3);
    }
}

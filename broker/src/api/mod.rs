//! The HTTP surface: every route in one place, thin handlers, one error type.

pub mod bindings;
pub mod bodies;
pub mod console;
pub mod error;
pub mod extract;
pub mod instances;
pub mod mgmt;
pub mod middleware;
mod support;

use actix_web::{middleware::from_fn, web, HttpResponse};
use actix_web_httpauth::middleware::HttpAuthentication;
use sha2::Digest as _;

/// Shared state of every handler.
pub struct AppState {
    /// The use cases.
    pub broker: crate::service::Broker,
    /// The catalog, serialised once at start-up.
    pub catalog: CatalogBody,
}

impl AppState {
    /// Turns a use-case error into the OSB answer to the request `meta` describes.
    pub fn answer<'a>(
        &'a self, meta: &'a middleware::RequestMeta,
    ) -> impl Fn(crate::service::ServiceError) -> error::ApiError + 'a {
        move |err| error::answer(&self.broker, &meta.request_id, err)
    }

    /// `200 OK` with the JSON of what a use case answered, or the OSB answer to its error.
    pub fn ok_json<T: serde::Serialize>(
        &self, meta: &middleware::RequestMeta, outcome: crate::service::ServiceResult<T>,
    ) -> Result<HttpResponse, error::ApiError> {
        outcome.map(|value| HttpResponse::Ok().json(value)).map_err(self.answer(meta))
    }
}

/// The catalog as served: its body bytes and `ETag`, computed once.
#[derive(Debug, Clone)]
pub struct CatalogBody {
    body: web::Bytes,
    etag: String,
}

impl CatalogBody {
    /// Serialises `catalog` and hashes it for the `ETag`.
    pub fn new(catalog: &serde_json::Value) -> Self {
        let body = catalog.to_string();
        let etag = format!("\"{}\"", &hex::encode(sha2::Sha256::digest(body.as_bytes()))[..32]);
        Self { body: web::Bytes::from(body), etag }
    }

    /// The `ETag` header value (quoted).
    pub fn etag(&self) -> &str {
        &self.etag
    }

    /// Whether an `If-None-Match` value names this catalog.
    fn matches(&self, if_none_match: &str) -> bool {
        if_none_match.split(',').any(|t| t.trim() == self.etag || t.trim() == "*")
    }
}

/// `GET /v2/catalog`.
///
/// The catalog carries an `ETag` (a hash of its body); a request whose `If-None-Match`
/// names it gets `304 Not Modified` without a body (OSB 2.16). Body and tag are computed at
/// start-up, so serving the catalog allocates nothing but the response.
async fn catalog(state: web::Data<AppState>, req: actix_web::HttpRequest) -> HttpResponse {
    let catalog = &state.catalog;
    let matches = req
        .headers()
        .get(actix_web::http::header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| catalog.matches(v));
    if matches {
        return HttpResponse::NotModified().insert_header(("ETag", catalog.etag.as_str())).finish();
    }
    HttpResponse::Ok()
        .insert_header(("ETag", catalog.etag.as_str()))
        .content_type("application/json")
        .body(catalog.body.clone())
}

/// `GET /health` and `GET /health/live`: unauthenticated liveness check (the process serves).
async fn health() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({"status": "ok"}))
}

/// `GET /health/ready`: unauthenticated readiness, from the background checks
/// ([`crate::health`]): `200 {"status": "ready"}` or `503 {"status": "unready"}`, no detail.
async fn ready(readiness: web::Data<crate::health::Readiness>) -> HttpResponse {
    if readiness.report().ready() {
        HttpResponse::Ok().json(serde_json::json!({"status": "ready"}))
    } else {
        HttpResponse::ServiceUnavailable().json(serde_json::json!({"status": "unready"}))
    }
}

/// Any other path or method: an OSB error body instead of an empty page.
async fn unknown_endpoint(req: actix_web::HttpRequest) -> Result<HttpResponse, error::ApiError> {
    Err(error::ApiError::not_found(format!(
        "{} {} is not an endpoint of this broker: see the Open Service Broker API v2.17",
        crate::ids::log_safe(req.method().as_str(), 16),
        crate::ids::log_safe(req.path(), 256)
    )))
}

/// `$scope` behind basic auth, then the header checks `$headers` (auth runs first).
macro_rules! guarded {
    ($scope:expr, $headers:path) => {
        $scope.wrap(from_fn($headers)).wrap(HttpAuthentication::with_fn(middleware::authenticate))
    };
}

/// Registers every route.
pub fn routes(cfg: &mut web::ServiceConfig) {
    let unknown = || web::to(unknown_endpoint);
    let osb = web::scope("/v2").configure(osb_routes);
    let mgmt = web::scope("/mgmt").configure(mgmt_routes);
    let metrics = web::scope("/metrics").route("", web::get().to(mgmt::prometheus));
    cfg.route("/health", web::get().to(health))
        .route("/health/live", web::get().to(health))
        .route("/health/ready", web::get().to(ready))
        .service(guarded!(osb.default_service(unknown()), middleware::osb_headers))
        .service(guarded!(mgmt.default_service(unknown()), middleware::mgmt_headers))
        .service(guarded!(metrics, middleware::mgmt_headers))
        .default_service(unknown());
}

/// A service instance's path, under `/v2` and `/mgmt`.
const INSTANCE: &str = "/service_instances/{instance_id}";

/// A service binding's path, under `/v2`.
const BINDING: &str = "/service_instances/{instance_id}/service_bindings/{binding_id}";

/// The OSB routes, under `/v2`.
fn osb_routes(cfg: &mut web::ServiceConfig) {
    let last_operation = |of: &str| format!("{of}/last_operation");
    cfg.route("/catalog", web::get().to(catalog))
        .route(INSTANCE, web::put().to(instances::provision))
        .route(INSTANCE, web::patch().to(instances::update))
        .route(INSTANCE, web::delete().to(instances::deprovision))
        .route(INSTANCE, web::get().to(instances::fetch))
        .route(&last_operation(INSTANCE), web::get().to(instances::last_operation))
        .route(BINDING, web::put().to(bindings::bind))
        .route(BINDING, web::delete().to(bindings::unbind))
        .route(BINDING, web::get().to(bindings::fetch))
        .route(&last_operation(BINDING), web::get().to(bindings::last_operation));
}

/// The management routes, under `/mgmt`.
fn mgmt_routes(cfg: &mut web::ServiceConfig) {
    let of_instance = |tail: &str| format!("{INSTANCE}{tail}");
    cfg.route("/service_instances", web::get().to(mgmt::list_instances))
        .route(INSTANCE, web::patch().to(mgmt::patch_instance))
        .route(&of_instance("/bindings"), web::get().to(mgmt::list_bindings))
        .route(&of_instance("/operations"), web::get().to(mgmt::history))
        .route("/orphan_deployments", web::get().to(mgmt::orphan_deployments))
        .route("/metrics", web::get().to(mgmt::metrics))
        .route("/ui", web::get().to(console::fleet))
        .route("/ui/style.css", web::get().to(console::style))
        .route(&format!("/ui{INSTANCE}"), web::get().to(console::instance));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_catalog_etag_is_computed_once_and_matched_in_lists() {
        let a = CatalogBody::new(&serde_json::json!({"services": []}));
        let b = CatalogBody::new(&serde_json::json!({"services": [1]}));
        assert_ne!(a.etag(), b.etag());
        assert_eq!(a.etag().len(), 34);
        assert!(a.matches(a.etag()));
        assert!(a.matches(&format!("\"x\", {}", a.etag())));
        assert!(a.matches("*"));
        assert!(!a.matches(b.etag()));
        assert_eq!(&a.body[..], br#"{"services":[]}"#);
    }
}

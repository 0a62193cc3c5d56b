//! The CredHub client: the director's CredHub (`bosh_credhub:`, secure manifests) and the
//! runtime CredHub (`credhub:`, secure binding credentials) speak the same API.
//!
//! - [`http`]: the pooled HTTPS client (the operator's CA certificates added to the system
//!   roots), one authenticated request with a single token refresh on a 401, and the mapping of
//!   answers to [`ConfigServerError`](crate::config_server::ConfigServerError).
//! - [`auth`]: where the UAA is (`GET /info` → `auth-server.url`) and which CredHub major
//!   version answers (`app.version`, else `GET /version`), learnt once.
//! - [`api`]: the calls (set, latest by name, by id, find by partial name, delete, grant
//!   read), and `impl ConfigServer`.
//!
//! Every path is built with [`UrlPath`](crate::url_path::UrlPath) from percent-encoded
//! segments, and credential names travel as form-encoded query values, so no name can reach
//! another resource. Messages name CredHub's URL and the credential, never a value, the
//! client secret or a token.

pub mod api;
pub mod auth;
pub mod http;

pub use api::{CredhubClient, Permission};

//! Write on-demand service adapters in Rust.
//!
//! An on-demand broker drives a *service adapter* executable to turn a plan into a BOSH
//! manifest, to create and delete bindings, to compute dashboard URLs and to describe the
//! parameters a plan accepts. This crate holds the wire contract of that conversation (the
//! stdin envelope, the data types, the outputs and the exit codes) and the runtime that
//! speaks it, compatible with adapters and brokers built on the Go SDK.
//!
//! # Writing an adapter
//!
//! Implement the traits for the subcommands your service supports, put them in a
//! [`CommandLineHandler`] and call [`run`] from `main`. Subcommands left as `None` exit
//! with code 10 ("not implemented"), which the broker accepts for dashboard-url and, when
//! plan schemas are disabled, for generate-plan-schemas.
//!
//! ```
//! use std::collections::BTreeMap;
//!
//! use service_adapter::bosh::{self, BoshManifest};
//! use service_adapter::{
//!     generate_instance_groups_with_no_properties, AdapterError, Binder, Binding,
//!     CommandLineHandler, CreateBindingParams, DeleteBindingParams, GenerateManifestOutput,
//!     GenerateManifestParams, ManifestGenerator, MaxInFlight,
//! };
//!
//! struct Cache;
//!
//! impl ManifestGenerator for Cache {
//!     fn generate_manifest(
//!         &self,
//!         params: GenerateManifestParams,
//!     ) -> Result<GenerateManifestOutput, AdapterError> {
//!         let deployment = &params.service_deployment;
//!         let stemcell = deployment
//!             .stemcells
//!             .first()
//!             .ok_or_else(|| AdapterError::other("no stemcell configured"))?;
//!         let jobs = BTreeMap::from([("cache".to_string(), vec!["cache-server".to_string()])]);
//!         let instance_groups = generate_instance_groups_with_no_properties(
//!             &params.plan.instance_groups,
//!             &deployment.releases,
//!             "default",
//!             &jobs,
//!         )?;
//!         // Reject parameters this plan does not understand; the text reaches the user.
//!         let unknown: Vec<String> = params
//!             .request_params
//!             .arbitrary_params()
//!             .keys()
//!             .filter(|k| k.as_str() != "max_memory")
//!             .cloned()
//!             .collect();
//!         if !unknown.is_empty() {
//!             return Err(AdapterError::other(format!(
//!                 "unsupported parameter(s) for this service plan: {}",
//!                 unknown.join(", ")
//!             )));
//!         }
//!         let manifest = BoshManifest {
//!             name: deployment.deployment_name.clone(),
//!             releases: deployment
//!                 .releases
//!                 .iter()
//!                 .map(|r| bosh::Release { name: r.name.clone(), version: r.version.clone() })
//!                 .collect(),
//!             stemcells: vec![bosh::Stemcell {
//!                 alias: "default".into(),
//!                 os: stemcell.os.clone(),
//!                 version: stemcell.version.clone(),
//!                 ..Default::default()
//!             }],
//!             instance_groups,
//!             update: Some(bosh::Update {
//!                 canaries: 1,
//!                 canary_watch_time: "30000-240000".into(),
//!                 update_watch_time: "30000-240000".into(),
//!                 max_in_flight: MaxInFlight::Count(1),
//!                 ..Default::default()
//!             }),
//!             ..Default::default()
//!         };
//!         Ok(GenerateManifestOutput { manifest, ..Default::default() })
//!     }
//! }
//!
//! impl Binder for Cache {
//!     fn create_binding(&self, params: CreateBindingParams) -> Result<Binding, AdapterError> {
//!         let host = params
//!             .deployment_topology
//!             .get("cache")
//!             .and_then(|ips| ips.first())
//!             .ok_or_else(|| AdapterError::other("no cache VM found"))?;
//!         Ok(Binding {
//!             credentials: Some(serde_json::json!({ "host": host, "port": 11211 })),
//!             ..Default::default()
//!         })
//!     }
//!
//!     fn delete_binding(&self, _params: DeleteBindingParams) -> Result<(), AdapterError> {
//!         Ok(())
//!     }
//! }
//!
//! fn handler() -> CommandLineHandler {
//!     CommandLineHandler {
//!         manifest_generator: Some(Box::new(Cache)),
//!         binder: Some(Box::new(Cache)),
//!         ..Default::default()
//!     }
//! }
//!
//! // In the adapter's `main`: `service_adapter::run(handler())`. In a test, drive
//! // `handle` with in-memory streams instead:
//! let args: Vec<String> = ["cache-adapter", "create-binding"].map(String::from).to_vec();
//! let stdin = r#"{"create_binding":{"binding_id":"b1","bosh_vms":"{\"cache\":[\"10.0.0.5\"]}",
//!     "manifest":"","request_parameters":"{}","secrets":"null","dns_addresses":"null"}}"#;
//! let (mut out, mut err) = (Vec::new(), Vec::new());
//! let code = service_adapter::handle(&handler(), &args, &mut stdin.as_bytes(), &mut out, &mut err);
//! assert_eq!(code, 0);
//! assert_eq!(String::from_utf8(out).unwrap(), "{\"credentials\":{\"host\":\"10.0.0.5\",\"port\":11211}}\n");
//! ```
//!
//! # What the runtime does for you
//!
//! - **Dispatch.** `argv[1]` names the subcommand. With no further arguments the inputs
//!   are read from stdin (to EOF) as the JSON envelope in [`wire`]; with any further
//!   argument the legacy positional form is used (it cannot carry secrets, DNS addresses,
//!   previous configs or the UAA client).
//! - **Inputs.** Every inner document is parsed and validated before your code runs, with
//!   the Go SDK's rules: `""` and `"null"` mean different things for some fields (see the
//!   field docs of [`GenerateManifestParams`] and [`CreateBindingParams`]), and plans are
//!   validated (instance groups present, at least one instance and one AZ, ...).
//! - **Outputs.** generate-manifest prints `{"manifest":"<yaml>","secrets":..,"configs":..}`
//!   with no trailing newline (raw YAML in the legacy form); create-binding, dashboard-url
//!   and generate-plan-schemas print one JSON line; delete-binding prints nothing. JSON is
//!   escaped like Go's encoder (`\u003c`, `\u003e`, `\u0026`).
//! - **Errors.** Return an [`AdapterError`]: its text goes to stdout (shown to the platform
//!   user) and to stderr; the typed kinds exit 49, 42 and 41, which the broker maps to OSB
//!   409, 422 and 410. Parse and validation failures go to stderr only and exit 1. Log
//!   freely to stderr; stdout belongs to the result.
//! - **YAML.** Manifests are written so that YAML 1.1 readers (Go, BOSH) see exactly the
//!   strings you wrote: `"yes"`, `"on"`, `"1.404"` and friends are quoted.
//!
//! # Known differences from the Go SDK
//!
//! - Manifest YAML is parsed with YAML 1.2 rules: an unquoted `yes` in a manifest you
//!   receive is the string `"yes"` here, where Go would read `true`. Manifests written by
//!   this crate or by the Go SDK quote such strings, so they read the same either way.
//! - A plan's `vm_extensions` keeps `""` entries when read from YAML (Go drops them).
//! - Where the Go SDK panics (a non-object `parameters` or `context`), the accessors of
//!   [`RequestParameters`] return an empty object. A panic in adapter code exits with 2.
#![warn(missing_docs)]

pub mod bosh;
mod cli;
mod errors;
mod gojson;
mod helpers;
mod max_in_flight;
mod params;
mod plan;
mod request;
mod serde_util;
mod types;
pub mod wire;
pub mod yaml;

pub use cli::{
    handle, run, Binder, CommandLineHandler, DashboardUrlGenerator, ManifestGenerator,
    SchemaGenerator,
};
pub use errors::AdapterError;
pub use gojson::{to_go_json, try_to_go_json};
pub use helpers::{find_release_for_job, generate_instance_groups_with_no_properties, HelperError};
pub use max_in_flight::MaxInFlight;
pub use params::{
    CreateBindingParams, DashboardUrlParams, DeleteBindingParams, GenerateManifestParams,
    GeneratePlanSchemasParams,
};
pub use plan::{
    validate_plan_json, Errand, FieldFailure, InstanceGroup, LifecycleErrands, Migration, Plan,
    PlanError, Update, ValidationError,
};
pub use request::{BindResource, RequestParameters};
pub use types::*;

//! Service adapter SDK: the wire contract between an on-demand broker and its service adapter.
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

//! Service adapter SDK: the wire contract between an on-demand broker and its service adapter.
#![warn(missing_docs)]

pub mod bosh;
mod gojson;
mod max_in_flight;
mod params;
mod plan;
mod request;
mod serde_util;
mod types;
pub mod wire;
pub mod yaml;

pub use gojson::{to_go_json, try_to_go_json};
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

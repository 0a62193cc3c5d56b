//! Example service adapter for a BOSH-deployed Redis-like service, built on the
//! `service-adapter` SDK.
//!
//! [`handler`] returns the adapter with all four parts (manifest generator, binder,
//! dashboard URL generator, schema generator); [`main_with_args`] runs it on the
//! process's standard streams. The crate's README documents the plan properties,
//! arbitrary parameters, binding credentials and typed errors.
#![warn(missing_docs)]

use std::io::Write;

use service_adapter::{
    AdapterError, Binder, Binding, CommandLineHandler, CreateBindingParams, DashboardUrl,
    DashboardUrlGenerator, DashboardUrlParams, DeleteBindingParams, GenerateManifestOutput,
    GenerateManifestParams, GeneratePlanSchemasParams, ManifestGenerator, PlanSchema,
    SchemaGenerator,
};

pub mod binding;
pub mod dashboard;
pub mod manifest;
pub mod parameters;
pub mod schema;
pub mod settings;

pub use binding::RedisBinder;
pub use dashboard::RedisDashboard;
pub use manifest::RedisManifestGenerator;
pub use schema::RedisSchemas;

/// Exit code when adapter code panics (as a Go runtime panic exits).
pub const PANIC_EXIT_CODE: i32 = 2;

impl ManifestGenerator for RedisManifestGenerator {
    fn generate_manifest(
        &self, params: GenerateManifestParams,
    ) -> Result<GenerateManifestOutput, AdapterError> {
        manifest::generate_manifest(&params)
    }
}

impl Binder for RedisBinder {
    fn create_binding(&self, params: CreateBindingParams) -> Result<Binding, AdapterError> {
        binding::create_binding(&params)
    }

    fn delete_binding(&self, params: DeleteBindingParams) -> Result<(), AdapterError> {
        binding::delete_binding(&params)
    }
}

impl DashboardUrlGenerator for RedisDashboard {
    fn dashboard_url(&self, params: DashboardUrlParams) -> Result<DashboardUrl, AdapterError> {
        dashboard::dashboard_url(&params)
    }
}

impl SchemaGenerator for RedisSchemas {
    fn generate_plan_schemas(
        &self, params: GeneratePlanSchemasParams,
    ) -> Result<PlanSchema, AdapterError> {
        schema::generate_plan_schemas(&params)
    }
}

/// The Redis adapter with every subcommand implemented.
pub fn handler() -> CommandLineHandler {
    CommandLineHandler {
        manifest_generator: Some(Box::new(RedisManifestGenerator)),
        binder: Some(Box::new(RedisBinder)),
        dashboard_url_generator: Some(Box::new(RedisDashboard)),
        schema_generator: Some(Box::new(RedisSchemas)),
    }
}

/// Runs the adapter with `args` (`args[0]` the program name, `args[1]` the subcommand,
/// then any legacy positional arguments) on the real stdin, stdout and stderr, and
/// returns the exit code. A panic in adapter code gives exit code 2 with nothing more on
/// stdout, like a Go adapter's runtime panic.
pub fn main_with_args(args: Vec<String>) -> i32 {
    let handler = handler();
    let code = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let mut stdout = std::io::stdout().lock();
        let mut stderr = std::io::stderr().lock();
        let code = service_adapter::handle(
            &handler,
            &args,
            &mut std::io::stdin().lock(),
            &mut stdout,
            &mut stderr,
        );
        let _ = stdout.flush();
        code
    }));
    code.unwrap_or(PANIC_EXIT_CODE)
}

//! The adapter kit: `on-demand-broker adapter check` and `on-demand-broker adapter call`, for
//! service authors writing an adapter in any language.
//!
//! Both commands load the broker's own config file, build the inputs the broker would build
//! for an instance of a plan (with a fake deployment `service-instance_adapter-check-<random>`
//! and plausible VMs derived from the plan's instance groups), and run the configured adapter
//! exactly as the broker runs it: same stdin envelope (or legacy positional arguments when
//! `use_stdin: false`), same clean environment, process group, output cap and timeout.
//!
//! - `adapter check` ([`check`]) drives the adapter through a whole instance life (create,
//!   dashboard URL, the pending-changes regeneration, update, upgrade, bind, unbind, plan
//!   schemas) and reports, rule by rule, what passed and what did not, with the evidence.
//!   It exits 0 only when every rule passes, so it can gate an adapter's CI pipeline.
//! - `adapter call` ([`call`]) makes one call and prints the decoded result, for debugging.
//!
//! The envelopes come from [`envelope`], which builds them from the broker's own request types
//! ([`crate::adapter::GenerateManifestRequest`], [`crate::adapter::BindingRequest`]) the way
//! [`crate::adapter::AdapterClient`] encodes them; a test pins the two byte for byte.

mod call;
mod check;
pub mod envelope;
mod manifest;
mod report;
mod run;
pub mod yaml11;

use crate::config::{self, ConfigError, LoadedConfig, PlanConfig};
use clap::{Args, Subcommand, ValueEnum};
use std::path::PathBuf;
use std::process::ExitCode;

pub use report::Format;

/// Exit code of `adapter check` when at least one rule failed.
pub const EXIT_RULES_FAILED: u8 = 1;

/// `on-demand-broker adapter ...`.
#[derive(Debug, Clone, Args)]
pub struct AdapterArgs {
    /// What to do with the adapter.
    #[command(subcommand)]
    pub command: KitCommand,
}

/// The adapter kit's subcommands.
#[derive(Debug, Clone, Subcommand)]
pub enum KitCommand {
    /// Run the configured adapter through the whole contract, as the broker would, and report
    /// every rule with its evidence; exit 0 only when every rule passes.
    Check(CheckArgs),
    /// Make one adapter call with the envelope the broker would send, and print the decoded
    /// result (on stdout), the exit code and the adapter's stderr (on stderr).
    Call(CallArgs),
}

/// Options of `adapter check`.
#[derive(Debug, Clone, Args)]
pub struct CheckArgs {
    /// The broker's YAML config file (its service_adapter, service_deployment and plans are used).
    #[arg(long, short)]
    pub config: PathBuf,
    /// A plan to check, by name or plan_id (repeat for several; default: every plan).
    #[arg(long = "plan", value_name = "NAME")]
    pub plans: Vec<String>,
    /// Arbitrary parameters (a JSON object) sent with the create and the update.
    #[arg(long, value_name = "JSON")]
    pub params: Option<String>,
    /// `text` for people, `json` for CI pipelines.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

/// The adapter subcommands `adapter call` can make.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CallSubcommand {
    /// generate-manifest: prints the manifest YAML.
    GenerateManifest,
    /// create-binding: prints the binding (credentials) as JSON.
    CreateBinding,
    /// delete-binding: prints nothing on success.
    DeleteBinding,
    /// dashboard-url: prints the URL.
    DashboardUrl,
    /// generate-plan-schemas: prints the schemas as JSON.
    GeneratePlanSchemas,
}

/// Which generate-manifest request `adapter call generate-manifest` sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Operation {
    /// A provision: no previous manifest or plan.
    Create,
    /// An update of an instance on the same plan (needs --previous-manifest).
    Update,
    /// An upgrade: request parameters are only `{"context": ...}` (needs --previous-manifest).
    Upgrade,
    /// The pending-changes regeneration: empty request parameters (needs --previous-manifest).
    PendingChanges,
}

/// Options of `adapter call`.
#[derive(Debug, Clone, Args)]
pub struct CallArgs {
    /// The adapter subcommand to run.
    #[arg(value_enum)]
    pub subcommand: CallSubcommand,
    /// The broker's YAML config file.
    #[arg(long, short)]
    pub config: PathBuf,
    /// The plan, by name or plan_id (default: the first plan of the catalog).
    #[arg(long, value_name = "NAME")]
    pub plan: Option<String>,
    /// Arbitrary parameters (a JSON object), as a platform sends them in `parameters`.
    #[arg(long, value_name = "JSON")]
    pub params: Option<String>,
    /// The deployed manifest (YAML file). Without it, bindings and dashboard-url first run
    /// generate-manifest (create) to get one.
    #[arg(long, value_name = "FILE")]
    pub previous_manifest: Option<PathBuf>,
    /// The resolved secrets the broker would pass (`{"((/odb/...))": "value"}`), as JSON or
    /// `@FILE`. Inline JSON is visible to other users in the process list; prefer `@FILE`.
    #[arg(long, value_name = "JSON|@FILE")]
    pub secrets: Option<String>,
    /// The generate-manifest request to send (default: create, or update with --previous-manifest).
    #[arg(long, value_enum)]
    pub operation: Option<Operation>,
    /// create-binding / delete-binding: the binding id (default: a fresh one).
    #[arg(long, value_name = "ID")]
    pub binding_id: Option<String>,
    /// create-binding: a service key (no app_guid) instead of an app binding.
    #[arg(long)]
    pub service_key: bool,
    /// Print the envelope (or argv) sent to the adapter, on stderr. Secrets are masked unless
    /// you gave them inline with --secrets.
    #[arg(long)]
    pub show_envelope: bool,
}

/// Why a kit command could not run at all (as opposed to an adapter failing a rule).
#[derive(Debug, thiserror::Error)]
pub enum KitError {
    /// The config file did not load.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// `--plan` names no plan of the catalog.
    #[error("no plan named '{0}' in service_catalog.plans (give a plan's name or plan_id)")]
    UnknownPlan(String),
    /// The catalog has no plans.
    #[error("service_catalog.plans is empty: there is nothing to check")]
    NoPlans,
    /// A JSON option did not parse.
    #[error("{flag} is not valid JSON: {source}")]
    BadJson {
        /// The option.
        flag: &'static str,
        /// Why.
        source: serde_json::Error,
    },
    /// A JSON option parsed but has the wrong shape.
    #[error("{flag} must be {expected}")]
    WrongShape {
        /// The option.
        flag: &'static str,
        /// What it must be.
        expected: &'static str,
    },
    /// A file option could not be read.
    #[error("cannot read {flag} file {path}: {source}")]
    ReadFile {
        /// The option.
        flag: &'static str,
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// An option needs another one.
    #[error("{0}")]
    Usage(String),
    /// The adapter could not be located or the async runtime not started.
    #[error("cannot run the service adapter: {0}")]
    Setup(String),
    /// The inputs could not be encoded.
    #[error("cannot encode the adapter's input: {0}")]
    Encode(#[from] serde_json::Error),
    /// The report could not be written.
    #[error("cannot write the report: {0}")]
    Output(#[from] std::io::Error),
}

/// `on-demand-broker adapter ...`.
pub fn adapter(args: &AdapterArgs) -> ExitCode {
    let result = match &args.command {
        KitCommand::Check(a) => check::run(a),
        KitCommand::Call(a) => call::run(a),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("adapter: {e}");
            ExitCode::from(super::EXIT_USAGE)
        }
    }
}

/// Loads the config, printing its warnings on stderr.
fn load_config(path: &std::path::Path) -> Result<LoadedConfig, KitError> {
    let loaded = config::load(Some(path), &config::EnvOverrides::from_env())?;
    for w in &loaded.warnings {
        eprintln!("warning: {w}");
    }
    Ok(loaded)
}

/// The plan a name or plan_id refers to.
fn find_plan<'a>(config: &'a config::Config, name: &str) -> Result<&'a PlanConfig, KitError> {
    config
        .catalog
        .plans
        .iter()
        .find(|p| p.name == name)
        .or_else(|| config.catalog.plans.iter().find(|p| p.plan_id == name))
        .ok_or_else(|| KitError::UnknownPlan(name.to_string()))
}

/// Parses `--params`: a JSON object, `{}` when absent.
fn parse_params(text: Option<&str>) -> Result<serde_json::Value, KitError> {
    let Some(text) = text else {
        return Ok(serde_json::Value::Object(Default::default()));
    };
    let value: serde_json::Value = serde_json::from_str(text)
        .map_err(|source| KitError::BadJson { flag: "--params", source })?;
    if !value.is_object() {
        return Err(KitError::WrongShape { flag: "--params", expected: "a JSON object" });
    }
    Ok(value)
}

/// A tokio runtime for the adapter runner (which needs signals and processes).
fn runtime() -> Result<tokio::runtime::Runtime, KitError> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| KitError::Setup(e.to_string()))
}

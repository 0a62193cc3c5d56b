//! The service adapter client: builds the stdin envelope exactly as the Go broker sends it,
//! runs the adapter (see [`process`]), and turns its exit code and output into typed results.

pub mod process;
pub mod redact;

use redact::Redactor;

use crate::config::{AdapterCommand, AdapterSettings};
use process::{Invocation, Outcome, RunError};
use serde_json::Value;
use service_adapter::wire::{
    BindingJsonParams, DashboardUrlJsonParams, GenerateManifestJsonParams,
    GeneratePlanSchemasJsonParams, InputParams,
};
use service_adapter::{
    Binding, DashboardUrl, MarshalledGenerateManifest, Plan, PlanSchema, ServiceDeployment,
};
use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

/// Exit codes of the adapter contract.
pub mod exit {
    /// Success.
    pub const SUCCESS: i32 = 0;
    /// The subcommand is not implemented.
    pub const NOT_IMPLEMENTED: i32 = 10;
    /// delete-binding: the binding does not exist.
    pub const BINDING_NOT_FOUND: i32 = 41;
    /// create-binding: an app GUID is required.
    pub const APP_GUID_NOT_PROVIDED: i32 = 42;
    /// create-binding: the binding already exists.
    pub const BINDING_ALREADY_EXISTS: i32 = 49;
}

/// A failed adapter call.
#[derive(Debug, thiserror::Error)]
pub enum AdapterError {
    /// Exit 10.
    #[error("the service adapter does not implement {0}")]
    NotImplemented(&'static str),
    /// Exit 41.
    #[error("binding not found: {0}")]
    BindingNotFound(String),
    /// Exit 42.
    #[error("app GUID not provided: {0}")]
    AppGuidNotProvided(String),
    /// Exit 49.
    #[error("binding already exists: {0}")]
    BindingAlreadyExists(String),
    /// Any other exit code or a signal. `stdout` is the adapter's message for the user.
    #[error(
        "service adapter {subcommand} exited with {status}: stdout: '{stdout}', stderr: '{stderr}'"
    )]
    Failed {
        /// The subcommand.
        subcommand: &'static str,
        /// "code N" or "signal N".
        status: String,
        /// Its stdout: shown to the platform user when not empty.
        stdout: String,
        /// Its stderr: for the operator log only.
        stderr: String,
    },
    /// It ran too long and was killed.
    #[error(
        "service adapter {subcommand} timed out after {after:?} and was killed; stderr: '{stderr}'"
    )]
    TimedOut {
        /// The subcommand.
        subcommand: &'static str,
        /// The timeout.
        after: Duration,
        /// What it wrote to stderr.
        stderr: String,
    },
    /// It wrote more than the configured cap.
    #[error("service adapter {subcommand} wrote more than {limit} bytes to stdout")]
    OutputTooLarge {
        /// The subcommand.
        subcommand: &'static str,
        /// The cap.
        limit: usize,
    },
    /// It could not be started.
    #[error("an error occurred running the service adapter: {0}")]
    Spawn(String),
    /// It exited 0 with output that does not follow the contract.
    #[error("service adapter {subcommand} returned invalid output: {reason}")]
    InvalidOutput {
        /// The subcommand.
        subcommand: &'static str,
        /// What was wrong.
        reason: String,
    },
    /// The broker could not encode the input.
    #[error("cannot encode adapter input: {0}")]
    Encode(String),
}

impl AdapterError {
    /// The adapter's own message for the platform user (non-empty stdout of a failure).
    pub fn user_message(&self) -> Option<&str> {
        match self {
            Self::Failed { stdout, .. } if !stdout.trim().is_empty() => Some(stdout.as_str()),
            _ => None,
        }
    }
}

/// Inputs of generate-manifest, as the broker knows them.
#[derive(Debug, Clone)]
pub struct GenerateManifestRequest {
    /// Deployment name, releases and stemcells.
    pub service_deployment: ServiceDeployment,
    /// The plan to deploy.
    pub plan: Plan,
    /// The plan the instance had before (update/upgrade), `None` on create.
    pub previous_plan: Option<Plan>,
    /// The deployed manifest (update/upgrade), `None` on create.
    pub previous_manifest: Option<String>,
    /// The request-parameters map for this operation.
    pub request_params: Value,
    /// Resolved previous secrets, `None` when unknown.
    pub previous_secrets: Option<BTreeMap<String, String>>,
    /// BOSH configs of the previous deploy, `None` on create.
    pub previous_configs: Option<BTreeMap<String, String>>,
}

/// Inputs of create-binding and delete-binding.
#[derive(Debug, Clone)]
pub struct BindingRequest {
    /// The binding id.
    pub binding_id: String,
    /// VMs of the deployment.
    pub vms: BTreeMap<String, Vec<String>>,
    /// The deployed manifest.
    pub manifest: String,
    /// The request-parameters map.
    pub request_params: Value,
    /// Resolved manifest secrets, `None` when none.
    pub secrets: Option<BTreeMap<String, String>>,
    /// DNS addresses for the plan's `binding_with_dns`.
    pub dns_addresses: BTreeMap<String, String>,
}

/// One adapter call as the broker sends it: the subcommand, the stdin envelope, and the
/// legacy positional arguments. Every inner field is a JSON string, as the Go broker sends
/// it: `"null"` for an absent previous plan, secrets or configs, `""` for a new instance's
/// previous manifest.
#[derive(Debug, Clone)]
pub struct Call {
    /// The adapter subcommand.
    pub subcommand: &'static str,
    /// The stdin envelope (stdin mode).
    pub envelope: InputParams,
    /// The arguments after the subcommand (legacy argv mode).
    pub legacy_args: Vec<String>,
}

fn opt_json(value: Option<&impl serde::Serialize>) -> serde_json::Result<String> {
    match value {
        Some(v) => serde_json::to_string(v),
        None => Ok("null".to_string()),
    }
}

impl Call {
    /// generate-manifest.
    pub fn generate_manifest(req: &GenerateManifestRequest) -> serde_json::Result<Self> {
        let sd = serde_json::to_string(&req.service_deployment)?;
        let plan = serde_json::to_string(&req.plan)?;
        let previous_plan = opt_json(req.previous_plan.as_ref())?;
        let request_params = serde_json::to_string(&req.request_params)?;
        let previous_manifest = req.previous_manifest.clone().unwrap_or_default();
        let params = GenerateManifestJsonParams {
            service_deployment: sd.clone(),
            plan: plan.clone(),
            previous_plan: previous_plan.clone(),
            previous_manifest: previous_manifest.clone(),
            request_parameters: request_params.clone(),
            previous_secrets: opt_json(req.previous_secrets.as_ref())?,
            previous_configs: opt_json(req.previous_configs.as_ref())?,
            uaa_client: "null".to_string(),
        };
        Ok(Self {
            subcommand: "generate-manifest",
            envelope: InputParams { generate_manifest: params, ..Default::default() },
            legacy_args: vec![sd, plan, request_params, previous_manifest, previous_plan],
        })
    }

    /// create-binding or delete-binding: the same parameters in the envelope's `field`.
    fn binding(
        subcommand: &'static str, req: &BindingRequest,
        field: fn(&mut InputParams) -> &mut BindingJsonParams,
    ) -> serde_json::Result<Self> {
        let vms = serde_json::to_string(&req.vms)?;
        let rp = serde_json::to_string(&req.request_params)?;
        let mut envelope = InputParams::default();
        *field(&mut envelope) = BindingJsonParams {
            binding_id: req.binding_id.clone(),
            bosh_vms: vms.clone(),
            manifest: req.manifest.clone(),
            request_parameters: rp.clone(),
            secrets: opt_json(req.secrets.as_ref())?,
            dns_addresses: serde_json::to_string(&req.dns_addresses)?,
        };
        Ok(Self {
            subcommand,
            envelope,
            legacy_args: vec![req.binding_id.clone(), vms, req.manifest.clone(), rp],
        })
    }

    /// create-binding.
    pub fn create_binding(req: &BindingRequest) -> serde_json::Result<Self> {
        Self::binding("create-binding", req, |e| &mut e.create_binding)
    }

    /// delete-binding.
    pub fn delete_binding(req: &BindingRequest) -> serde_json::Result<Self> {
        Self::binding("delete-binding", req, |e| &mut e.delete_binding)
    }

    /// dashboard-url.
    pub fn dashboard_url(
        instance_id: &str, plan: &Plan, manifest: &str,
    ) -> serde_json::Result<Self> {
        let plan = serde_json::to_string(plan)?;
        Ok(Self {
            subcommand: "dashboard-url",
            envelope: InputParams {
                dashboard_url: DashboardUrlJsonParams {
                    instance_id: instance_id.to_string(),
                    plan: plan.clone(),
                    manifest: manifest.to_string(),
                },
                ..Default::default()
            },
            legacy_args: vec![instance_id.to_string(), plan, manifest.to_string()],
        })
    }

    /// generate-plan-schemas.
    pub fn generate_plan_schemas(plan: &Plan) -> serde_json::Result<Self> {
        let plan = serde_json::to_string(plan)?;
        Ok(Self {
            subcommand: "generate-plan-schemas",
            envelope: InputParams {
                generate_plan_schemas: GeneratePlanSchemasJsonParams { plan: plan.clone() },
                ..Default::default()
            },
            legacy_args: vec!["-plan-json".to_string(), plan],
        })
    }

    /// The stdin document: the envelope and a trailing newline.
    pub fn stdin(&self) -> serde_json::Result<String> {
        let mut body = serde_json::to_string(&self.envelope)?;
        body.push('\n');
        Ok(body)
    }
}

/// The configured adapter's command line: the program and the arguments before the
/// subcommand. The built-in example adapter is this very binary, run as
/// `<binary> example-adapter <subcommand>`.
#[derive(Debug, Clone)]
pub struct AdapterProgram {
    program: PathBuf,
    prefix_args: Vec<OsString>,
    /// The adapter settings from the config.
    pub settings: AdapterSettings,
}

impl AdapterProgram {
    /// The adapter the settings name.
    pub fn new(settings: AdapterSettings) -> std::io::Result<Self> {
        let (program, prefix_args) = match &settings.command {
            AdapterCommand::Executable(p) => (p.clone(), vec![]),
            AdapterCommand::BuiltinExample => {
                (std::env::current_exe()?, vec![OsString::from("example-adapter")])
            }
        };
        Ok(Self { program, prefix_args, settings })
    }

    /// The command line without the subcommand, for logs and reports.
    pub fn describe(&self) -> String {
        let mut s = self.program.display().to_string();
        for a in &self.prefix_args {
            s.push(' ');
            s.push_str(&a.to_string_lossy());
        }
        s
    }

    /// How a call of `subcommand` is run: its input `stdin`, or in legacy mode its
    /// `legacy_args` as positional arguments (see [`Call`]).
    pub fn invocation(
        &self, subcommand: &str, stdin: String, legacy_args: &[String],
    ) -> Invocation {
        let mut args = self.prefix_args.clone();
        args.push(subcommand.into());
        let stdin = if self.settings.use_stdin {
            Some(stdin.into_bytes())
        } else {
            args.extend(legacy_args.iter().map(OsString::from));
            None
        };
        Invocation {
            program: self.program.clone(),
            args,
            stdin,
            timeout: self.settings.timeout,
            max_output_bytes: self.settings.max_output_bytes,
        }
    }
}

/// Runs the configured service adapter.
#[derive(Debug, Clone)]
pub struct AdapterClient {
    program: AdapterProgram,
    metrics: std::sync::Arc<crate::metrics::Metrics>,
}

fn encode<T>(result: serde_json::Result<T>) -> Result<T, AdapterError> {
    result.map_err(|e| AdapterError::Encode(e.to_string()))
}

impl AdapterClient {
    /// A client for the configured adapter (see [`AdapterProgram`]).
    pub fn new(settings: AdapterSettings) -> std::io::Result<Self> {
        Ok(Self { program: AdapterProgram::new(settings)?, metrics: Default::default() })
    }

    /// The same client, counting its runs in `metrics`.
    pub fn with_metrics(mut self, metrics: std::sync::Arc<crate::metrics::Metrics>) -> Self {
        self.metrics = metrics;
        self
    }

    /// A description of the command, for logs.
    pub fn describe(&self) -> String {
        self.program.describe()
    }

    async fn invoke(
        &self, call: serde_json::Result<Call>, mut redactor: Redactor,
    ) -> Result<Outcome, AdapterError> {
        let call = encode(call)?;
        let subcommand = call.subcommand;
        let stdin = encode(call.stdin())?;
        let inv = self.program.invocation(subcommand, stdin, &call.legacy_args);
        let started = std::time::Instant::now();
        let result = process::run(&inv).await;
        let outcome_label = match &result {
            Ok(o) => match (o.exit_code, o.signal) {
                (Some(code), _) => format!("exit_{code}"),
                (None, Some(sig)) => format!("signal_{sig}"),
                _ => "unknown".to_string(),
            },
            Err(RunError::Spawn { .. }) => "spawn_error".to_string(),
            Err(RunError::TimedOut(..)) => "timeout".to_string(),
        };
        let took = started.elapsed();
        self.metrics.adapter_called(subcommand, outcome_label.clone(), took);
        let journal_step = |stdout: String, stderr: &str| crate::journal::Step::Adapter {
            subcommand: subcommand.to_string(),
            outcome: outcome_label.clone(),
            duration_ms: took.as_millis() as u64,
            stdout: crate::journal::excerpt(&stdout),
            stderr: crate::journal::excerpt(stderr),
        };
        let outcome = match result {
            Ok(o) => o,
            Err(RunError::Spawn { program, source }) => {
                crate::journal::record(journal_step(String::new(), "")).await;
                return Err(AdapterError::Spawn(format!("{program}: {source}")));
            }
            Err(RunError::TimedOut(after, outcome)) => {
                let stderr = redactor.redact(&lossy(&outcome.stderr.kept));
                crate::journal::record(journal_step(String::new(), &stderr)).await;
                return Err(AdapterError::TimedOut { subcommand, after, stderr });
            }
        };
        tracing::debug!(
            adapter.subcommand = subcommand,
            adapter.exit_code = ?outcome.exit_code,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "service adapter finished"
        );
        if outcome.exit_code == Some(exit::SUCCESS) && subcommand == "create-binding" {
            if let Ok(created) = serde_json::from_slice::<Value>(&outcome.stdout.kept) {
                redactor.add_json_strings(&created["credentials"]);
            }
        }
        let stderr = redactor.redact(&lossy(&outcome.stderr.kept));
        if !stderr.is_empty() {
            tracing::info!(
                adapter.subcommand = subcommand,
                "service adapter stderr: {}",
                stderr.trim_end()
            );
        }
        if outcome.stdout.truncated {
            return Err(AdapterError::OutputTooLarge {
                subcommand,
                limit: self.program.settings.max_output_bytes,
            });
        }
        let stdout = lossy(&outcome.stdout.kept);
        if crate::journal::active() {
            // On success stdout is the adapter's answer (a manifest, credentials): it may hold
            // secrets nobody told the redactor about, so only a failure's message is kept.
            let kept = if outcome.exit_code == Some(exit::SUCCESS) {
                String::new()
            } else {
                redactor.redact(&stdout)
            };
            crate::journal::record(journal_step(kept, &stderr)).await;
        }
        match outcome.exit_code {
            Some(exit::SUCCESS) => Ok(outcome),
            Some(exit::NOT_IMPLEMENTED) => Err(AdapterError::NotImplemented(subcommand)),
            Some(exit::BINDING_NOT_FOUND) => Err(AdapterError::BindingNotFound(stdout)),
            Some(exit::APP_GUID_NOT_PROVIDED) => Err(AdapterError::AppGuidNotProvided(stdout)),
            Some(exit::BINDING_ALREADY_EXISTS) => Err(AdapterError::BindingAlreadyExists(stdout)),
            code => Err(AdapterError::Failed {
                subcommand,
                status: match (code, outcome.signal) {
                    (Some(c), _) => format!("code {c}"),
                    (None, Some(s)) => format!("signal {s}"),
                    _ => "unknown status".to_string(),
                },
                stdout,
                stderr,
            }),
        }
    }

    /// generate-manifest: returns the manifest, secrets, configs and labels.
    pub async fn generate_manifest(
        &self, req: &GenerateManifestRequest,
    ) -> Result<MarshalledGenerateManifest, AdapterError> {
        let redactor = Redactor::new(req.previous_secrets.iter().flat_map(|m| m.values().cloned()));
        let out = self.invoke(Call::generate_manifest(req), redactor).await?;
        let stdout = lossy(&out.stdout.kept);
        if !self.program.settings.use_stdin {
            return Ok(MarshalledGenerateManifest {
                manifest: stdout,
                secrets: None,
                configs: None,
                labels: None,
            });
        }
        serde_json::from_str(&stdout).map_err(|e| AdapterError::InvalidOutput {
            subcommand: "generate-manifest",
            reason: format!(
                "expected {{\"manifest\": ..., \"secrets\": ..., \"configs\": ...}}: {e}"
            ),
        })
    }

    /// dashboard-url: `Ok(None)` when the adapter does not implement it.
    pub async fn dashboard_url(
        &self, instance_id: &str, plan: &Plan, manifest: &str,
    ) -> Result<Option<String>, AdapterError> {
        let call = Call::dashboard_url(instance_id, plan, manifest);
        match self.invoke(call, Redactor::default()).await {
            Ok(out) => {
                let parsed: DashboardUrl = parse_output("dashboard-url", &out.stdout.kept)?;
                Ok(Some(parsed.dashboard_url).filter(|u| !u.is_empty()))
            }
            Err(AdapterError::NotImplemented(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// create-binding.
    pub async fn create_binding(&self, req: &BindingRequest) -> Result<Binding, AdapterError> {
        let redactor = Redactor::new(req.secrets.iter().flat_map(|m| m.values().cloned()));
        let out = self.invoke(Call::create_binding(req), redactor).await?;
        parse_output("create-binding", &out.stdout.kept)
    }

    /// delete-binding.
    pub async fn delete_binding(&self, req: &BindingRequest) -> Result<(), AdapterError> {
        let redactor = Redactor::new(req.secrets.iter().flat_map(|m| m.values().cloned()));
        self.invoke(Call::delete_binding(req), redactor).await.map(|_| ())
    }

    /// generate-plan-schemas: `Ok(None)` when the adapter does not implement it.
    pub async fn generate_plan_schemas(
        &self, plan: &Plan,
    ) -> Result<Option<PlanSchema>, AdapterError> {
        match self.invoke(Call::generate_plan_schemas(plan), Redactor::default()).await {
            Ok(out) => parse_output("generate-plan-schemas", &out.stdout.kept).map(Some),
            Err(AdapterError::NotImplemented(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }
}

fn lossy(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn parse_output<T: serde::de::DeserializeOwned>(
    subcommand: &'static str, stdout: &[u8],
) -> Result<T, AdapterError> {
    serde_json::from_slice(stdout)
        .map_err(|e| AdapterError::InvalidOutput { subcommand, reason: e.to_string() })
}

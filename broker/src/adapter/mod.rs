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

/// Runs the configured service adapter.
#[derive(Debug, Clone)]
pub struct AdapterClient {
    program: PathBuf,
    prefix_args: Vec<OsString>,
    settings: AdapterSettings,
    metrics: std::sync::Arc<crate::metrics::Metrics>,
}

fn json(value: &impl serde::Serialize) -> Result<String, AdapterError> {
    serde_json::to_string(value).map_err(|e| AdapterError::Encode(e.to_string()))
}

fn opt_json(value: Option<&impl serde::Serialize>) -> Result<String, AdapterError> {
    match value {
        Some(v) => json(v),
        None => Ok("null".to_string()),
    }
}

impl AdapterClient {
    /// A client for the configured adapter. The built-in example adapter is this very
    /// binary, run as `<binary> example-adapter <subcommand>`.
    pub fn new(settings: AdapterSettings) -> std::io::Result<Self> {
        let (program, prefix_args) = match &settings.command {
            AdapterCommand::Executable(p) => (p.clone(), vec![]),
            AdapterCommand::BuiltinExample => (
                std::env::current_exe()?,
                vec![OsString::from("example-adapter")],
            ),
        };
        Ok(Self {
            program,
            prefix_args,
            settings,
            metrics: Default::default(),
        })
    }

    /// The same client, counting its runs in `metrics`.
    pub fn with_metrics(mut self, metrics: std::sync::Arc<crate::metrics::Metrics>) -> Self {
        self.metrics = metrics;
        self
    }

    /// A description of the command, for logs.
    pub fn describe(&self) -> String {
        let mut s = self.program.display().to_string();
        for a in &self.prefix_args {
            s.push(' ');
            s.push_str(&a.to_string_lossy());
        }
        s
    }

    async fn invoke(
        &self,
        subcommand: &'static str,
        envelope: InputParams,
        legacy_args: Vec<String>,
        mut redactor: Redactor,
    ) -> Result<Outcome, AdapterError> {
        let mut args = self.prefix_args.clone();
        args.push(subcommand.into());
        let stdin = if self.settings.use_stdin {
            let mut body = json(&envelope)?;
            body.push('\n');
            Some(body.into_bytes())
        } else {
            args.extend(legacy_args.into_iter().map(OsString::from));
            None
        };
        let inv = Invocation {
            program: self.program.clone(),
            args,
            stdin,
            timeout: self.settings.timeout,
            max_output_bytes: self.settings.max_output_bytes,
        };
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
        self.metrics
            .adapter_called(subcommand, outcome_label.clone(), took);
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
                let stderr = redactor.redact(&lossy(&outcome.stderr));
                crate::journal::record(journal_step(String::new(), &stderr)).await;
                return Err(AdapterError::TimedOut {
                    subcommand,
                    after,
                    stderr,
                });
            }
        };
        tracing::debug!(
            adapter.subcommand = subcommand,
            adapter.exit_code = ?outcome.exit_code,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "service adapter finished"
        );
        if outcome.exit_code == Some(exit::SUCCESS) && subcommand == "create-binding" {
            if let Ok(created) = serde_json::from_slice::<Value>(&outcome.stdout) {
                redactor.add_json_strings(&created["credentials"]);
            }
        }
        let stderr = redactor.redact(&lossy(&outcome.stderr));
        if !stderr.is_empty() {
            tracing::info!(
                adapter.subcommand = subcommand,
                "service adapter stderr: {}",
                stderr.trim_end()
            );
        }
        if outcome.stdout_truncated {
            return Err(AdapterError::OutputTooLarge {
                subcommand,
                limit: self.settings.max_output_bytes,
            });
        }
        let stdout = lossy(&outcome.stdout);
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
        &self,
        req: &GenerateManifestRequest,
    ) -> Result<MarshalledGenerateManifest, AdapterError> {
        let sd = json(&req.service_deployment)?;
        let plan = json(&req.plan)?;
        let previous_plan = opt_json(req.previous_plan.as_ref())?;
        let request_params = json(&req.request_params)?;
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
        let envelope = InputParams {
            generate_manifest: params,
            ..Default::default()
        };
        let legacy = vec![sd, plan, request_params, previous_manifest, previous_plan];
        let redactor = Redactor::new(
            req.previous_secrets
                .iter()
                .flat_map(|m| m.values().cloned()),
        );
        let out = self
            .invoke("generate-manifest", envelope, legacy, redactor)
            .await?;
        let stdout = lossy(&out.stdout);
        if !self.settings.use_stdin {
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
        &self,
        instance_id: &str,
        plan: &Plan,
        manifest: &str,
    ) -> Result<Option<String>, AdapterError> {
        let plan = json(plan)?;
        let envelope = InputParams {
            dashboard_url: DashboardUrlJsonParams {
                instance_id: instance_id.to_string(),
                plan: plan.clone(),
                manifest: manifest.to_string(),
            },
            ..Default::default()
        };
        let legacy = vec![instance_id.to_string(), plan, manifest.to_string()];
        match self
            .invoke("dashboard-url", envelope, legacy, Redactor::default())
            .await
        {
            Ok(out) => {
                let parsed: DashboardUrl = parse_output("dashboard-url", &out.stdout)?;
                Ok(Some(parsed.dashboard_url).filter(|u| !u.is_empty()))
            }
            Err(AdapterError::NotImplemented(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn binding_params(
        req: &BindingRequest,
    ) -> Result<(BindingJsonParams, Vec<String>), AdapterError> {
        let vms = json(&req.vms)?;
        let rp = json(&req.request_params)?;
        let params = BindingJsonParams {
            binding_id: req.binding_id.clone(),
            bosh_vms: vms.clone(),
            manifest: req.manifest.clone(),
            request_parameters: rp.clone(),
            secrets: opt_json(req.secrets.as_ref())?,
            dns_addresses: json(&req.dns_addresses)?,
        };
        Ok((
            params,
            vec![req.binding_id.clone(), vms, req.manifest.clone(), rp],
        ))
    }

    /// create-binding.
    pub async fn create_binding(&self, req: &BindingRequest) -> Result<Binding, AdapterError> {
        let (params, legacy) = Self::binding_params(req)?;
        let envelope = InputParams {
            create_binding: params,
            ..Default::default()
        };
        let redactor = Redactor::new(req.secrets.iter().flat_map(|m| m.values().cloned()));
        let out = self
            .invoke("create-binding", envelope, legacy, redactor)
            .await?;
        parse_output("create-binding", &out.stdout)
    }

    /// delete-binding.
    pub async fn delete_binding(&self, req: &BindingRequest) -> Result<(), AdapterError> {
        let (params, legacy) = Self::binding_params(req)?;
        let envelope = InputParams {
            delete_binding: params,
            ..Default::default()
        };
        let redactor = Redactor::new(req.secrets.iter().flat_map(|m| m.values().cloned()));
        self.invoke("delete-binding", envelope, legacy, redactor)
            .await
            .map(|_| ())
    }

    /// generate-plan-schemas: `Ok(None)` when the adapter does not implement it.
    pub async fn generate_plan_schemas(
        &self,
        plan: &Plan,
    ) -> Result<Option<PlanSchema>, AdapterError> {
        let plan = json(plan)?;
        let envelope = InputParams {
            generate_plan_schemas: GeneratePlanSchemasJsonParams { plan: plan.clone() },
            ..Default::default()
        };
        let legacy = vec!["-plan-json".to_string(), plan];
        match self
            .invoke(
                "generate-plan-schemas",
                envelope,
                legacy,
                Redactor::default(),
            )
            .await
        {
            Ok(out) => parse_output("generate-plan-schemas", &out.stdout).map(Some),
            Err(AdapterError::NotImplemented(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }
}

fn lossy(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn parse_output<T: serde::de::DeserializeOwned>(
    subcommand: &'static str,
    stdout: &[u8],
) -> Result<T, AdapterError> {
    serde_json::from_slice(stdout).map_err(|e| AdapterError::InvalidOutput {
        subcommand,
        reason: e.to_string(),
    })
}

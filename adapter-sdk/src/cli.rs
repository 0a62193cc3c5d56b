//! The adapter runtime: argv dispatch, input parsing, output framing and exit codes.
//!
//! [`handle`] is the testable core; [`run`] wires it to the real process.

use std::collections::BTreeMap;
use std::io::{Read, Write};

use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::bosh::{BoshManifest, BoshVms};
use crate::errors::AdapterError;
use crate::gojson::{self, try_to_go_json};
use crate::wire::{
    BindingJsonParams, DashboardUrlJsonParams, GenerateManifestJsonParams, InputParams,
};
use crate::{
    Binding, BoshConfigs, CreateBindingParams, DashboardUrl, DashboardUrlParams,
    DeleteBindingParams, DnsAddresses, GenerateManifestOutput, GenerateManifestParams,
    GeneratePlanSchemasParams, ManifestSecrets, Plan, PlanError, PlanSchema, RequestParameters,
    ServiceDeployment, ServiceInstanceUaaClient, ERROR_EXIT_CODE, NOT_IMPLEMENTED_EXIT_CODE,
    SUCCESS_EXIT_CODE,
};

/// Generates the BOSH manifest of a service instance (generate-manifest).
pub trait ManifestGenerator {
    /// Returns the manifest, plus any broker-managed secrets, BOSH configs and labels.
    fn generate_manifest(
        &self, params: GenerateManifestParams,
    ) -> Result<GenerateManifestOutput, AdapterError>;
}

/// Creates and deletes bindings (create-binding and delete-binding).
pub trait Binder {
    /// Returns the credentials for a new binding.
    fn create_binding(&self, params: CreateBindingParams) -> Result<Binding, AdapterError>;
    /// Revokes a binding's credentials.
    fn delete_binding(&self, params: DeleteBindingParams) -> Result<(), AdapterError>;
}

/// Computes the dashboard address of a service instance (dashboard-url).
pub trait DashboardUrlGenerator {
    /// Returns the dashboard URL.
    fn dashboard_url(&self, params: DashboardUrlParams) -> Result<DashboardUrl, AdapterError>;
}

/// Describes the parameters a plan accepts (generate-plan-schemas).
pub trait SchemaGenerator {
    /// Returns JSON schemas for provision, update and bind parameters.
    fn generate_plan_schemas(
        &self, params: GeneratePlanSchemasParams,
    ) -> Result<PlanSchema, AdapterError>;
}

/// The parts an adapter implements; a `None` subcommand exits with code 10.
#[derive(Default)]
pub struct CommandLineHandler {
    /// Backs generate-manifest.
    pub manifest_generator: Option<Box<dyn ManifestGenerator>>,
    /// Backs create-binding and delete-binding.
    pub binder: Option<Box<dyn Binder>>,
    /// Backs dashboard-url.
    pub dashboard_url_generator: Option<Box<dyn DashboardUrlGenerator>>,
    /// Backs generate-plan-schemas.
    pub schema_generator: Option<Box<dyn SchemaGenerator>>,
}

const GENERATE_MANIFEST: &str = "generate-manifest";
const CREATE_BINDING: &str = "create-binding";
const DELETE_BINDING: &str = "delete-binding";
const DASHBOARD_URL: &str = "dashboard-url";
const GENERATE_PLAN_SCHEMAS: &str = "generate-plan-schemas";

impl CommandLineHandler {
    fn implemented(&self, subcommand: &str) -> Option<bool> {
        match subcommand {
            GENERATE_MANIFEST => Some(self.manifest_generator.is_some()),
            CREATE_BINDING | DELETE_BINDING => Some(self.binder.is_some()),
            DASHBOARD_URL => Some(self.dashboard_url_generator.is_some()),
            GENERATE_PLAN_SCHEMAS => Some(self.schema_generator.is_some()),
            _ => None,
        }
    }

    /// The implemented subcommands, sorted and joined with `", "`.
    fn supported_list(&self) -> String {
        let mut names: Vec<&str> = [
            CREATE_BINDING,
            DASHBOARD_URL,
            DELETE_BINDING,
            GENERATE_MANIFEST,
            GENERATE_PLAN_SCHEMAS,
        ]
        .into_iter()
        .filter(|name| self.implemented(name) == Some(true))
        .collect();
        names.sort_unstable();
        names.join(", ")
    }
}

/// How a subcommand failed.
enum Failure {
    /// Parse, validation or output errors: stderr only.
    Sdk(String),
    /// The adapter's own error: stdout and stderr, with the error's exit code.
    Adapter(AdapterError),
}

impl From<AdapterError> for Failure {
    fn from(error: AdapterError) -> Self {
        Failure::Adapter(error)
    }
}

fn sdk(message: impl Into<String>) -> Failure {
    Failure::Sdk(message.into())
}

type Outcome = Result<Vec<u8>, Failure>;

/// Runs one adapter invocation. `args[0]` is the program path (its file name appears in
/// usage messages), `args[1]` the subcommand. Returns the exit code.
///
/// Any argument after the subcommand selects the legacy positional form and stdin is not
/// read; otherwise stdin is read to EOF as the JSON envelope.
pub fn handle(
    handler: &CommandLineHandler, args: &[String], stdin: &mut dyn Read, stdout: &mut dyn Write,
    stderr: &mut dyn Write,
) -> i32 {
    let Some(subcommand) = args.get(1) else {
        log(stderr, &format!("the following commands are supported: {}", handler.supported_list()));
        return ERROR_EXIT_CODE;
    };
    log(stderr, &format!("handling {subcommand}"));
    match handler.implemented(subcommand) {
        None => {
            log(
                stderr,
                &format!(
                    "unknown subcommand: {subcommand}. The following commands are supported: {}",
                    handler.supported_list()
                ),
            );
            return ERROR_EXIT_CODE;
        }
        Some(false) => {
            log(stderr, &format!("{subcommand} not implemented"));
            return NOT_IMPLEMENTED_EXIT_CODE;
        }
        Some(true) => {}
    }

    let program =
        args.first().map(|p| p.rsplit('/').next().unwrap_or(p).to_string()).unwrap_or_default();
    let rest = &args[2..];
    let invocation = Invocation { handler, program: &program, rest, stdin, stderr: &mut *stderr };
    let outcome = invocation.dispatch(subcommand);
    match outcome {
        Ok(bytes) => {
            let _ = stdout.write_all(&bytes);
            let _ = stdout.flush();
            SUCCESS_EXIT_CODE
        }
        Err(Failure::Sdk(message)) => {
            log(stderr, &message);
            ERROR_EXIT_CODE
        }
        Err(Failure::Adapter(error)) => {
            let message = error.to_string();
            let _ = stdout.write_all(message.as_bytes());
            let _ = stdout.flush();
            log(stderr, &message);
            error.exit_code()
        }
    }
}

/// Runs the adapter with the process's arguments and standard streams, then exits with
/// the resulting code. A panic in adapter code exits with code 2 and empty stdout.
pub fn run(handler: CommandLineHandler) -> ! {
    let args: Vec<String> = std::env::args_os().map(|a| a.to_string_lossy().into_owned()).collect();
    let code = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let mut stdout = std::io::stdout().lock();
        let mut stderr = std::io::stderr().lock();
        handle(&handler, &args, &mut std::io::stdin().lock(), &mut stdout, &mut stderr)
    }))
    .unwrap_or(2);
    std::process::exit(code)
}

fn log(stderr: &mut dyn Write, message: &str) {
    let _ = writeln!(stderr, "[odb-sdk] {message}");
    let _ = stderr.flush();
}

struct Invocation<'a> {
    handler: &'a CommandLineHandler,
    program: &'a str,
    rest: &'a [String],
    stdin: &'a mut dyn Read,
    stderr: &'a mut dyn Write,
}

impl Invocation<'_> {
    fn dispatch(self, subcommand: &str) -> Outcome {
        match subcommand {
            GENERATE_MANIFEST => self.generate_manifest(),
            CREATE_BINDING => self.create_binding(),
            DELETE_BINDING => self.delete_binding(),
            DASHBOARD_URL => self.dashboard_url(),
            _ => self.generate_plan_schemas(),
        }
    }

    fn legacy(&self) -> bool {
        !self.rest.is_empty()
    }

    fn require_args(&self, subcommand: &str, count: usize, spec: &str) -> Result<(), Failure> {
        if self.rest.len() < count {
            return Err(sdk(format!(
                "Missing arguments for {subcommand}. Usage: {} {subcommand} {spec}",
                self.program
            )));
        }
        Ok(())
    }

    fn read_input(&mut self) -> Result<InputParams, Failure> {
        let mut bytes = Vec::new();
        self.stdin
            .read_to_end(&mut bytes)
            .map_err(|e| sdk(format!("error reading input params JSON, error: {e}")))?;
        if bytes.is_empty() {
            return Err(sdk("expecting parameters to be passed via stdin"));
        }
        InputParams::from_json(&bytes)
            .map_err(|e| sdk(format!("error unmarshalling input params JSON, error: {e}")))
    }

    fn generate_manifest(mut self) -> Outcome {
        let generator = self.handler.manifest_generator.as_deref().ok_or_else(|| sdk(""))?;
        let (input, legacy) = if self.legacy() {
            self.require_args(
                GENERATE_MANIFEST,
                5,
                "<service-deployment-JSON> <plan-JSON> <request-params-JSON> <previous-manifest-YAML> <previous-plan-JSON>",
            )?;
            let r = self.rest;
            let input = GenerateManifestJsonParams {
                service_deployment: r[0].clone(),
                plan: r[1].clone(),
                request_parameters: r[2].clone(),
                previous_manifest: r[3].clone(),
                previous_plan: r[4].clone(),
                ..Default::default()
            };
            (input, true)
        } else {
            (self.read_input()?.generate_manifest, false)
        };
        let params = parse_generate_manifest(&input, legacy)?;
        let output = generator.generate_manifest(params)?;
        if legacy {
            let yaml = output
                .manifest
                .to_yaml()
                .map_err(|e| sdk(format!("error marshalling bosh manifest: {e}")))?;
            return Ok(yaml.into_bytes());
        }
        let marshalled = output
            .to_marshalled()
            .map_err(|e| sdk(format!("error marshalling manifest yaml output: {e}")))?;
        let json = try_to_go_json(&marshalled)
            .map_err(|e| sdk(format!("error marshalling generate-manifest json output: {e}")))?;
        Ok(json.into_bytes())
    }

    fn binding_input(
        &mut self, subcommand: &str, key: fn(InputParams) -> BindingJsonParams,
    ) -> Result<BindingJsonParams, Failure> {
        if self.legacy() {
            self.require_args(
                subcommand,
                4,
                "<binding-ID> <bosh-VMs-JSON> <manifest-YAML> <request-params-JSON>",
            )?;
            let r = self.rest;
            return Ok(BindingJsonParams {
                binding_id: r[0].clone(),
                bosh_vms: r[1].clone(),
                manifest: r[2].clone(),
                request_parameters: r[3].clone(),
                ..Default::default()
            });
        }
        Ok(key(self.read_input()?))
    }

    fn create_binding(mut self) -> Outcome {
        let binder = self.handler.binder.as_deref().ok_or_else(|| sdk(""))?;
        let input = self.binding_input(CREATE_BINDING, |i| i.create_binding)?;
        let parsed = parse_binding(&input)?;
        let binding = binder.create_binding(CreateBindingParams {
            binding_id: parsed.binding_id,
            deployment_topology: parsed.bosh_vms,
            manifest: parsed.manifest,
            request_params: parsed.request_params,
            secrets: parsed.secrets,
            dns_addresses: parsed.dns_addresses,
        })?;
        let json = try_to_go_json(&binding)
            .map_err(|e| sdk(format!("error marshalling binding json output: {e}")))?;
        Ok(format!("{json}\n").into_bytes())
    }

    fn delete_binding(mut self) -> Outcome {
        let binder = self.handler.binder.as_deref().ok_or_else(|| sdk(""))?;
        let input = self.binding_input(DELETE_BINDING, |i| i.delete_binding)?;
        let parsed = parse_binding(&input)?;
        binder.delete_binding(DeleteBindingParams {
            binding_id: parsed.binding_id,
            deployment_topology: parsed.bosh_vms,
            manifest: parsed.manifest,
            request_params: parsed.request_params,
            secrets: parsed.secrets,
            dns_addresses: parsed.dns_addresses,
        })?;
        Ok(Vec::new())
    }

    fn dashboard_url(mut self) -> Outcome {
        let generator = self.handler.dashboard_url_generator.as_deref().ok_or_else(|| sdk(""))?;
        let input = if self.legacy() {
            self.require_args(DASHBOARD_URL, 3, "<instance-ID> <plan-JSON> <manifest-YAML>")?;
            let r = self.rest;
            DashboardUrlJsonParams {
                instance_id: r[0].clone(),
                plan: r[1].clone(),
                manifest: r[2].clone(),
            }
        } else {
            self.read_input()?.dashboard_url
        };
        let plan =
            parse_plan(&input.plan, "unmarshalling service plan", "validating service plan")?;
        let manifest = BoshManifest::from_yaml(&input.manifest)
            .map_err(|e| sdk(format!("unmarshalling manifest YAML: {e}")))?;
        let url = generator.dashboard_url(DashboardUrlParams {
            instance_id: input.instance_id,
            plan,
            manifest,
        })?;
        let json = try_to_go_json(&url)
            .map_err(|e| sdk(format!("error marshalling dashboard url json output: {e}")))?;
        Ok(format!("{json}\n").into_bytes())
    }

    fn generate_plan_schemas(mut self) -> Outcome {
        let generator = self.handler.schema_generator.as_deref().ok_or_else(|| sdk(""))?;
        let plan_json = if self.legacy() {
            let plan_json = parse_plan_json_flag(self.rest, self.stderr)?;
            if plan_json.is_empty() {
                return Err(sdk(format!(
                    "Missing arguments for {GENERATE_PLAN_SCHEMAS}. Usage: {} {GENERATE_PLAN_SCHEMAS} -plan-json <plan-JSON>",
                    self.program
                )));
            }
            plan_json
        } else {
            self.read_input()?.generate_plan_schemas.plan
        };
        let plan =
            parse_plan(&plan_json, "error unmarshalling plan JSON", "error validating plan JSON")?;
        let schema = generator.generate_plan_schemas(GeneratePlanSchemasParams { plan })?;
        let json = try_to_go_json(&schema)
            .map_err(|e| sdk(format!("error marshalling plan schema json output: {e}")))?;
        Ok(format!("{json}\n").into_bytes())
    }
}

/// Parses `-plan-json <v>`, `--plan-json <v>` and `-plan-json=<v>` with Go `flag` rules.
/// Parsing stops at the first non-flag argument or after `--`.
fn parse_plan_json_flag(args: &[String], stderr: &mut dyn Write) -> Result<String, Failure> {
    let usage = "Usage:\n  -plan-json string\n    \tPlan JSON\n";
    let mut plan_json = String::new();
    let mut i = 0;
    while i < args.len() {
        let arg = &args[i];
        if arg.len() < 2 || !arg.starts_with('-') {
            break;
        }
        if arg == "--" {
            break;
        }
        let body = arg.strip_prefix("--").unwrap_or(&arg[1..]);
        let (name, inline_value) = match body.split_once('=') {
            Some((name, value)) => (name, Some(value.to_string())),
            None => (body, None),
        };
        let fail = |stderr: &mut dyn Write, message: String| {
            let _ = write!(stderr, "{message}\n{usage}");
            Err(sdk(message))
        };
        if name.is_empty() || name.starts_with('-') || name.starts_with('=') {
            return fail(stderr, format!("bad flag syntax: {arg}"));
        }
        if name == "h" || name == "help" {
            let _ = write!(stderr, "{usage}");
            return Err(sdk("flag: help requested"));
        }
        if name != "plan-json" {
            return fail(stderr, format!("flag provided but not defined: -{name}"));
        }
        plan_json = match inline_value {
            Some(value) => value,
            None => {
                i += 1;
                match args.get(i) {
                    Some(value) => value.clone(),
                    None => return fail(stderr, format!("flag needs an argument: -{name}")),
                }
            }
        };
        i += 1;
    }
    Ok(plan_json)
}

fn parse_plan(text: &str, unmarshal_prefix: &str, validate_prefix: &str) -> Result<Plan, Failure> {
    Plan::from_json(text).map_err(|e| match e {
        PlanError::Unmarshal(m) => sdk(format!("{unmarshal_prefix}: {m}")),
        PlanError::Invalid(v) => sdk(format!("{validate_prefix}: {v}")),
    })
}

fn parse_object<T: DeserializeOwned + Default>(
    text: &str, go_type: &str, prefix: &str,
) -> Result<Option<T>, Failure> {
    gojson::decode_optional::<T>(text, go_type).map_err(|e| sdk(format!("{prefix}: {e}")))
}

/// `""` means absent (`None`), as does `"null"`.
fn parse_optional_object<T: DeserializeOwned + Default>(
    text: &str, go_type: &str, prefix: &str,
) -> Result<Option<T>, Failure> {
    if text.is_empty() {
        return Ok(None);
    }
    parse_object(text, go_type, prefix)
}

fn parse_request_params(text: &str, prefix: &str) -> Result<RequestParameters, Failure> {
    let map: Option<serde_json::Map<String, Value>> =
        parse_object(text, "serviceadapter.RequestParameters", prefix)?;
    Ok(RequestParameters(map.unwrap_or_default()))
}

fn parse_generate_manifest(
    input: &GenerateManifestJsonParams, legacy: bool,
) -> Result<GenerateManifestParams, Failure> {
    let service_deployment =
        ServiceDeployment::from_json(&input.service_deployment).map_err(|e| match e {
            PlanError::Unmarshal(m) => sdk(format!("unmarshalling service deployment: {m}")),
            PlanError::Invalid(v) => sdk(format!("validating service deployment: {v}")),
        })?;
    let plan = parse_plan(&input.plan, "unmarshalling service plan", "validating service plan")?;
    let request_params =
        parse_request_params(&input.request_parameters, "unmarshalling requestParams")?;
    let previous_manifest = if input.previous_manifest.is_empty() {
        None
    } else {
        BoshManifest::from_yaml(&input.previous_manifest)
            .map_err(|e| sdk(format!("unmarshalling previous manifest: {e}")))?
    };
    let previous_plan = match gojson::parse(input.previous_plan.as_bytes()) {
        Ok(Value::Null) => None,
        _ => Some(parse_plan(
            &input.previous_plan,
            "unmarshalling previous service plan",
            "validating previous service plan",
        )?),
    };
    // The legacy form carries no secrets: they are absent, not empty.
    let previous_secrets: Option<ManifestSecrets> = if legacy {
        None
    } else if input.previous_secrets.is_empty() {
        Some(ManifestSecrets::new())
    } else {
        parse_object(
            &input.previous_secrets,
            "serviceadapter.ManifestSecrets",
            "unmarshalling previous secrets",
        )?
    };
    let previous_configs: Option<BoshConfigs> = parse_optional_object(
        &input.previous_configs,
        "serviceadapter.BOSHConfigs",
        "unmarshalling previous configs",
    )?;
    let service_instance_uaa_client: Option<ServiceInstanceUaaClient> = parse_optional_object(
        &input.uaa_client,
        "serviceadapter.ServiceInstanceUAAClient",
        "unmarshalling service instance client",
    )?;
    Ok(GenerateManifestParams {
        service_deployment,
        plan,
        request_params,
        previous_manifest,
        previous_plan,
        previous_secrets,
        previous_configs,
        service_instance_uaa_client,
    })
}

struct ParsedBinding {
    binding_id: String,
    bosh_vms: BoshVms,
    manifest: BoshManifest,
    request_params: RequestParameters,
    secrets: Option<ManifestSecrets>,
    dns_addresses: Option<DnsAddresses>,
}

fn parse_binding(input: &BindingJsonParams) -> Result<ParsedBinding, Failure> {
    let bosh_vms: Option<BTreeMap<String, Vec<String>>> =
        parse_object(&input.bosh_vms, "bosh.BoshVMs", "unmarshalling BOSH VMs")?;
    let manifest = BoshManifest::from_yaml(&input.manifest)
        .map_err(|e| sdk(format!("unmarshalling manifest YAML: {e}")))?
        .unwrap_or_default();
    let request_params = parse_request_params(
        &input.request_parameters,
        "unmarshalling request binding parameters",
    )?;
    let secrets = parse_optional_object(
        &input.secrets,
        "serviceadapter.ManifestSecrets",
        "unmarshalling secrets",
    )?;
    let dns_addresses = parse_optional_object(
        &input.dns_addresses,
        "serviceadapter.DNSAddresses",
        "unmarshalling DNS addresses",
    )?;
    Ok(ParsedBinding {
        binding_id: input.binding_id.clone(),
        bosh_vms: bosh_vms.unwrap_or_default(),
        manifest,
        request_params,
        secrets,
        dns_addresses,
    })
}

//! Shared fixtures: the golden inputs of the Go redis example adapter's transcripts and a
//! configurable in-test adapter.
#![allow(dead_code)]

use std::cell::RefCell;
use std::rc::Rc;

use service_adapter::wire::InputParams;
use service_adapter::*;

pub const SD: &str = r#"{"deployment_name":"service-instance_6f1c2a7e-1d2b-4c3d-9e8f-0a1b2c3d4e5f","releases":[{"name":"redis","version":"0.1.0","jobs":["redis-server","health-check","cleanup-data"]}],"stemcells":[{"stemcell_os":"ubuntu-jammy","stemcell_version":"1.404"}]}"#;
pub const PLAN: &str = r#"{"properties":{"persistence":true},"lifecycle_errands":{},"instance_groups":[{"name":"redis-server","vm_type":"small","persistent_disk_type":"ten","instances":1,"networks":["default"],"azs":["z1"]}]}"#;
pub const PROVISION_RP: &str = r#"{"service_id":"svc-id","plan_id":"plan-id","organization_guid":"org-guid","space_guid":"space-guid","context":{"platform":"cloudfoundry","organization_guid":"org-guid","space_guid":"space-guid","instance_name":"my-redis"},"parameters":{"maxclients":500}}"#;

/// The manifest of transcript T1, as the Go SDK printed it.
pub const T1_MANIFEST: &str = r#"name: service-instance_6f1c2a7e-1d2b-4c3d-9e8f-0a1b2c3d4e5f
releases:
- name: redis
  version: 0.1.0
stemcells:
- alias: only-stemcell
  os: ubuntu-jammy
  version: "1.404"
instance_groups:
- name: redis-server
  instances: 1
  jobs:
  - name: redis-server
    release: redis
    provides:
      redis:
        shared: true
    custom_provider_definitions:
    - name: redis-server-link
      type: address
    properties:
      redis:
        ca_cert: ((instance_certificate.ca))
        certificate: ((instance_certificate.certificate))
        generated_secret: ((secret_pass))
        maxclients: 500
        odb_managed_secret: ((odb_secret:odb_managed_secret))
        password: O+YCfDKSG4Yf2JaYa2ZyJ6oZfxU=
        persistence: "yes"
        private_key: ((instance_certificate.private_key))
  vm_type: small
  stemcell: only-stemcell
  persistent_disk_type: ten
  azs:
  - z1
  networks:
  - name: default
update:
  canaries: 4
  canary_watch_time: 30000-240000
  update_watch_time: 30000-240000
  max_in_flight: 4
  vm_strategy: delete-create
variables:
- name: secret_pass
  type: password
- name: instance_certificate
  type: certificate
  update_mode: no-overwrite
  options:
    common_name: redis
    is_ca: true
  consumes:
    alternative_name:
      from: redis-server-link
      properties:
        wildcard: true
    common_name:
      from: redis-server-link
tags:
  product: redis
"#;

/// What the generate-manifest envelope of the Go broker looks like for a new instance.
pub fn provision_input() -> InputParams {
    let mut input = InputParams::default();
    let gm = &mut input.generate_manifest;
    gm.service_deployment = SD.into();
    gm.plan = PLAN.into();
    gm.previous_plan = "null".into();
    gm.previous_manifest = "".into();
    gm.request_parameters = PROVISION_RP.into();
    gm.previous_secrets = "null".into();
    gm.previous_configs = "null".into();
    gm.uaa_client = "null".into();
    input
}

/// Encodes an envelope as the Go broker does (json.Encoder: escaped, trailing newline).
pub fn envelope(input: &InputParams) -> String {
    format!("{}\n", to_go_json(input))
}

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn last_stderr_line(&self) -> &str {
        self.stderr.trim_end_matches('\n').rsplit('\n').next().unwrap_or("")
    }
}

pub fn run(handler: &CommandLineHandler, args: &[&str], stdin: &str) -> Run {
    let mut argv = vec!["/var/vcap/packages/redis-adapter/bin/redis-service-adapter".to_string()];
    argv.extend(args.iter().map(|s| s.to_string()));
    let mut input = stdin.as_bytes();
    let mut out = Vec::new();
    let mut err = Vec::new();
    let code = handle(handler, &argv, &mut input, &mut out, &mut err);
    Run { code, stdout: String::from_utf8(out).unwrap(), stderr: String::from_utf8(err).unwrap() }
}

type Slot<T> = Rc<RefCell<Option<T>>>;

/// Records what each subcommand received and answers with a configurable result.
#[derive(Clone, Default)]
pub struct Fake {
    pub manifest: Slot<Result<GenerateManifestOutput, AdapterError>>,
    pub binding: Slot<Result<Binding, AdapterError>>,
    pub unbind: Slot<Result<(), AdapterError>>,
    pub schema: Slot<Result<PlanSchema, AdapterError>>,
    pub seen_generate: Slot<GenerateManifestParams>,
    pub seen_create: Slot<CreateBindingParams>,
    pub seen_delete: Slot<DeleteBindingParams>,
    pub seen_dashboard: Slot<DashboardUrlParams>,
    pub seen_schema: Slot<GeneratePlanSchemasParams>,
}

impl ManifestGenerator for Fake {
    fn generate_manifest(
        &self, params: GenerateManifestParams,
    ) -> Result<GenerateManifestOutput, AdapterError> {
        *self.seen_generate.borrow_mut() = Some(params);
        self.manifest.borrow().clone().unwrap_or_else(|| Ok(GenerateManifestOutput::default()))
    }
}

impl Binder for Fake {
    fn create_binding(&self, params: CreateBindingParams) -> Result<Binding, AdapterError> {
        *self.seen_create.borrow_mut() = Some(params);
        self.binding.borrow().clone().unwrap_or_else(|| Ok(Binding::default()))
    }

    fn delete_binding(&self, params: DeleteBindingParams) -> Result<(), AdapterError> {
        *self.seen_delete.borrow_mut() = Some(params);
        self.unbind.borrow().clone().unwrap_or(Ok(()))
    }
}

impl DashboardUrlGenerator for Fake {
    fn dashboard_url(&self, params: DashboardUrlParams) -> Result<DashboardUrl, AdapterError> {
        let url = format!("https://example.com/dashboard/{}", params.instance_id);
        *self.seen_dashboard.borrow_mut() = Some(params);
        Ok(DashboardUrl { dashboard_url: url })
    }
}

impl SchemaGenerator for Fake {
    fn generate_plan_schemas(
        &self, params: GeneratePlanSchemasParams,
    ) -> Result<PlanSchema, AdapterError> {
        *self.seen_schema.borrow_mut() = Some(params);
        self.schema.borrow().clone().unwrap_or_else(|| Ok(PlanSchema::default()))
    }
}

/// A handler with everything implemented by `fake`, except the schema generator when
/// `schemas` is false (like the redis example adapter).
pub fn handler(fake: &Fake, schemas: bool) -> CommandLineHandler {
    CommandLineHandler {
        manifest_generator: Some(Box::new(fake.clone())),
        binder: Some(Box::new(fake.clone())),
        dashboard_url_generator: Some(Box::new(fake.clone())),
        schema_generator: if schemas { Some(Box::new(fake.clone())) } else { None },
    }
}

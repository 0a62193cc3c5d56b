//! What the broker hands its adapter, built as the broker builds it: the request-parameter maps
//! of each operation (provision, update, upgrade, the pending-changes regeneration, bind,
//! unbind), the stdin envelope and the legacy positional arguments, and a fake instance (ids,
//! deployment name, platform context, VMs, DNS addresses) to fill them with.
//!
//! The request maps follow `service::instances` and `service::bindings`, and the encoding is
//! the adapter client's own ([`crate::adapter::Call`]). The kit's tests compare these bytes
//! with what the client really sends, end to end.

use crate::adapter::{BindingRequest, Call, GenerateManifestRequest};
use crate::config::PlanConfig;
use crate::ids::{PlanId, ServiceId};
use crate::service::adapter_params::{self, Previous};
use crate::service::{BindRequest, ProvisionRequest, UpdateRequest};
use serde_json::{json, Map, Value};
use service_adapter::Plan;
use std::collections::{BTreeMap, BTreeSet};

/// The text that stands for a secret in a printed envelope.
pub const MASK: &str = "<masked>";

/// One adapter call's inputs, as the broker's adapter client takes them.
#[derive(Debug, Clone)]
pub enum Request {
    /// generate-manifest.
    GenerateManifest(Box<GenerateManifestRequest>),
    /// create-binding.
    CreateBinding(BindingRequest),
    /// delete-binding.
    DeleteBinding(BindingRequest),
    /// dashboard-url.
    DashboardUrl {
        /// The service instance id.
        instance_id: String,
        /// The instance's plan.
        plan: Plan,
        /// The deployed manifest.
        manifest: String,
    },
    /// generate-plan-schemas.
    PlanSchemas(Plan),
}

/// What is sent: the subcommand, the stdin document and the legacy positional arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    /// The adapter subcommand.
    pub subcommand: &'static str,
    /// The stdin document (stdin mode), ending in `\n`.
    pub stdin: String,
    /// The arguments after the subcommand (legacy argv mode).
    pub legacy_args: Vec<String>,
}

impl Request {
    /// The adapter subcommand.
    pub fn subcommand(&self) -> &'static str {
        match self {
            Self::GenerateManifest(_) => "generate-manifest",
            Self::CreateBinding(_) => "create-binding",
            Self::DeleteBinding(_) => "delete-binding",
            Self::DashboardUrl { .. } => "dashboard-url",
            Self::PlanSchemas(_) => "generate-plan-schemas",
        }
    }

    /// Encodes the call as the broker does (with the client's own [`Call`]).
    pub fn envelope(&self) -> Result<Envelope, serde_json::Error> {
        let call = match self {
            Self::GenerateManifest(req) => Call::generate_manifest(req),
            Self::CreateBinding(req) => Call::create_binding(req),
            Self::DeleteBinding(req) => Call::delete_binding(req),
            Self::DashboardUrl { instance_id, plan, manifest } => {
                Call::dashboard_url(instance_id, plan, manifest)
            }
            Self::PlanSchemas(plan) => Call::generate_plan_schemas(plan),
        }?;
        Ok(Envelope {
            subcommand: call.subcommand,
            stdin: call.stdin()?,
            legacy_args: call.legacy_args,
        })
    }

    /// The manifest this call carries (the previous or deployed one), if any.
    pub fn manifest(&self) -> Option<&str> {
        match self {
            Self::GenerateManifest(req) => req.previous_manifest.as_deref(),
            Self::CreateBinding(req) | Self::DeleteBinding(req) => Some(&req.manifest),
            Self::DashboardUrl { manifest, .. } => Some(manifest),
            Self::PlanSchemas(_) => None,
        }
    }

    /// The secret values this call carries (previous secrets, binding secrets).
    pub fn secret_values(&self) -> Vec<String> {
        let secrets = match self {
            Self::GenerateManifest(req) => req.previous_secrets.as_ref(),
            Self::CreateBinding(req) | Self::DeleteBinding(req) => req.secrets.as_ref(),
            _ => None,
        };
        secrets.into_iter().flat_map(|m| m.values().cloned()).collect()
    }

    /// The same call with every secret value replaced by [`MASK`], except the values in
    /// `shown` (the ones the user typed on the command line and so has already). Inside the
    /// manifests, the values in `hidden` are masked too (secrets a manifest holds inline).
    pub fn masked(&self, shown: &BTreeSet<String>, hidden: &[String]) -> Request {
        let mask = |secrets: &mut Option<BTreeMap<String, String>>| {
            for v in secrets.iter_mut().flat_map(|m| m.values_mut()) {
                if !shown.contains(v) {
                    *v = MASK.to_string();
                }
            }
        };
        let hide = |text: &mut String| {
            for h in hidden.iter().filter(|h| !h.is_empty() && !shown.contains(*h)) {
                if text.contains(h.as_str()) {
                    *text = text.replace(h.as_str(), MASK);
                }
            }
        };
        let mut copy = self.clone();
        match &mut copy {
            Self::GenerateManifest(req) => {
                mask(&mut req.previous_secrets);
                if let Some(m) = req.previous_manifest.as_mut() {
                    hide(m);
                }
            }
            Self::CreateBinding(req) | Self::DeleteBinding(req) => {
                mask(&mut req.secrets);
                hide(&mut req.manifest);
            }
            Self::DashboardUrl { manifest, .. } => hide(manifest),
            Self::PlanSchemas(_) => {}
        }
        copy
    }
}

/// Words that mark a key as holding a secret (`password`, `secret_key`, `token`, ...).
pub const SECRET_KEY_WORDS: &[&str] =
    &["pass", "pwd", "secret", "token", "key", "private", "cert", "credential", "auth"];

/// Whether a key's name says that its value is a secret.
pub fn is_secret_key(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    SECRET_KEY_WORDS.iter().any(|w| key.contains(w))
}

/// The string values a manifest holds inline under secret-looking keys (BOSH variable
/// references such as `((name))` are not values and are left out).
pub fn inline_manifest_secrets(manifest: &str) -> Vec<String> {
    fn walk(v: &serde_yaml::Value, secret: bool, out: &mut Vec<String>) {
        match v {
            serde_yaml::Value::String(s) if secret && s.len() >= 6 && !s.starts_with("((") => {
                out.push(s.clone())
            }
            serde_yaml::Value::Mapping(m) => {
                for (k, v) in m {
                    let key_secret = k.as_str().is_some_and(is_secret_key);
                    walk(v, secret || key_secret, out);
                }
            }
            serde_yaml::Value::Sequence(items) => items.iter().for_each(|i| walk(i, secret, out)),
            _ => {}
        }
    }
    let mut out = Vec::new();
    if let Ok(doc) = serde_yaml::from_str::<serde_yaml::Value>(manifest) {
        walk(&doc, false, &mut out);
    }
    out
}

/// The fake service instance the kit pretends to manage.
#[derive(Debug, Clone)]
pub struct FakeInstance {
    /// The service instance id: `adapter-check-<random>`.
    pub instance_id: String,
    /// Its deployment: `service-instance_<instance id>`.
    pub deployment_name: String,
    /// The catalog's service id.
    pub service_id: ServiceId,
    /// The organization GUID a platform would send.
    pub organization_guid: String,
    /// The space GUID a platform would send.
    pub space_guid: String,
}

impl FakeInstance {
    /// A new fake instance with a random id, so that an adapter with state outside the
    /// deployment never sees the same instance twice.
    pub fn new(service_id: &ServiceId) -> Self {
        let random = uuid::Uuid::new_v4().simple().to_string();
        let instance_id = format!("adapter-check-{}", &random[..12]);
        Self {
            deployment_name: format!("{}{instance_id}", crate::ids::DEPLOYMENT_PREFIX),
            instance_id,
            service_id: service_id.clone(),
            organization_guid: "adapter-check-org-guid".to_string(),
            space_guid: "adapter-check-space-guid".to_string(),
        }
    }

    /// The platform context a Cloud Foundry platform sends.
    pub fn context(&self) -> Value {
        json!({
            "platform": "cloudfoundry",
            "organization_guid": self.organization_guid,
            "space_guid": self.space_guid,
            "instance_name": "adapter-check",
        })
    }

    /// Provision, as the broker hands it for a platform's request with this plan and these
    /// parameters (always an object).
    pub fn provision_params(&self, plan_id: &PlanId, parameters: &Value) -> Value {
        adapter_params::provision(&ProvisionRequest {
            service_id: self.service_id.clone(),
            plan_id: plan_id.clone(),
            organization_guid: self.organization_guid.clone(),
            space_guid: self.space_guid.clone(),
            context: Some(self.context()),
            parameters: parameters.clone(),
            maintenance_info: None,
            accepts_incomplete: true,
        })
    }

    /// Update from `previous_plan_id` to `plan_id`, as the broker hands it.
    pub fn update_params(
        &self, plan_id: &PlanId, previous_plan_id: &PlanId, parameters: &Value,
    ) -> Value {
        let request = UpdateRequest {
            service_id: self.service_id.clone(),
            plan_id: Some(plan_id.clone()),
            parameters: Some(parameters.clone()),
            context: Some(self.context()),
            previous_values: None,
            maintenance_info: None,
            accepts_incomplete: true,
        };
        let previous = Previous {
            service_id: &self.service_id,
            plan_id: previous_plan_id,
            organization_guid: &self.organization_guid,
            space_guid: &self.space_guid,
        };
        adapter_params::update(&request, previous, plan_id, parameters)
    }

    /// Upgrade: exactly `{"context": ...}`.
    pub fn upgrade_params(&self) -> Value {
        json!({ "context": self.context() })
    }

    /// The pending-changes regeneration: `{}`.
    pub fn pending_changes_params() -> Value {
        Value::Object(Map::new())
    }

    /// Bind, as the broker hands it; an app binding (`app_guid`) also sends
    /// `bind_resource.app_guid`, as Cloud Foundry does.
    pub fn bind_params(
        &self, plan_id: &PlanId, app_guid: Option<&str>, parameters: &Value,
    ) -> Value {
        adapter_params::bind(&BindRequest {
            service_id: self.service_id.clone(),
            plan_id: plan_id.clone(),
            parameters: parameters.clone(),
            bind_resource: app_guid.map(|guid| json!({ "app_guid": guid })),
            context: Some(self.context()),
            app_guid: app_guid.map(str::to_string),
            predecessor_binding_id: None,
        })
    }

    /// Unbind: exactly `{"plan_id", "service_id"}`.
    pub fn unbind_params(&self, plan_id: &PlanId) -> Value {
        adapter_params::unbind(&self.service_id, plan_id)
    }

    /// The DNS addresses of the plan's `binding_with_dns` entries, in the form BOSH DNS gives
    /// them (`q-s0.<group>.default.<deployment>.bosh`), as the simulated director answers.
    pub fn dns_addresses(&self, plan: &PlanConfig) -> BTreeMap<String, String> {
        crate::director::simulated::dns_query_addresses(
            &self.deployment_name,
            &plan.binding_with_dns,
        )
    }
}

/// Plausible VMs for a plan: one address per instance of each service instance group
/// (errand groups have no VMs), `10.0.<group>.<instance + 1>`.
pub fn fake_vms(plan: &Plan) -> BTreeMap<String, Vec<String>> {
    plan.instance_groups
        .iter()
        .filter(|g| g.lifecycle != "errand")
        .enumerate()
        .map(|(gi, g)| {
            let count = g.instances.clamp(1, 250) as usize;
            (g.name.clone(), (0..count).map(|i| format!("10.0.{gi}.{}", i + 1)).collect())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapter::AdapterClient;
    use crate::config::{AdapterCommand, AdapterSettings};
    use service_adapter::{ServiceDeployment, ServiceRelease, Stemcell};
    use std::os::unix::fs::PermissionsExt;
    use std::time::Duration;

    fn plan() -> Plan {
        serde_json::from_value(json!({
            "properties": {"persistence": true},
            "instance_groups": [{"name": "db", "vm_type": "small", "instances": 2,
                                 "networks": ["default"], "azs": ["z1"]}]
        }))
        .unwrap()
    }

    /// A shell adapter that saves its stdin and argv next to itself and prints canned output.
    fn recorder(dir: &std::path::Path, use_stdin: bool) -> AdapterClient {
        let path = dir.join("adapter");
        std::fs::write(
            &path,
            format!(
                "#!/bin/sh\ncat > '{d}/stdin'\nprintf '%s\\n' \"$@\" > '{d}/argv'\ncase \"$1\" in\n\
                 generate-manifest) printf '{{\"manifest\":\"name: x\\\\n\",\"secrets\":null,\"configs\":null}}' ;;\n\
                 create-binding) printf '{{\"credentials\":{{}}}}' ;;\n\
                 dashboard-url) printf '{{\"dashboard_url\":\"https://x\"}}' ;;\n\
                 generate-plan-schemas) exit 10 ;;\nesac\n",
                d = dir.display()
            ),
        )
        .unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        AdapterClient::new(AdapterSettings {
            command: AdapterCommand::Executable(path),
            timeout: Duration::from_secs(10),
            max_output_bytes: 1 << 20,
            use_stdin,
        })
        .unwrap()
    }

    fn requests() -> Vec<Request> {
        let instance = FakeInstance::new(&crate::ids::parsed("svc"));
        let p: PlanId = crate::ids::parsed("p");
        let sd = ServiceDeployment {
            deployment_name: instance.deployment_name.clone(),
            releases: vec![ServiceRelease {
                name: "r".into(),
                version: "1.0".into(),
                jobs: vec!["j".into()],
            }],
            stemcells: vec![Stemcell {
                os: "ubuntu-jammy".into(),
                version: "1.404".into(),
                name: None,
            }],
        };
        let secrets =
            BTreeMap::from([("((/odb/svc/d/k))".to_string(), "s3cr3t-value".to_string())]);
        let binding = BindingRequest {
            binding_id: "b1".into(),
            vms: fake_vms(&plan()),
            manifest: "name: x\n".into(),
            request_params: instance.bind_params(&p, Some("app"), &json!({"a": "<&>"})),
            secrets: Some(secrets.clone()),
            dns_addresses: BTreeMap::new(),
        };
        vec![
            Request::GenerateManifest(Box::new(GenerateManifestRequest {
                service_deployment: sd.clone(),
                plan: plan(),
                previous_plan: None,
                previous_manifest: None,
                request_params: instance.provision_params(&p, &json!({})),
                previous_secrets: None,
                previous_configs: None,
            })),
            Request::GenerateManifest(Box::new(GenerateManifestRequest {
                service_deployment: sd,
                plan: plan(),
                previous_plan: Some(plan()),
                previous_manifest: Some("name: x\n".into()),
                request_params: instance.upgrade_params(),
                previous_secrets: Some(secrets),
                previous_configs: Some(BTreeMap::new()),
            })),
            Request::CreateBinding(binding.clone()),
            Request::DeleteBinding(binding),
            Request::DashboardUrl {
                instance_id: instance.instance_id.clone(),
                plan: plan(),
                manifest: "name: x\n".into(),
            },
            Request::PlanSchemas(plan()),
        ]
    }

    async fn send(client: &AdapterClient, request: &Request) {
        // Only what was sent matters here, not how the canned answer parses.
        let _ = match request {
            Request::GenerateManifest(r) => client.generate_manifest(r).await.map(drop),
            Request::CreateBinding(r) => client.create_binding(r).await.map(drop),
            Request::DeleteBinding(r) => client.delete_binding(r).await,
            Request::DashboardUrl { instance_id, plan, manifest } => {
                client.dashboard_url(instance_id, plan, manifest).await.map(drop)
            }
            Request::PlanSchemas(p) => client.generate_plan_schemas(p).await.map(drop),
        };
    }

    #[tokio::test]
    async fn envelopes_are_the_bytes_the_broker_client_sends() {
        for use_stdin in [true, false] {
            let dir = tempfile::tempdir().unwrap();
            let client = recorder(dir.path(), use_stdin);
            for request in requests() {
                send(&client, &request).await;
                let envelope = request.envelope().unwrap();
                let argv = std::fs::read_to_string(dir.path().join("argv")).unwrap();
                let stdin = std::fs::read_to_string(dir.path().join("stdin")).unwrap();
                let mut expected_argv = vec![envelope.subcommand.to_string()];
                if use_stdin {
                    assert_eq!(stdin, envelope.stdin, "{}", envelope.subcommand);
                } else {
                    assert_eq!(stdin, "", "{}", envelope.subcommand);
                    expected_argv.extend(envelope.legacy_args.iter().cloned());
                }
                assert_eq!(
                    argv,
                    expected_argv.iter().map(|a| format!("{a}\n")).collect::<String>(),
                    "{}",
                    envelope.subcommand
                );
            }
        }
    }

    #[test]
    fn masking_keeps_only_the_values_given_on_the_command_line() {
        let request = &requests()[1];
        assert!(request.envelope().unwrap().stdin.contains("s3cr3t-value"));
        let masked = request.masked(&BTreeSet::new(), &[]).envelope().unwrap();
        assert!(!masked.stdin.contains("s3cr3t-value"), "{}", masked.stdin);
        assert!(masked.stdin.contains(MASK));
        let shown = BTreeSet::from(["s3cr3t-value".to_string()]);
        assert!(request.masked(&shown, &[]).envelope().unwrap().stdin.contains("s3cr3t-value"));
    }

    #[test]
    fn inline_manifest_secrets_are_found_and_masked() {
        let manifest = "name: x\ninstance_groups:\n- jobs:\n  - properties:\n      redis:\n        password: pAsSw0rd99\n        port: 6379\n        tls: {private_key: ((cert.private_key)), ca: PEMDATA-1}\n      admin_token: [tok-123456]\n";
        let found = inline_manifest_secrets(manifest);
        assert_eq!(found, vec!["pAsSw0rd99", "tok-123456"]);
        let request = Request::DashboardUrl {
            instance_id: "i".into(),
            plan: plan(),
            manifest: manifest.into(),
        };
        let shown = request.masked(&BTreeSet::new(), &found).envelope().unwrap();
        assert!(!shown.stdin.contains("pAsSw0rd99") && !shown.stdin.contains("tok-123456"));
        assert!(shown.stdin.contains("((cert.private_key))"));
    }

    #[test]
    fn vms_skip_errand_groups_and_follow_instance_counts() {
        let mut p = plan();
        let mut errand = p.instance_groups[0].clone();
        errand.name = "smoke".into();
        errand.lifecycle = "errand".into();
        p.instance_groups.push(errand);
        let vms = fake_vms(&p);
        assert_eq!(vms.len(), 1);
        assert_eq!(vms["db"], vec!["10.0.0.1", "10.0.0.2"]);
    }
}

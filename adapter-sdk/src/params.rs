//! The parsed inputs handed to adapter authors, one struct per subcommand.
//!
//! `Option` fields keep Go's distinction between a nil map ("absent", `None`) and an
//! empty one (`Some(empty)`), following the contract's `""`/`"null"` rules.

use crate::bosh::{BoshManifest, BoshVms};
use crate::{
    BoshConfigs, DnsAddresses, ManifestSecrets, Plan, RequestParameters, ServiceDeployment,
    ServiceInstanceUaaClient,
};

/// Inputs of generate-manifest.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GenerateManifestParams {
    /// Deployment name, releases and stemcells.
    pub service_deployment: ServiceDeployment,
    /// The plan to deploy.
    pub plan: Plan,
    /// Request parameters of the OSB call (empty for an upgrade without context).
    pub request_params: RequestParameters,
    /// The deployed manifest; `None` for a new instance.
    pub previous_manifest: Option<BoshManifest>,
    /// The previous plan; `None` for a new instance.
    pub previous_plan: Option<Plan>,
    /// Resolved secrets of the previous manifest. `None` when the broker sent `null`
    /// (new instance, or secure manifests off); `Some(empty)` when it sent `""`.
    pub previous_secrets: Option<ManifestSecrets>,
    /// BOSH configs previously applied; `None` when absent.
    pub previous_configs: Option<BoshConfigs>,
    /// The UAA client the broker created for the instance, if any.
    pub service_instance_uaa_client: Option<ServiceInstanceUaaClient>,
}

/// Inputs of create-binding.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CreateBindingParams {
    /// The binding id.
    pub binding_id: String,
    /// IPs of the deployment's VMs by instance group.
    pub deployment_topology: BoshVms,
    /// The deployed manifest (zero value when the broker sent none).
    pub manifest: BoshManifest,
    /// Request parameters of the bind call.
    pub request_params: RequestParameters,
    /// Resolved secrets referenced by the manifest; `None` when not sent.
    pub secrets: Option<ManifestSecrets>,
    /// DNS addresses from the plan's `binding_with_dns`; `None` when not sent.
    pub dns_addresses: Option<DnsAddresses>,
}

/// Inputs of delete-binding (the same fields as create-binding).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DeleteBindingParams {
    /// The binding id.
    pub binding_id: String,
    /// IPs of the deployment's VMs by instance group.
    pub deployment_topology: BoshVms,
    /// The deployed manifest (zero value when the broker sent none).
    pub manifest: BoshManifest,
    /// Request parameters of the unbind call.
    pub request_params: RequestParameters,
    /// Resolved secrets referenced by the manifest; `None` when not sent.
    pub secrets: Option<ManifestSecrets>,
    /// DNS addresses; `None` when not sent.
    pub dns_addresses: Option<DnsAddresses>,
}

/// Inputs of dashboard-url.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DashboardUrlParams {
    /// The service instance id.
    pub instance_id: String,
    /// The instance's plan.
    pub plan: Plan,
    /// The deployed manifest; `None` when the broker sent an empty one.
    pub manifest: Option<BoshManifest>,
}

/// Inputs of generate-plan-schemas.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GeneratePlanSchemasParams {
    /// The plan to describe.
    pub plan: Plan,
}

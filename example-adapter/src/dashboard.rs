//! dashboard-url: where users manage an instance.

use service_adapter::{DashboardUrl, DashboardUrlParams};

use service_adapter::AdapterError;

/// The dashboard's base address; the instance id is appended.
pub const DASHBOARD_BASE: &str = "https://redis-dashboard.example.com/instances/";

/// Computes dashboard URLs for the Redis service.
#[derive(Debug, Clone, Copy, Default)]
pub struct RedisDashboard;

/// `https://redis-dashboard.example.com/instances/<instance_id>`.
pub fn dashboard_url(params: &DashboardUrlParams) -> Result<DashboardUrl, AdapterError> {
    Ok(DashboardUrl {
        dashboard_url: format!("{DASHBOARD_BASE}{}", params.instance_id),
    })
}

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
    Ok(DashboardUrl { dashboard_url: format!("{DASHBOARD_BASE}{}", params.instance_id) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_ends_with_the_instance_id() {
        let url = dashboard_url(&DashboardUrlParams {
            instance_id: "6f1c2a7e".into(),
            ..DashboardUrlParams::default()
        })
        .unwrap();
        assert_eq!(url.dashboard_url, "https://redis-dashboard.example.com/instances/6f1c2a7e");
    }
}

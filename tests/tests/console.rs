//! The operator console under `/mgmt/ui`: credentials required, strict headers, failed
//! instances first, the filter, and adapter output shown as text, never markup.

mod common;

use broker_tests::{unique_id, BrokerConfig, PLAN_SMALL};
use common::{provision_failed_with_stderr, provision_ready, start};
use reqwest::Method;
use serde_json::json;

#[test]
fn the_console_lists_failed_instances_first_and_escapes_adapter_output() {
    let (_broker, client) = start(&BrokerConfig::new());
    let ready = unique_id("aaa-ready");
    provision_ready(&client, &ready, PLAN_SMALL, json!({}));
    let failed = unique_id("zzz-failed");
    provision_failed_with_stderr(&client, &failed, PLAN_SMALL, "<img src=x onerror=alert(1)>");

    let anonymous = client.clone().with_credentials("", "");
    assert_eq!(anonymous.request("GET", "/mgmt/ui", &[], None).status, 401);

    let page = client.send(Method::GET, "/mgmt/ui", &[], None);
    assert_eq!(page.status, 200, "{}", page.text);
    let csp = page.header("content-security-policy").unwrap_or_default();
    assert!(csp.contains("default-src 'none'") && !csp.contains("script"), "{csp}");
    assert_eq!(page.header("x-content-type-options"), Some("nosniff"));
    assert_eq!(page.header("cache-control"), Some("no-store"));
    let (f, r) = (page.text.find(&failed).unwrap(), page.text.find(&ready).unwrap());
    assert!(f < r, "the failed instance comes first");

    let filtered = client.send(Method::GET, "/mgmt/ui", &[("state", "ready")], None);
    assert!(filtered.text.contains(&ready) && !filtered.text.contains(&failed));

    let detail =
        client.send(Method::GET, &format!("/mgmt/ui/service_instances/{failed}"), &[], None);
    assert_eq!(detail.status, 200, "{}", detail.text);
    assert!(!detail.text.contains("<img"), "{}", detail.text);
    assert!(detail.text.contains("&lt;img src=x onerror=alert(1)&gt;"), "{}", detail.text);
}

//! Hostile instance ids against a broker on a BOSH director: whatever the broker answers, the
//! director never receives a request for a deployment other than the one named after the id,
//! with the id as one encoded path segment.

use broker_tests::fake_http::percent_decode;
use broker_tests::{
    provision_body, unique_id, BrokerConfig, BrokerProcess, FakeDirector, OsbClient,
    RecordedRequest, Response, PLAN_SMALL, SERVICE_ID,
};
use reqwest::Method;
use serde_json::Value;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(30);

/// The deployment a request is about: the decoded segment after `/deployments/`.
fn deployment_of(request: &RecordedRequest) -> Option<String> {
    let mut segments = request.raw_path.trim_start_matches('/').split('/');
    (segments.next() == Some("deployments")).then(|| segments.next().map(percent_decode)).flatten()
}

/// Waits for the operation a 202 answer started; `None` when the broker refused the call.
fn finish(client: &OsbClient, id: &str, resp: &Response) -> Option<String> {
    assert!(resp.status < 500, "{id}: {} {}", resp.status, resp.text);
    (resp.status == 202).then(|| {
        let op = resp.str_field("operation").map(str::to_string);
        client.wait_for_operation(id, op.as_deref(), WAIT)
    })
}

#[test]
fn hostile_instance_ids_never_reach_another_deployment() {
    let director = FakeDirector::start_basic("admin", "director-secret");
    let config = BrokerConfig::new().bosh(director.bosh_config());
    let broker = BrokerProcess::start(&config);
    let client = broker.client();

    // The victim: an instance whose deployment no other id may touch.
    let victim = unique_id("victim");
    let body = provision_body(SERVICE_ID, PLAN_SMALL, Value::Null);
    let resp = client.provision(&victim, &body, true);
    assert_eq!(finish(&client, &victim, &resp).as_deref(), Some("succeeded"));
    let victim_deployment = format!("service-instance_{victim}");
    assert!(director.deployments().contains(&victim_deployment));
    director.clear_requests();

    // Ids as they appear in the request path: each decodes to a name that, put into a director
    // path as it is, would address the victim's deployment.
    let hostile = [
        format!("x%2F..%2F..%2Fdeployments%2Fservice-instance_{victim}"),
        format!("{victim}%23"),
        format!("{victim}%23x"),
        format!("{victim}%3Fx%3D1"),
        format!("{victim}%2F"),
        format!("{victim}%2F.."),
        format!("{victim}%2F..%2F..%2Fdeployments%2Fservice-instance_{victim}"),
    ];
    for id in &hostile {
        let resp = client.provision(id, &body, true);
        if finish(&client, id, &resp).is_none() {
            continue;
        }
        for operation_type in ["recreate", "upgrade"] {
            let resp = client.send(
                Method::PATCH,
                &format!("/mgmt/service_instances/{id}"),
                &[("operation_type", operation_type)],
                None,
            );
            finish(&client, id, &resp);
        }
        let resp = client.deprovision(id, SERVICE_ID, PLAN_SMALL, true);
        finish(&client, id, &resp);
    }

    for request in director.requests() {
        if let Some(deployment) = deployment_of(&request) {
            assert_ne!(
                deployment, victim_deployment,
                "{} {} reached the victim's deployment",
                request.method, request.raw_path
            );
        }
        for (key, value) in &request.query {
            assert!(
                !(key == "deployment" || key == "name") || value != &victim_deployment,
                "{} {}?{key}={value} asked about the victim's deployment",
                request.method,
                request.raw_path
            );
        }
    }
    assert_eq!(director.deployments(), vec![victim_deployment.clone()]);
    let resp = client.last_operation(&victim, None);
    assert_eq!(resp.status, 200, "{}", resp.text);
}

//! Many platform requests at once: every one gets a proper answer, none a database error.

mod common;

use broker_tests::{bind_body, provision_body, BrokerConfig, PLAN_SMALL, SERVICE_ID};
use common::{start, OPERATION_TIMEOUT};
use serde_json::json;

#[test]
fn concurrent_lifecycles_all_succeed() {
    let (_broker, client) = start(&BrokerConfig::new());
    let threads: Vec<_> = (0..12)
        .map(|n| {
            let client = client.clone();
            std::thread::spawn(move || {
                let id = format!("concurrent-{n}");
                let r =
                    client.provision(&id, &provision_body(SERVICE_ID, PLAN_SMALL, json!({})), true);
                assert_eq!(r.status, 202, "provision {id}: {}", r.text);
                assert_eq!(client.wait_for_operation(&id, None, OPERATION_TIMEOUT), "succeeded");
                let r = client.bind(&id, "b", &bind_body(SERVICE_ID, PLAN_SMALL, json!({})));
                assert_eq!(r.status, 201, "bind {id}: {}", r.text);
                let r = client.unbind(&id, "b", SERVICE_ID, PLAN_SMALL);
                assert_eq!(r.status, 200, "unbind {id}: {}", r.text);
                let r = client.deprovision(&id, SERVICE_ID, PLAN_SMALL, true);
                assert_eq!(r.status, 202, "deprovision {id}: {}", r.text);
                assert_eq!(client.wait_for_operation(&id, None, OPERATION_TIMEOUT), "succeeded");
            })
        })
        .collect();
    for t in threads {
        t.join().expect("a lifecycle failed");
    }
}

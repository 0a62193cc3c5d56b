//! Hostile input at the broker's edge: ids that try to reach another deployment, log forging,
//! made-up methods, deep documents, idle unauthenticated connections, racing requests. Each
//! test sends what a security probe sent and checks what the broker and the director saw.

mod common;

use broker_tests::{
    bind_body, provision_body, unique_id, BrokerConfig, BrokerProcess, FakeDirector, OsbClient,
    API_VERSION, PLAN_SMALL, SERVICE_ID,
};
use common::{provision_ready, start, OPERATION_TIMEOUT};
use reqwest::Method;
use serde_json::{json, Value};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// Instance or binding ids, as they appear (percent-encoded) in a request path, that must
/// never name a deployment.
fn hostile_segments() -> Vec<String> {
    vec![
        "x%2F..%2F..%2Fdeployments%2Fcf".into(),
        "..".into(),
        ".".into(),
        "%2e%2e".into(),
        "%2E".into(),
        "a%23".into(),
        "a%3Fb%3D1".into(),
        "a%2Fb".into(),
        "a%0D%0AX-Injected%3A%201".into(),
        "a%00b".into(),
        "bad%FEutf8".into(),
        "bad%FFutf8".into(),
        "caf%C3%A9".into(),
        "a%20b".into(),
        "-leading-dash".into(),
        "a".repeat(10_000),
        "x".repeat(65),
    ]
}

/// Every route that takes an instance id, with `{id}` where it goes: (method, path, body).
fn instance_routes() -> Vec<(Method, &'static str, Option<Value>)> {
    let provision = provision_body(SERVICE_ID, PLAN_SMALL, json!({}));
    let bind = bind_body(SERVICE_ID, PLAN_SMALL, json!({}));
    vec![
        (
            Method::PUT,
            "/v2/service_instances/{id}?accepts_incomplete=true",
            Some(provision),
        ),
        (
            Method::PATCH,
            "/v2/service_instances/{id}?accepts_incomplete=true",
            Some(json!({"service_id": SERVICE_ID, "plan_id": PLAN_SMALL})),
        ),
        (
            Method::DELETE,
            "/v2/service_instances/{id}?accepts_incomplete=true&service_id=test-service-id&plan_id=plan-small",
            None,
        ),
        (Method::GET, "/v2/service_instances/{id}", None),
        (Method::GET, "/v2/service_instances/{id}/last_operation", None),
        (
            Method::PUT,
            "/v2/service_instances/{id}/service_bindings/b1",
            Some(bind),
        ),
        (
            Method::DELETE,
            "/v2/service_instances/{id}/service_bindings/b1?service_id=test-service-id&plan_id=plan-small",
            None,
        ),
        (Method::GET, "/v2/service_instances/{id}/service_bindings/b1", None),
        (
            Method::GET,
            "/v2/service_instances/{id}/service_bindings/b1/last_operation",
            None,
        ),
        (
            Method::PATCH,
            "/mgmt/service_instances/{id}?operation_type=upgrade",
            None,
        ),
        (
            Method::PATCH,
            "/mgmt/service_instances/{id}?operation_type=recreate",
            None,
        ),
        (Method::GET, "/mgmt/service_instances/{id}/bindings", None),
    ]
}

/// Sends `method` on `path` byte for byte (no URL library in between, which would fold
/// `%2e%2e` into `..` and collapse it) with the broker's credentials and the API version
/// header, on a fresh connection; returns the status and the body.
fn send_raw(
    client: &OsbClient, method: &Method, path: &str, body: Option<&Value>,
) -> (u16, String) {
    let body = body.map(Value::to_string).unwrap_or_default();
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Basic YWRtaW46cGFzc3dvcmQ=\r\nX-Broker-API-Version: {API_VERSION}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let (answer, _) = raw_exchange(client.base_url(), &request, Duration::from_secs(30));
    let status = answer
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {answer:?}"));
    let body = answer.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default();
    (status, body)
}

fn assert_bad_request(status: u16, text: &str, what: &str) {
    assert_eq!(status, 400, "{what}: {text}");
    let body: Value = serde_json::from_str(text).unwrap_or_else(|_| panic!("{what}: {text}"));
    assert!(
        body["description"].as_str().is_some_and(|d| d.contains("1 to 64 characters")),
        "{what}: the description should state the id rule: {text}"
    );
}

#[test]
fn hostile_ids_on_every_route_are_refused_and_never_reach_the_director() {
    let director = FakeDirector::start_basic("admin", "director-secret");
    let broker = BrokerProcess::start(&BrokerConfig::new().bosh(director.bosh_config()));
    let client = broker.client();
    // A live instance, so that hostile binding ids are checked against a real instance.
    let live = unique_id("live");
    let r = client.provision(&live, &provision_body(SERVICE_ID, PLAN_SMALL, json!({})), true);
    assert_eq!(r.status, 202, "{}", r.text);
    assert_eq!(client.wait_for_operation(&live, None, OPERATION_TIMEOUT), "succeeded");
    director.clear_requests();

    for segment in hostile_segments() {
        for (method, template, body) in instance_routes() {
            let path = template.replace("{id}", &segment);
            let (status, text) = send_raw(&client, &method, &path, body.as_ref());
            assert_bad_request(
                status,
                &text,
                &format!("{method} {}", &path[..path.len().min(120)]),
            );
        }
        for (method, template, body) in
            instance_routes().into_iter().filter(|(_, t, _)| t.contains("/service_bindings/b1"))
        {
            let path = template
                .replace("{id}", &live)
                .replace("/service_bindings/b1", &format!("/service_bindings/{segment}"));
            let (status, text) = send_raw(&client, &method, &path, body.as_ref());
            assert_bad_request(
                status,
                &text,
                &format!("binding {method} {}", &path[..path.len().min(120)]),
            );
        }
    }
    let seen: Vec<String> = director.requests().iter().map(|r| r.line()).collect();
    assert!(seen.is_empty(), "hostile ids reached the director: {seen:#?}");
}

/// Sends raw bytes on a new connection and returns everything the broker answered until it
/// closed the connection (or the timeout passed).
fn raw_exchange(base_url: &str, request: &str, timeout: Duration) -> (String, bool) {
    let addr = base_url.trim_start_matches("http://");
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream.set_read_timeout(Some(timeout)).unwrap();
    stream.write_all(request.as_bytes()).unwrap();
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    let closed = loop {
        match stream.read(&mut buf) {
            Ok(0) => break true,
            Ok(n) => answer.extend_from_slice(&buf[..n]),
            Err(_) => break false,
        }
    };
    (String::from_utf8_lossy(&answer).into_owned(), closed)
}

#[test]
fn dot_dot_segments_sent_raw_are_refused() {
    let (broker, _client) = start(&BrokerConfig::new());
    for path in [
        "/v2/service_instances/..",
        "/v2/service_instances/./last_operation",
        "/v2/service_instances/../service_bindings/b",
    ] {
        let request = format!(
            "GET {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Basic YWRtaW46cGFzc3dvcmQ=\r\nX-Broker-API-Version: 2.17\r\nConnection: close\r\n\r\n"
        );
        let (answer, _) = raw_exchange(broker.base_url(), &request, Duration::from_secs(5));
        let status = answer.split(' ').nth(1).unwrap_or_default().to_string();
        assert!(status == "400" || status == "404", "{path} answered {answer}");
        assert!(!answer.contains("\"state\""), "{path} answered {answer}");
    }
}

#[test]
fn ids_with_line_breaks_cannot_forge_log_lines() {
    let (broker, client) = start(&BrokerConfig::new());
    let (status, text) = send_raw(
        &client,
        &Method::PUT,
        "/v2/service_instances/a%0D%0AX-Injected%3A%201?accepts_incomplete=true",
        Some(&provision_body(SERVICE_ID, PLAN_SMALL, json!({}))),
    );
    assert_bad_request(status, &text, "provision");
    // The originating identity is logged once decoded: a line break inside it must come
    // out escaped.
    use base64::Engine as _;
    let identity =
        base64::engine::general_purpose::STANDARD.encode(br#"{"user_id":"u\r\nX-Injected: 2"}"#);
    let r = client.request(
        "GET",
        "/v2/catalog",
        &[
            ("Authorization", "Basic YWRtaW46cGFzc3dvcmQ="),
            ("X-Broker-API-Version", API_VERSION),
            ("X-Broker-API-Originating-Identity", &format!("cloudfoundry {identity}")),
        ],
        None,
    );
    assert_eq!(r.status, 200, "{}", r.text);
    std::thread::sleep(Duration::from_millis(200));
    let logs = broker.logs();
    assert!(
        !logs.iter().any(|l| l.starts_with("X-Injected")),
        "a forged line reached the log: {logs:#?}"
    );
}

#[test]
fn invalid_utf8_escapes_do_not_alias_another_instance() {
    let (_broker, client) = start(&BrokerConfig::new());
    let (status, text) = send_raw(
        &client,
        &Method::PUT,
        "/v2/service_instances/bad%FFutf8?accepts_incomplete=true",
        Some(&provision_body(SERVICE_ID, PLAN_SMALL, json!({}))),
    );
    assert_bad_request(status, &text, "provision bad%FF");
    let (status, text) = send_raw(&client, &Method::GET, "/v2/service_instances/bad%FEutf8", None);
    assert_bad_request(status, &text, "fetch bad%FE");
    // An encoded form of a valid id is the same id.
    let id = unique_id("enc");
    let r = client.provision(&id, &provision_body(SERVICE_ID, PLAN_SMALL, json!({})), true);
    assert_eq!(r.status, 202, "{}", r.text);
    assert_eq!(client.wait_for_operation(&id, None, OPERATION_TIMEOUT), "succeeded");
    let encoded = id.replacen('-', "%2D", 1);
    let (status, text) =
        send_raw(&client, &Method::GET, &format!("/v2/service_instances/{encoded}"), None);
    assert_eq!(status, 200, "{text}");
}

#[test]
fn a_bad_operation_id_is_refused() {
    let (_broker, client) = start(&BrokerConfig::new());
    let id = unique_id("op");
    provision_ready(&client, &id, PLAN_SMALL, json!({}));
    let (status, text) = send_raw(
        &client,
        &Method::GET,
        &format!("/v2/service_instances/{id}/last_operation?operation=a%0D%0Ab"),
        None,
    );
    assert_eq!(status, 400, "{text}");
    assert!(text.contains("operation"), "{text}");
}

fn metrics_body(client: &OsbClient) -> String {
    let r = client.send(Method::GET, "/metrics", &[], None);
    assert_eq!(r.status, 200, "{}", r.text);
    r.text
}

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

#[test]
fn made_up_methods_add_no_metrics_series_and_no_memory() {
    let (broker, client) = start(&BrokerConfig::new());
    let anonymous = client.clone().with_credentials("", "");
    let method = |n: usize| -> String {
        // A different long method every time.
        format!("M{n:05}{}", "X".repeat(16_000))
    };
    let send_unauthenticated = |from: usize, to: usize| {
        for n in from..to {
            let r = anonymous.request(&method(n), "/v2/catalog", &[], None);
            assert_eq!(r.status, 401, "{}", r.text);
        }
    };
    send_unauthenticated(0, 200);
    let pid = broker.pid().expect("broker pid");
    // The first scrape adds its own series (GET 200); measure from the second.
    metrics_body(&client);
    let before_body = metrics_body(&client);
    let before_rss = rss_kib(pid);
    send_unauthenticated(200, 2_000);
    let after_body = metrics_body(&client);
    let after_rss = rss_kib(pid);
    assert_eq!(
        before_body.lines().count(),
        after_body.lines().count(),
        "new series appeared:\n{after_body}"
    );
    // The same series, only their values moved (a count may gain a digit).
    let series = |body: &str| -> Vec<String> {
        body.lines().map(|l| l.rsplit_once(' ').map_or(l, |(k, _)| k).to_string()).collect()
    };
    assert_eq!(series(&before_body), series(&after_body));
    assert!(
        after_body.len() <= before_body.len() + 2 * before_body.lines().count(),
        "the metrics body grew from {} to {} bytes",
        before_body.len(),
        after_body.len()
    );
    assert!(!after_body.contains("M0"), "a method reached the metrics");
    assert!(after_rss < before_rss + 8 * 1024, "RSS grew from {before_rss} KiB to {after_rss} KiB");
    let logged: usize = broker.logs().iter().map(String::len).sum();
    assert!(logged < 2_000 * 600, "the log holds {logged} bytes for 2,000 rejected requests");
}

#[test]
fn an_unauthenticated_connection_is_closed_after_its_401() {
    let (broker, _client) = start(&BrokerConfig::new());
    let request = "GET /v2/catalog HTTP/1.1\r\nHost: x\r\nX-Broker-API-Version: 2.17\r\n\r\n";
    let (answer, closed) = raw_exchange(broker.base_url(), request, Duration::from_secs(10));
    assert!(answer.starts_with("HTTP/1.1 401"), "{answer}");
    assert!(answer.to_ascii_lowercase().contains("connection: close"), "{answer}");
    assert!(closed, "the broker kept the unauthenticated connection open");
}

#[test]
fn deeply_nested_documents_are_refused_at_the_edge() {
    let (_broker, client) = start(&BrokerConfig::new());
    let nested = |depth: usize| -> Value {
        let mut v = json!("leaf");
        for _ in 0..depth {
            v = json!({ "n": v });
        }
        v
    };
    let id = unique_id("deep");
    let mut body = provision_body(SERVICE_ID, PLAN_SMALL, json!({}));
    body["context"] = nested(125);
    let r = client.provision(&id, &body, true);
    assert_eq!(r.status, 400, "{}", r.text);
    assert!(r.text.contains("levels deep"), "{}", r.text);
    // Something deep but within the limit is accepted and reads back.
    body["context"] = nested(60);
    let r = client.provision(&id, &body, true);
    assert_eq!(r.status, 202, "{}", r.text);
    assert_eq!(client.wait_for_operation(&id, None, OPERATION_TIMEOUT), "succeeded");
    let r = client.get_instance(&id);
    assert_eq!(r.status, 200, "{}", r.text);
}

#[test]
fn identical_concurrent_provisions_all_get_the_same_operation() {
    let (_broker, client) = start(&BrokerConfig::new().task_seconds(2));
    let id = unique_id("same");
    let body = provision_body(SERVICE_ID, PLAN_SMALL, json!({"size": 1}));
    let threads: Vec<_> = (0..50)
        .map(|_| {
            let (client, id, body) = (client.clone(), id.clone(), body.clone());
            std::thread::spawn(move || client.provision(&id, &body, true))
        })
        .collect();
    let answers: Vec<_> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    for r in &answers {
        assert_eq!(r.status, 202, "{}", r.text);
    }
    let ops: std::collections::BTreeSet<_> =
        answers.iter().map(|r| r.str_field("operation").unwrap_or_default().to_string()).collect();
    assert_eq!(ops.len(), 1, "different operations: {ops:?}");
    // The same instance in another organization or space is another request.
    for (key, value) in [("organization_guid", "other-org"), ("space_guid", "other-space")] {
        let mut other = body.clone();
        other[key] = json!(value);
        let r = client.provision(&id, &other, true);
        assert_eq!(r.status, 409, "{key}: {}", r.text);
    }
    assert_eq!(client.wait_for_operation(&id, None, OPERATION_TIMEOUT), "succeeded");
    let mut other = body.clone();
    other["space_guid"] = json!("other-space");
    let r = client.provision(&id, &other, true);
    assert_eq!(r.status, 409, "after the provision: {}", r.text);
    let r = client.provision(&id, &body, true);
    assert_eq!(r.status, 200, "identical after the provision: {}", r.text);
}

#[test]
fn bind_and_unbind_while_a_deprovision_runs_are_concurrency_errors() {
    let (_broker, client) = start(&BrokerConfig::new().task_seconds(2));
    let id = unique_id("racing");
    provision_ready(&client, &id, PLAN_SMALL, json!({}));
    let r = client.bind(&id, "kept", &bind_body(SERVICE_ID, PLAN_SMALL, json!({})));
    assert_eq!(r.status, 201, "{}", r.text);
    let r = client.deprovision(&id, SERVICE_ID, PLAN_SMALL, true);
    assert_eq!(r.status, 202, "{}", r.text);
    let r = client.bind(&id, "late", &bind_body(SERVICE_ID, PLAN_SMALL, json!({})));
    assert_eq!(r.status, 422, "bind: {}", r.text);
    assert_eq!(r.str_field("error"), Some("ConcurrencyError"), "{}", r.text);
    let r = client.unbind(&id, "kept", SERVICE_ID, PLAN_SMALL);
    assert_eq!(r.status, 422, "unbind: {}", r.text);
    assert_eq!(r.str_field("error"), Some("ConcurrencyError"), "{}", r.text);
    let r = client.update(&id, &json!({"service_id": SERVICE_ID, "parameters": {"a": 1}}), true);
    assert_eq!(r.status, 422, "update: {}", r.text);
    assert_eq!(r.str_field("error"), Some("ConcurrencyError"), "{}", r.text);
}

#[test]
fn connections_beyond_max_connections_wait_until_one_closes() {
    // One connection per worker: the broker runs one worker per core and shares the cap
    // among them, rounding up, so `max_connections: 1` admits one connection per worker.
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get());
    let config = BrokerConfig::new()
        .extra_yaml(serde_yaml::from_str("broker: {max_connections: 1}").unwrap());
    let (broker, client) = start(&config);
    assert_eq!(client.catalog().status, 200);
    let addr = broker.base_url().trim_start_matches("http://").to_string();
    let idle: Vec<TcpStream> =
        (0..workers).map(|_| TcpStream::connect(&addr).expect("connect")).collect();
    std::thread::sleep(Duration::from_millis(300));
    let request = "GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    let mut waiting = TcpStream::connect(&addr).expect("connect");
    waiting.write_all(request.as_bytes()).unwrap();
    waiting.set_read_timeout(Some(Duration::from_millis(700))).unwrap();
    let mut buf = [0u8; 512];
    assert!(
        waiting.read(&mut buf).is_err(),
        "a connection beyond the cap was served while {workers} were open"
    );
    drop(idle);
    waiting.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let n = waiting.read(&mut buf).expect("served once the others closed");
    assert!(
        String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&buf[..n])
    );
}

#[test]
fn a_deprovision_while_a_bind_runs_is_a_concurrency_error_and_the_binding_is_kept() {
    let (_broker, client) = start(&BrokerConfig::new());
    let id = unique_id("slowbind");
    provision_ready(&client, &id, PLAN_SMALL, json!({}));
    let binder = {
        let (client, id) = (client.clone(), id.clone());
        std::thread::spawn(move || {
            let params = json!({"adapter_script": {"create-binding": {
                "sleep_seconds": 2,
                "stdout": "{\"credentials\": {\"password\": \"slow-secret\"}}"
            }}});
            client.bind(&id, "slow", &bind_body(SERVICE_ID, PLAN_SMALL, params))
        })
    };
    std::thread::sleep(Duration::from_millis(700));
    let r = client.deprovision(&id, SERVICE_ID, PLAN_SMALL, true);
    assert_eq!(r.status, 422, "deprovision during a bind: {}", r.text);
    assert_eq!(r.str_field("error"), Some("ConcurrencyError"), "{}", r.text);
    let bound = binder.join().unwrap();
    assert_eq!(bound.status, 201, "{}", bound.text);
    // The binding is tracked, so the platform's unbind reaches the adapter before the delete.
    let r = client.unbind(&id, "slow", SERVICE_ID, PLAN_SMALL);
    assert_eq!(r.status, 200, "{}", r.text);
    let r = client.deprovision(&id, SERVICE_ID, PLAN_SMALL, true);
    assert_eq!(r.status, 202, "{}", r.text);
}

//! HTTPS on the broker's own listener (`broker.tls`): the broker serves the OSB API over TLS
//! with the configured certificate, and refuses to start with a broken key pair.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_on-demand-broker");

fn config(dir: &std::path::Path, cert: &str, key: &str) -> std::path::PathBuf {
    let path = dir.join("broker.yml");
    let yaml = format!(
        r#"
broker: {{host: 127.0.0.1, port: 0, username: admin, password: secret, tls: {{cert_file: {cert}, key_file: {key}}}}}
service_adapter: {{builtin: example}}
database: {{path: {db}}}
simulated_director: {{task_seconds: 0}}
service_deployment:
  releases: [{{name: redis, version: 7.2.4, jobs: [redis-server]}}]
  stemcells: [{{os: ubuntu-jammy, version: "1.404"}}]
service_catalog:
  id: svc
  service_name: redis
  service_description: Redis
  plans:
  - plan_id: small
    name: small
    description: one node
    instance_groups: [{{name: redis-server, vm_type: small, instances: 1, networks: [default], azs: [z1]}}]
"#,
        db = dir.join("broker.db").display()
    );
    std::fs::write(&path, yaml).unwrap();
    path
}

/// Starts the broker and returns it with the URL it logged.
fn start(config: &std::path::Path) -> (Child, String) {
    let mut child = Command::new(BIN)
        .args(["serve", "--config"])
        .arg(config)
        .env("NO_COLOR", "1")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(at) = line.find("listening on ") {
                let _ = tx.send(line[at + "listening on ".len()..].trim().to_string());
            }
        }
    });
    let url = rx.recv_timeout(Duration::from_secs(30)).expect("the broker did not start");
    (child, url)
}

#[test]
fn the_broker_serves_https_with_the_configured_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let generated =
        rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string(), "localhost".to_string()])
            .unwrap();
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&cert, generated.cert.pem()).unwrap();
    std::fs::write(&key, generated.key_pair.serialize_pem()).unwrap();
    let (mut child, url) =
        start(&config(dir.path(), &cert.display().to_string(), &key.display().to_string()));
    assert!(url.starts_with("https://127.0.0.1:"), "{url}");

    let trusted = reqwest::blocking::Client::builder()
        .add_root_certificate(
            reqwest::Certificate::from_pem(generated.cert.pem().as_bytes()).unwrap(),
        )
        .build()
        .unwrap();
    let started = Instant::now();
    let response = loop {
        match trusted
            .get(format!("{url}/v2/catalog"))
            .basic_auth("admin", Some("secret"))
            .header("X-Broker-API-Version", "2.17")
            .send()
        {
            Ok(r) => break r,
            Err(e) if started.elapsed() < Duration::from_secs(10) => {
                eprintln!("retrying: {e}");
                std::thread::sleep(Duration::from_millis(100));
            }
            Err(e) => panic!("{e}"),
        }
    };
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = response.json().unwrap();
    assert_eq!(body["services"][0]["id"], "svc");

    // A client that does not trust the certificate is refused, and plain HTTP gets no answer.
    let untrusted = reqwest::blocking::Client::new();
    assert!(untrusted.get(format!("{url}/v2/catalog")).send().is_err());
    let plain = url.replacen("https://", "http://", 1);
    assert!(untrusted.get(format!("{plain}/v2/catalog")).send().is_err());
    child.kill().unwrap();
    child.wait().unwrap();
}

#[test]
fn a_key_that_does_not_match_the_certificate_stops_the_broker() {
    let dir = tempfile::tempdir().unwrap();
    let one = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let other = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&cert, one.cert.pem()).unwrap();
    std::fs::write(&key, other.key_pair.serialize_pem()).unwrap();
    let out = Command::new(BIN)
        .args(["serve", "--config"])
        .arg(config(dir.path(), &cert.display().to_string(), &key.display().to_string()))
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("broker.tls"), "{stderr}");
}

#[test]
fn an_expired_certificate_stops_the_broker() {
    let dir = tempfile::tempdir().unwrap();
    let mut params = rcgen::CertificateParams::new(vec!["localhost".to_string()]).unwrap();
    params.not_after = rcgen::date_time_ymd(2020, 1, 1);
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = params.self_signed(&key).unwrap();
    let (cert_path, key_path) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&cert_path, cert.pem()).unwrap();
    std::fs::write(&key_path, key.serialize_pem()).unwrap();
    let out = Command::new(BIN)
        .args(["serve", "--config"])
        .arg(config(dir.path(), &cert_path.display().to_string(), &key_path.display().to_string()))
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("server certificate expired on 2020-01-01"), "{stderr}");
}

//! `on-demand-broker check-config` on configs in the Go broker's shape: unquoted versions
//! load with their text kept, and legacy argv mode needs an explicit opt-in that is then
//! printed as a warning.

use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_on-demand-broker");

/// A config as the Go broker's operators write it: unquoted versions, a legacy single
/// `stemcell:`, and the `cf:` and `service_instances_api:` sections.
const GO_SHAPED: &str = r#"---
broker:
  port: 8080
  username: admin
  password: 123456
  use_stdin: true
cf:
  url: https://api.sys.example.com
  uaa:
    url: https://uaa.sys.example.com
    authentication:
      client_credentials: {client_id: cf-client, client_secret: cf-secret}
service_instances_api:
  url: https://si-api.example.com/service_instances
  authentication:
    basic: {username: si, password: si-secret}
service_adapter:
  path: /bin/sh
database:
  path: broker.db
simulated_director:
  task_seconds: 0
service_deployment:
  releases:
    - name: redis
      version: 621.10
      jobs: [redis-server]
  stemcell:
    os: ubuntu-jammy
    version: 1234
service_catalog:
  id: redis-service
  service_name: redis
  service_description: Redis
  plans:
    - name: small
      plan_id: 1
      description: small
      instance_groups:
        - name: redis-server
          vm_type: small
          instances: 1
          networks: [default]
          azs: [z1]
"#;

fn check_config(text: &str) -> Output {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("broker.yml");
    std::fs::write(&path, text).unwrap();
    Command::new(BIN)
        .args(["check-config", "--config"])
        .arg(&path)
        .env_remove("BROKER_HOST")
        .env_remove("BROKER_PORT")
        .env_remove("BROKER_USERNAME")
        .env_remove("BROKER_PASSWORD")
        .output()
        .unwrap()
}

fn text(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn check_config_accepts_a_go_shaped_config_with_unquoted_versions() {
    let out = check_config(GO_SHAPED);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}{stderr}");
    assert!(stdout.trim_end().ends_with(": OK"), "{stdout}");
    assert!(stdout.contains("warning: config key cf is recognised but not supported"), "{stdout}");
}

#[test]
fn check_config_refuses_legacy_argv_mode_without_the_opt_in() {
    let out = check_config(&GO_SHAPED.replace("use_stdin: true", "use_stdin: false"));
    let (stdout, stderr) = text(&out);
    assert!(!out.status.success(), "{stdout}{stderr}");
    assert!(stderr.contains("broker.use_stdin: is false"), "{stderr}");
    for part in ["`ps`", "use_stdin: true", "service_adapter.allow_secrets_on_argv: true"] {
        assert!(stderr.contains(part), "{part}: {stderr}");
    }
}

#[test]
fn check_config_prints_the_argv_warning_when_legacy_mode_is_accepted() {
    let text_in = GO_SHAPED
        .replace("use_stdin: true", "use_stdin: false")
        .replace("  path: /bin/sh\n", "  path: /bin/sh\n  allow_secrets_on_argv: true\n");
    let out = check_config(&text_in);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}{stderr}");
    assert!(
        stdout.contains(
            "warning: broker.use_stdin is false: the service adapter runs in legacy argv mode"
        ),
        "{stdout}"
    );
}

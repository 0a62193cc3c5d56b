//! Tests of the `on-demand-broker` command line that need no running broker.
//!
//! Having an integration test here also makes `cargo test --workspace` build the
//! `on-demand-broker` binary itself, which the black-box tests in `tests/` start.

use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_on-demand-broker");

#[test]
fn the_printed_default_config_passes_check_config() {
    let out = Command::new(BIN).arg("print-default-config").output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("service_catalog:"), "{text}");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("broker.yml");
    std::fs::write(&path, &text).unwrap();
    let check = Command::new(BIN)
        .args(["check-config", "--config"])
        .arg(&path)
        .env_remove("BROKER_USERNAME")
        .env_remove("BROKER_PASSWORD")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&check.stdout);
    assert!(check.status.success(), "{stdout}{}", String::from_utf8_lossy(&check.stderr));
    assert!(stdout.contains("OK"), "{stdout}");
    assert!(
        stdout.contains("default credentials"),
        "the default credentials are warned about: {stdout}"
    );
}

#[test]
fn check_config_lists_every_problem_and_fails() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.yml");
    std::fs::write(&path, "broker: {port: 8080}\nservice_catalog: {id: x}\n").unwrap();
    let out = Command::new(BIN).args(["check-config", "--config"]).arg(&path).output().unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    for key in
        ["broker.username", "broker.password", "service_adapter.path", "service_catalog.plans"]
    {
        assert!(stderr.contains(key), "{key} missing from: {stderr}");
    }
}

#[test]
fn the_built_in_example_adapter_follows_the_adapter_contract() {
    let out = Command::new(BIN).args(["example-adapter", "frobnicate"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown subcommand: frobnicate"));
}

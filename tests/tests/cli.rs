//! Black-box tests of the broker's command line besides `serve`: `check-config` reports every
//! problem of a bad file and accepts a good one, and `print-default-config` prints a config that
//! `check-config` accepts.

use broker_tests::{broker_binary, BrokerConfig};
use std::path::Path;
use std::process::{Command, Output, Stdio};

/// Runs the broker with `args`, without any `BROKER_*` override from the test's environment.
fn run(args: &[&str], cwd: &Path) -> Output {
    run_with_env(args, cwd, &[])
}

/// Like [`run`], with the environment variables `env` set.
fn run_with_env(args: &[&str], cwd: &Path, env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(broker_binary());
    command.args(args).current_dir(cwd).env("NO_COLOR", "1").stdin(Stdio::null());
    for name in ["BROKER_HOST", "BROKER_PORT", "BROKER_USERNAME", "BROKER_PASSWORD"] {
        command.env_remove(name);
    }
    command.envs(env.iter().copied());
    command.output().expect("cannot run the broker binary")
}

/// stdout and stderr together, for messages that may go to either.
fn all_output(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

#[test]
fn check_config_reports_every_problem_of_a_bad_file() {
    let config = BrokerConfig::new();
    let mut yaml = config.render();
    let broker = yaml.get_mut("broker").and_then(serde_yaml::Value::as_mapping_mut).unwrap();
    broker.remove("port");
    broker.remove("username");
    yaml["service_catalog"]["plans"] = serde_yaml::Value::Sequence(vec![]);
    let path = config.dir().join("bad.yml");
    std::fs::write(&path, serde_yaml::to_string(&yaml).unwrap()).unwrap();

    let output = run(&["check-config", "--config", path.to_str().unwrap()], config.dir());
    let text = all_output(&output);
    assert!(!output.status.success(), "a bad config passed: {text}");
    for key in ["broker.port", "broker.username", "service_catalog.plans"] {
        assert!(text.contains(key), "{key} is not reported:\n{text}");
    }
    assert!(!text.contains("broker.password"), "a key that is fine is reported:\n{text}");
}

#[test]
fn check_config_accepts_a_good_file() {
    let config = BrokerConfig::new();
    let path = config.config_path();
    std::fs::write(&path, serde_yaml::to_string(&config.render()).unwrap()).unwrap();
    let output = run(&["check-config", "--config", path.to_str().unwrap()], config.dir());
    let text = all_output(&output);
    assert!(output.status.success(), "a good config failed: {text}");
    assert!(text.contains("OK"), "{text}");
}

#[test]
fn check_config_on_a_missing_file_fails_and_names_it() {
    let config = BrokerConfig::new();
    let path = config.dir().join("does-not-exist.yml");
    let output = run(&["check-config", "--config", path.to_str().unwrap()], config.dir());
    assert!(!output.status.success());
    assert!(all_output(&output).contains("does-not-exist.yml"), "{}", all_output(&output));
}

/// Runs `print-default-config`, checks that it printed YAML, and saves it as `default.yml` in
/// `dir`; returns the saved file's path.
fn save_default_config(dir: &Path) -> std::path::PathBuf {
    let printed = run(&["print-default-config"], dir);
    assert!(printed.status.success(), "{}", all_output(&printed));
    let text = String::from_utf8(printed.stdout).expect("the default config is UTF-8");
    let parsed: serde_yaml::Value =
        serde_yaml::from_str(&text).expect("the default config is YAML");
    assert!(parsed.get("service_catalog").is_some(), "{text}");
    let path = dir.join("default.yml");
    std::fs::write(&path, &text).unwrap();
    path
}

#[test]
fn the_printed_default_config_passes_check_config_given_credentials_in_the_environment() {
    let config = BrokerConfig::new();
    let path = save_default_config(config.dir());
    let output = run_with_env(
        &["check-config", "--config", path.to_str().unwrap()],
        config.dir(),
        &[("BROKER_USERNAME", "admin"), ("BROKER_PASSWORD", "secret")],
    );
    assert!(
        output.status.success(),
        "check-config rejects the printed default: {}",
        all_output(&output)
    );
}

#[test]
fn print_default_config_prints_yaml_that_check_config_accepts() {
    let config = BrokerConfig::new();
    let path = save_default_config(config.dir());
    let output = run(&["check-config", "--config", path.to_str().unwrap()], config.dir());
    assert!(
        output.status.success(),
        "check-config rejects the printed default: {}",
        all_output(&output)
    );
}

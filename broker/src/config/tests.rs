//! Tests of config loading and validation.

use super::*;
use std::path::Path;

fn load_text(
    text: &str, env: &EnvOverrides, vars: &[(&str, &str)],
) -> Result<LoadedConfig, ConfigError> {
    let vars: Vec<(String, String)> =
        vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    load_str(text, "test.yml", false, Path::new(""), env, &|name| {
        vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
    })
}

/// Loads `text` with no overrides and `BROKER_PW` set, as [`VALID`] needs.
fn load_with_password(text: &str) -> Result<LoadedConfig, ConfigError> {
    load_text(text, &EnvOverrides::default(), &[("BROKER_PW", "x")])
}

/// Loads [`VALID`] with `settings` (YAML flow text: `key: value, ...`) added to the flow
/// mapping of `section` (`broker` or `service_adapter`).
fn with_settings(section: &str, settings: &str) -> Result<LoadedConfig, ConfigError> {
    let opening = format!("{section}: {{");
    load_with_password(&VALID.replace(&opening, &format!("{opening}{settings}, ")))
}

/// Loads [`VALID`] with `setting` added to `broker:`.
fn with_broker_setting(setting: &str) -> Result<LoadedConfig, ConfigError> {
    with_settings("broker", setting)
}

/// Asserts whether a warning of `loaded` mentions `text`.
fn assert_warns(loaded: &LoadedConfig, text: &str, expected: bool) {
    let found = loaded.warnings.iter().any(|w| w.contains(text));
    assert_eq!(found, expected, "{text}: {:?}", loaded.warnings);
}

/// The warning of `loaded` that mentions `text`.
fn warning<'a>(loaded: &'a LoadedConfig, text: &str) -> &'a str {
    loaded
        .warnings
        .iter()
        .find(|w| w.contains(text))
        .unwrap_or_else(|| panic!("no warning about {text} in {:?}", loaded.warnings))
}

const VALID: &str = r#"
broker: {port: 9000, username: op, password: "${BROKER_PW}"}
service_adapter: {path: /bin/sh, timeout_seconds: 3}
service_deployment:
  releases: [{name: redis, version: 1.0.0, jobs: [redis-server]}]
  stemcells: [{os: ubuntu-jammy, version: "1.404"}]
database: {path: /tmp/x.db}
simulated_director: {task_seconds: 0}
service_catalog:
  id: svc
  service_name: redis
  service_description: Redis
  plans:
  - plan_id: p1
    name: small
    description: small
    instance_groups: [{name: redis-server, vm_type: small, instances: 1, networks: [default], azs: [z1]}]
"#;

fn problems(err: ConfigError) -> Vec<ConfigProblem> {
    match err {
        ConfigError::Invalid { problems, .. } => problems,
        other => panic!("expected validation problems, got {other}"),
    }
}

/// The problem of `problems` at `key`.
fn problem_at<'a>(problems: &'a [ConfigProblem], key: &str) -> &'a ConfigProblem {
    problems
        .iter()
        .find(|p| p.key == key)
        .unwrap_or_else(|| panic!("no problem at {key}: {problems:?}"))
}

/// The config of a load that must succeed (else a panic showing every problem).
fn loaded_ok(loaded: Result<LoadedConfig, ConfigError>) -> LoadedConfig {
    loaded.unwrap_or_else(|e| panic!("{e}"))
}

/// What the parser said about a config that does not parse.
fn parse_error(loaded: Result<LoadedConfig, ConfigError>) -> String {
    match loaded.unwrap_err() {
        ConfigError::Parse { message, .. } => message,
        other => panic!("expected a parse error, got {other}"),
    }
}

#[test]
fn embedded_default_is_valid_and_warns_about_default_credentials() {
    let loaded = load(None, &EnvOverrides::default()).expect("embedded default loads");
    assert!(loaded.is_embedded_default);
    assert_eq!(loaded.config.broker.port, 8080);
    assert_eq!(loaded.config.broker.username, "admin");
    assert_eq!(loaded.config.broker.password, "password");
    assert!(loaded.config.broker.default_credentials);
    assert_eq!(loaded.config.adapter.command, AdapterCommand::BuiltinExample);
    assert!(loaded.warnings.iter().any(|w| w.contains("default credentials")));
    assert!(matches!(loaded.config.director, DirectorSettings::Simulated { .. }));
}

#[test]
fn overrides_replace_host_port_and_credentials() {
    let env = EnvOverrides {
        host: Some("127.0.0.1".into()),
        port: Some("0".into()),
        username: Some("u".into()),
        password: Some("p".into()),
        log_format: Some("json".into()),
    };
    let loaded = load_text(VALID, &env, &[("BROKER_PW", "x")]).unwrap();
    assert_eq!(loaded.config.logging.format, LogFormat::Json);
    assert_eq!(loaded.config.broker.host, "127.0.0.1");
    assert_eq!(loaded.config.broker.port, 0);
    assert_eq!(loaded.config.broker.username, "u");
    assert_eq!(loaded.config.broker.password, "p");
    assert!(!loaded.config.broker.default_credentials);
}

#[test]
fn bad_port_override_is_reported() {
    let env = EnvOverrides { port: Some("eighty".into()), ..Default::default() };
    let p = problems(load_text(VALID, &env, &[("BROKER_PW", "x")]).unwrap_err());
    assert_eq!(p[0].key, "BROKER_PORT");
}

#[test]
fn secrets_come_from_the_environment() {
    let loaded = load_text(VALID, &EnvOverrides::default(), &[("BROKER_PW", "from-env")]).unwrap();
    assert_eq!(loaded.config.broker.password, "from-env");
    let p = problems(load_text(VALID, &EnvOverrides::default(), &[]).unwrap_err());
    assert_eq!(p[0].key, "broker.password");
    assert!(p[0].message.contains("BROKER_PW"), "{}", p[0].message);
}

#[test]
fn every_problem_names_its_key() {
    let text = r#"
broker: {}
service_adapter: {path: /nonexistent/adapter}
service_deployment:
  releases: [{name: redis, version: latest, jobs: []}]
  stemcells: []
simulated_director: {task_seconds: -1}
service_catalog:
  id: svc
  service_name: ""
  service_description: d
  plans: []
"#;
    let p = problems(load_text(text, &EnvOverrides::default(), &[]).unwrap_err());
    let keys: Vec<&str> = p.iter().map(|p| p.key.as_str()).collect();
    for expected in [
        "broker.port",
        "broker.username",
        "broker.password",
        "service_adapter.path",
        "service_deployment.releases[0].version",
        "service_deployment.releases[0].jobs",
        "service_deployment.stemcells",
        "service_catalog.service_name",
        "service_catalog.plans",
        "simulated_director.task_seconds",
    ] {
        assert!(keys.contains(&expected), "missing {expected} in {keys:?}");
    }
}

#[test]
fn unknown_keys_are_warnings_not_errors() {
    let text = VALID.replace("broker: {", "colour: blue\nbroker: {portt: 1, ");
    let loaded = load_with_password(&text).unwrap();
    assert_warns(&loaded, "colour", true);
    assert_warns(&loaded, "broker.portt", true);
}

#[test]
fn exactly_one_director() {
    let both = format!("{VALID}\nbosh: {{url: https://10.0.0.6:25555}}\n");
    let p = problems(load_with_password(&both).unwrap_err());
    assert!(p.iter().any(|p| p.key == "bosh"));
    let none = VALID.replace("simulated_director: {task_seconds: 0}", "");
    let p = problems(load_with_password(&none).unwrap_err());
    assert!(p.iter().any(|p| p.key == "simulated_director"));
}

#[test]
fn wrong_types_name_the_key() {
    let text = VALID.replace("port: 9000", "port: nine");
    let message = parse_error(load_with_password(&text));
    assert!(message.contains("broker.port"), "{message}");
}

#[test]
fn catalog_ids_are_parsed_at_load_and_a_bad_one_names_its_key() {
    let parse_error = |text: &str| parse_error(load_with_password(text));
    let rule = crate::ids::CATALOG_ID_RULE;
    for (from, to, key, why) in [
        (
            "plan_id: p1",
            "plan_id: \"p\\n1\"",
            "service_catalog.plans[0].plan_id",
            "the plan id holds the character '\\n' at position 1",
        ),
        (
            "plan_id: p1",
            "plan_id: \"\"",
            "service_catalog.plans[0].plan_id",
            "the plan id is empty",
        ),
        (
            "id: svc",
            "id: \"s\\tvc\"",
            "service_catalog.id",
            "the service id holds the character '\\t' at position 1",
        ),
        ("id: svc", "id: \"\"", "service_catalog.id", "the service id is empty"),
    ] {
        let message = parse_error(&VALID.replace(from, to));
        assert_eq!(message, format!("at key {key}: {why}: use {rule}"));
    }
    let message = parse_error(&VALID.replace("  - plan_id: p1\n", "  - \n"));
    assert!(
        message.starts_with("at key service_catalog.plans[0]") && message.contains("plan_id"),
        "{message}"
    );
    let message = parse_error(&VALID.replace("  id: svc\n", ""));
    assert!(message.contains("`id`"), "{message}");
    // Ids outside the instance-id rule are fine in a catalog.
    let text = VALID
        .replace("id: svc", "id: \"my service/1\"")
        .replace("plan_id: p1", "plan_id: \"plän #1\"");
    let loaded = load_with_password(&text).unwrap();
    assert_eq!(loaded.config.catalog.id, "my service/1");
    assert_eq!(loaded.config.catalog.plans[0].plan_id, "plän #1");
}

#[test]
fn duplicate_plan_ids_and_bad_errand_instances_are_rejected() {
    let text = VALID.replace(
        "  - plan_id: p1\n",
        "  - plan_id: p1\n    name: other\n    description: d\n    instance_groups: [{name: g, vm_type: s, instances: 1, networks: [n], azs: [z]}]\n    lifecycle_errands: {post_deploy: [{name: smoke, instances: [\"a/b/c\"]}]}\n  - plan_id: p1\n",
    );
    let p = problems(load_with_password(&text).unwrap_err());
    assert!(p.iter().any(|p| p.key == "service_catalog.plans[1].plan_id"), "{p:?}");
    assert!(p.iter().any(|p| p.message.contains("'a/b/c'")), "{p:?}");
}

#[test]
fn legacy_use_stdin_flag_is_honoured() {
    let text = VALID
        .replace("broker: {", "broker: {use_stdin: false, ")
        .replace("service_adapter: {", "service_adapter: {allow_secrets_on_argv: true, ");
    let loaded = load_with_password(&text).unwrap();
    assert!(!loaded.config.adapter.use_stdin);
}

#[test]
fn legacy_argv_mode_is_refused_without_allow_secrets_on_argv() {
    for section in ["broker", "service_adapter"] {
        let p = problems(with_settings(section, "use_stdin: false").unwrap_err());
        let found = problem_at(&p, &format!("{section}.use_stdin"));
        // Why, and both ways out.
        for part in [
            "credentials",
            "command line",
            "`ps`",
            "use_stdin: true",
            "service_adapter.allow_secrets_on_argv: true",
        ] {
            assert!(found.message.contains(part), "{part}: {}", found.message);
        }
    }
    // An explicit false is not an opt-in.
    let p = problems(
        with_settings("service_adapter", "use_stdin: false, allow_secrets_on_argv: false")
            .unwrap_err(),
    );
    assert!(p.iter().any(|p| p.key == "service_adapter.use_stdin"), "{p:?}");
}

#[test]
fn legacy_argv_mode_with_allow_secrets_on_argv_loads_with_a_warning() {
    let loaded = loaded_ok(with_settings(
        "service_adapter",
        "use_stdin: false, allow_secrets_on_argv: true",
    ));
    assert!(!loaded.config.adapter.use_stdin);
    let warning = warning(&loaded, "legacy argv mode");
    assert!(warning.starts_with("service_adapter.use_stdin is false"), "{warning}");
    assert!(warning.contains("`ps`"), "{warning}");
    assert!(warning.contains("credentials"), "{warning}");
}

#[test]
fn allow_secrets_on_argv_with_stdin_mode_warns_that_it_has_no_effect() {
    let loaded = loaded_ok(with_settings("service_adapter", "allow_secrets_on_argv: true"));
    assert!(loaded.config.adapter.use_stdin);
    assert_warns(&loaded, "service_adapter.allow_secrets_on_argv has no effect", true);
    assert_warns(&loaded, "legacy argv mode", false);
}

/// `VALID` with the simulated director replaced by this `bosh:` section.
fn with_bosh(bosh: &str) -> Result<LoadedConfig, ConfigError> {
    let text = VALID.replace("simulated_director: {task_seconds: 0}", bosh);
    load_with_password(&text)
}

/// A self-signed CA certificate, as PEM.
fn test_ca() -> String {
    rcgen::generate_simple_self_signed(vec!["bosh-ca".to_string()]).unwrap().cert.pem()
}

#[test]
fn bosh_uaa_and_basic_authentication_are_typed() {
    let loaded = with_bosh(
        "bosh:\n  url: https://10.0.0.6:25555/\n  authentication:\n    uaa:\n      url: https://ignored\n      client_credentials: {client_id: broker, client_secret: s3cret}",
    )
    .unwrap();
    let DirectorSettings::Bosh(bosh) = &loaded.config.director else {
        panic!("expected a bosh director");
    };
    assert_eq!(bosh.url, "https://10.0.0.6:25555");
    assert_eq!(
        bosh.auth,
        BoshAuth::Uaa { client_id: "broker".into(), client_secret: "s3cret".into() }
    );
    assert!(!format!("{:?}", bosh.auth).contains("s3cret"));
    let loaded = with_bosh(&format!(
        "bosh:\n  url: https://d:25555\n  root_ca_cert: |\n    {}\n  authentication: {{basic: {{username: admin, password: pw}}}}",
        test_ca().replace('\n', "\n    ")
    ))
    .unwrap();
    let DirectorSettings::Bosh(bosh) = &loaded.config.director else {
        panic!("expected a bosh director");
    };
    assert_eq!(bosh.auth.mode(), "basic");
    assert!(bosh.root_ca_cert.as_deref().unwrap().starts_with("-----BEGIN"));
}

#[test]
fn bosh_problems_use_the_go_broker_messages_and_name_the_key() {
    let cases = [
        (
            "bosh: {authentication: {basic: {username: a, password: b}}}",
            "bosh.url",
            "BOSH configuration error: must specify bosh url",
        ),
        (
            "bosh: {url: https://d}",
            "bosh.authentication",
            "BOSH configuration error: must specify an authentication type",
        ),
        (
            "bosh: {url: https://d, authentication: {basic: {username: a, password: b}, uaa: {client_credentials: {client_id: c, client_secret: s}}}}",
            "bosh.authentication",
            "BOSH configuration error: cannot specify both basic and UAA authentication",
        ),
        (
            "bosh: {url: https://d, authentication: {basic: {password: b}}}",
            "bosh.authentication.basic.username",
            "BOSH configuration error: authentication.basic.username can't be empty",
        ),
        (
            "bosh: {url: https://d, authentication: {basic: {username: a}}}",
            "bosh.authentication.basic.password",
            "BOSH configuration error: authentication.basic.password can't be empty",
        ),
        (
            "bosh: {url: https://d, authentication: {uaa: {client_credentials: {client_secret: s}}}}",
            "bosh.authentication.uaa.client_credentials.client_id",
            "BOSH configuration error: authentication.uaa.client_credentials.client_id can't be empty",
        ),
        (
            "bosh: {url: https://d, authentication: {uaa: {client_credentials: {client_id: c}}}}",
            "bosh.authentication.uaa.client_credentials.client_secret",
            "BOSH configuration error: authentication.uaa.client_credentials.client_secret can't be empty",
        ),
    ];
    for (bosh, key, message) in cases {
        let p = problems(with_bosh(bosh).unwrap_err());
        assert!(p.iter().any(|p| p.key == key && p.message == message), "{bosh}: {p:?}");
    }
}

#[test]
fn bosh_root_ca_cert_must_be_pem() {
    for bad in [
        "not a certificate",
        "-----BEGIN CERTIFICATE-----\n%%%%\n-----END CERTIFICATE-----",
        "-----BEGIN CERTIFICATE-----\nMIIB",
        // The start of a certificate, cut short: it begins like one (a DER SEQUENCE) but is
        // not one.
        "-----BEGIN CERTIFICATE-----\nMIIBdjCCARygAwIBAgIUQ6pY\n-----END CERTIFICATE-----",
    ] {
        let p = problems(
            with_bosh(&format!(
                "bosh: {{url: https://d, root_ca_cert: {bad:?}, authentication: {{basic: {{username: a, password: b}}}}}}"
            ))
            .unwrap_err(),
        );
        assert!(
            p.iter().any(|p| p.key == "bosh.root_ca_cert" && p.message.contains("PEM")),
            "{bad}: {p:?}"
        );
    }
}

#[test]
fn the_example_bosh_config_loads() {
    let text = include_str!("../../../config/bosh.yml");
    let pem = test_ca();
    let loaded = loaded_ok(load_str(
        text,
        "config/bosh.yml",
        false,
        Path::new(""),
        &EnvOverrides::default(),
        &|name| match name {
            "BOSH_CA_CERT" => Some(pem.clone()),
            "BROKER_PASSWORD" | "BOSH_CLIENT_SECRET" => Some("secret".into()),
            _ => None,
        },
    ));
    let DirectorSettings::Bosh(bosh) = &loaded.config.director else {
        panic!("expected a bosh director");
    };
    assert_eq!(bosh.auth.mode(), "uaa");
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
}

/// A config in the Go broker's shape: unquoted versions, `cf:` and `service_instances_api:`.
const GO_SHAPED: &str = r#"
---
broker:
  port: 8080
  username: username
  password: 123456
  shutdown_timeout_in_seconds: 10
  use_stdin: true
cf:
  url: https://api.sys.example.com
  root_ca_cert: some-cf-cert
  uaa:
    url: https://uaa.sys.example.com
    authentication:
      client_credentials: {client_id: cf-client, client_secret: cf-secret}
service_instances_api:
  url: https://si-api.example.com/service_instances
  authentication:
    basic: {username: si-api-username, password: 2024}
service_adapter:
  path: /bin/sh
database: {path: /tmp/x.db}
simulated_director: {task_seconds: 0}
service_deployment:
  releases:
    - name: redis
      version: 621.10
      jobs: [redis-server]
    - name: routing
      version: 0.200
      jobs: [route_registrar]
    - name: bpm
      version: 1.2.3
      jobs: [bpm]
  stemcells:
    - os: ubuntu-jammy
      version: 1.40
service_catalog:
  id: 0x1F
  service_name: redis
  service_description: Redis
  bindable: true
  tags: [redis, 2024]
  plans:
    - name: small
      plan_id: 1
      description: I'm a dedicated plan
      update:
        canaries: 1
        max_in_flight: 2
        canary_watch_time: 30000
        update_watch_time: 1000-30000
      properties:
        max_clients: 10
        ratio: 0.50
      maintenance_info:
        public: {edition: 7.0}
        version: 1.2.3
      instance_groups:
        - name: redis-server
          vm_type: small
          instances: 1
          networks: [default]
          azs: [1, z2]
"#;

fn load_go_shaped(text: &str) -> Result<LoadedConfig, ConfigError> {
    load_text(text, &EnvOverrides::default(), &[])
}

/// Loads [`GO_SHAPED`] with the text `from` (which must be in it) replaced by `to`.
fn go_shaped_with(from: &str, to: &str) -> Result<LoadedConfig, ConfigError> {
    assert!(GO_SHAPED.contains(from), "{from:?} is not in GO_SHAPED");
    load_go_shaped(&GO_SHAPED.replace(from, to))
}

#[test]
fn unquoted_decimal_versions_keep_their_trailing_zeros() {
    let loaded = loaded_ok(load_go_shaped(GO_SHAPED));
    let sd = &loaded.config.service_deployment;
    let versions: Vec<&str> = sd.releases.iter().map(|r| r.version.as_str()).collect();
    // 621.10 and 621.1 are different BOSH versions: the text is kept as written.
    assert_eq!(versions, ["621.10", "0.200", "1.2.3"]);
    assert_eq!(sd.stemcells[0].version, "1.40");
}

#[test]
fn go_shaped_config_with_stemcells_list_loads_and_reports_exact_versions() {
    let loaded = loaded_ok(load_go_shaped(GO_SHAPED));
    let config = &loaded.config;
    assert_eq!(config.service_deployment.stemcells.len(), 1);
    assert_eq!(config.service_deployment.stemcells[0].os, "ubuntu-jammy");
    assert_eq!(config.service_deployment.stemcells[0].version, "1.40");
    // The other keys the Go broker reads as strings keep their text too.
    assert_eq!(config.broker.password, "123456");
    assert_eq!(config.catalog.id, "0x1F");
    assert_eq!(config.catalog.tags, ["redis", "2024"]);
    let plan = &config.catalog.plans[0];
    assert_eq!(plan.plan_id, "1");
    assert_eq!(plan.instance_groups[0].azs, ["1", "z2"]);
    assert_eq!(plan.update.as_ref().unwrap().canary_watch_time, "30000");
    let mi = plan.maintenance_info.as_ref().unwrap();
    assert_eq!(mi.public.get("edition").map(String::as_str), Some("7.0"));
    // Free-form plan properties keep their YAML types, as in the Go broker.
    assert_eq!(plan.properties.get("max_clients"), Some(&serde_json::json!(10)));
    assert_eq!(plan.properties.get("ratio"), Some(&serde_json::json!(0.5)));
    // cf: and service_instances_api: load; they are reported as having no effect.
    for key in ["config key cf ", "config key service_instances_api "] {
        assert_warns(&loaded, key, true);
    }
    assert_warns(&loaded, "unquoted", false);
}

#[test]
fn go_shaped_config_with_legacy_stemcell_and_integer_version_loads() {
    let loaded = loaded_ok(go_shaped_with(
        "  stemcells:\n    - os: ubuntu-jammy\n      version: 1.40\n",
        "  stemcell:\n    os: ubuntu-trusty\n    version: 1234\n",
    ));
    let stemcells = &loaded.config.service_deployment.stemcells;
    assert_eq!(stemcells.len(), 1);
    assert_eq!(stemcells[0].os, "ubuntu-trusty");
    assert_eq!(stemcells[0].version, "1234");
}

#[test]
fn unquoted_versions_keep_hex_exponent_and_signed_literals() {
    for literal in ["0x1F", "1e3", "+12", "012", "3.0", "true"] {
        let text = VALID.replace("version: 1.0.0", &format!("version: {literal}"));
        let loaded = load_with_password(&text).unwrap_or_else(|e| panic!("{literal}: {e}"));
        assert_eq!(loaded.config.service_deployment.releases[0].version, literal);
    }
}

#[test]
fn unquoted_versions_through_anchors_and_aliases_keep_their_text() {
    let text = VALID.replace(
        "  stemcells: [{os: ubuntu-jammy, version: \"1.404\"}]",
        "  stemcells: [{os: ubuntu-jammy, version: &v 1.10}, {os: ubuntu-noble, version: *v}]",
    );
    let loaded = loaded_ok(load_with_password(&text));
    let stemcells = &loaded.config.service_deployment.stemcells;
    let versions: Vec<&str> = stemcells.iter().map(|s| s.version.as_str()).collect();
    assert_eq!(versions, ["1.10", "1.10"]);
}

#[test]
fn unknown_keys_still_warn_in_a_go_shaped_config() {
    let loaded = loaded_ok(go_shaped_with(
        "      version: 621.10\n",
        "      version: 621.10\n      sha1: abc\n",
    ));
    assert_warns(&loaded, "unknown config key service_deployment.releases.0.sha1 ", true);
    assert_eq!(loaded.config.service_deployment.releases[0].version, "621.10");
}

#[test]
fn a_wrong_or_null_version_next_to_unquoted_versions_is_reported_at_its_own_key() {
    for (from, to, key, other) in [
        // The release version is a number (fine); the stemcell version is a mapping (wrong).
        (
            "      version: 1.40\n",
            "      version: {major: 1}\n",
            "service_deployment.stemcells[0].version",
            "releases",
        ),
        (
            "      version: 621.10\n",
            "      version: ~\n",
            "service_deployment.releases[0].version",
            "stemcells",
        ),
    ] {
        let message = parse_error(go_shaped_with(from, to));
        assert!(message.contains(key), "{message}");
        assert!(!message.contains(other), "{message}");
    }
}

/// Checks a count under `broker:`: `read` gives `default` when `key` is left out and `taken`
/// when it is set to that; each value of `refused` is a problem at the key whose message
/// names the value and says `why`; a word is a parse error at the key.
fn check_broker_count(
    key: &str, read: fn(&BrokerSettings) -> usize, (default, taken): (usize, usize),
    refused: &[&str], why: &str,
) {
    let loaded = load_with_password(VALID).unwrap();
    assert_eq!(read(&loaded.config.broker), default, "{key} by default");
    let loaded = with_broker_setting(&format!("{key}: {taken}")).unwrap();
    assert_eq!(read(&loaded.config.broker), taken, "{key} when set");
    let full_key = format!("broker.{key}");
    for bad in refused {
        let p = problems(with_broker_setting(&format!("{key}: {bad}")).unwrap_err());
        let found = problem_at(&p, &full_key);
        assert!(found.message.contains(bad), "{}", found.message);
        assert!(found.message.contains(why), "{}", found.message);
    }
    let message = parse_error(with_broker_setting(&format!("{key}: many")));
    assert!(message.contains(&full_key), "{message}");
}

#[test]
fn max_connections_defaults_to_1024_and_must_be_positive() {
    check_broker_count(
        "max_connections",
        |b| b.max_connections,
        (1024, 50),
        &["0", "-1", "-9223372036854775808"],
        "positive",
    );
}

#[test]
fn the_log_format_is_text_or_json() {
    let text = load_with_password(VALID).unwrap();
    assert_eq!(text.config.logging.format, LogFormat::Text);
    let json = format!("{VALID}\nlogging: {{format: json}}\n");
    let loaded = load_with_password(&json).unwrap();
    assert_eq!(loaded.config.logging.format, LogFormat::Json);
    let bad = format!("{VALID}\nlogging: {{format: xml}}\n");
    let err = load_with_password(&bad).unwrap_err().to_string();
    assert!(err.contains("logging.format") && err.contains("text or json"), "{err}");
}

#[test]
fn a_bare_relative_path_stays_next_to_the_config() {
    for (dir, path, resolved) in [
        ("", "adapter.py", "./adapter.py"),
        ("conf", "adapter.py", "conf/adapter.py"),
        ("", "bin/adapter", "bin/adapter"),
        ("conf", "/abs/adapter", "/abs/adapter"),
    ] {
        assert_eq!(super::validate::resolve_for_tests(Path::new(dir), path), Path::new(resolved));
    }
}

#[test]
fn http_workers_default_to_the_cores_and_are_bounded() {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    check_broker_count(
        "http_workers",
        |b| b.http_workers,
        (cores, 3),
        &["0", "-2", "513"],
        "from 1 to 512",
    );
}

#[test]
fn blocking_threads_default_to_two_and_are_bounded() {
    check_broker_count(
        "blocking_threads",
        |b| b.blocking_threads,
        (2, 8),
        &["0", "-1"],
        "from 1 to",
    );
    let p = problems(with_broker_setting("blocking_threads: 0, http_workers: 0").unwrap_err());
    for key in ["broker.blocking_threads", "broker.http_workers"] {
        assert!(p.iter().any(|p| p.key == key), "{key}: {p:?}");
    }
}

const BOSH_BASIC: &str =
    "bosh: {url: https://d:25555, authentication: {basic: {username: a, password: b}}}";

/// `text` with `broker.enable_secure_manifests: true`.
fn secure(text: &str) -> String {
    text.replace(
        r#"password: "${BROKER_PW}"}"#,
        r#"password: "${BROKER_PW}", enable_secure_manifests: true}"#,
    )
}

/// `VALID` on a BOSH director, with `extra` YAML appended; with secure manifests if `on`.
fn bosh_with_secure(on: bool, extra: &str) -> Result<LoadedConfig, ConfigError> {
    let mut text = VALID.replace("simulated_director: {task_seconds: 0}", BOSH_BASIC) + extra;
    if on {
        text = secure(&text);
    }
    load_text(&text, &EnvOverrides::default(), &[("BROKER_PW", "x"), ("CH_SECRET", "from-env")])
}

fn bosh_with(extra: &str) -> Result<LoadedConfig, ConfigError> {
    bosh_with_secure(false, extra)
}

#[test]
fn credhub_sections_become_typed_settings_with_secrets_from_the_environment() {
    let ca = test_ca().replace('\n', "\n    ");
    let loaded = loaded_ok(bosh_with_secure(true, &format!(
        "bosh_credhub:\n  url: https://credhub:8844/\n  root_ca_cert: |\n    {ca}\n  authentication: {{uaa: {{client_credentials: {{client_id: odb, client_secret: \"${{CH_SECRET}}\"}}}}}}\ncredhub: {{api_url: https://runtime:8844, client_id: rt, client_secret: rts}}\n"
    )));
    let bosh = loaded.config.bosh_credhub.as_ref().unwrap();
    assert_eq!(bosh.url, "https://credhub:8844");
    assert_eq!((bosh.client_id.as_str(), bosh.client_secret.as_str()), ("odb", "from-env"));
    assert_eq!(bosh.ca_certs.len(), 1);
    assert!(!format!("{bosh:?}").contains("from-env"));
    let runtime = loaded.config.credhub.as_ref().unwrap();
    assert_eq!((runtime.section, runtime.url.as_str()), ("credhub", "https://runtime:8844"));
    assert!(loaded.config.broker.enable_secure_manifests);
    assert_warns(&loaded, "credhub", false);
}

#[test]
fn credhub_problems_name_the_key() {
    let cases = [
        ("bosh_credhub: {authentication: {uaa: {client_credentials: {client_id: c, client_secret: s}}}}", "bosh_credhub.url"),
        ("bosh_credhub: {url: 'not a url', authentication: {uaa: {client_credentials: {client_id: c, client_secret: s}}}}", "bosh_credhub.url"),
        ("bosh_credhub: {url: https://c}", "bosh_credhub.authentication.uaa.client_credentials"),
        ("bosh_credhub: {url: https://c, authentication: {uaa: {client_credentials: {client_secret: s}}}}", "bosh_credhub.authentication.uaa.client_credentials.client_id"),
        ("bosh_credhub: {url: https://c, root_ca_cert: nope, authentication: {uaa: {client_credentials: {client_id: c, client_secret: s}}}}", "bosh_credhub.root_ca_cert"),
        ("credhub: {client_id: c, client_secret: s}", "credhub.api_url"),
        ("credhub: {api_url: https://c, client_secret: s}", "credhub.client_id"),
        ("credhub: {api_url: https://c, client_id: c}", "credhub.client_secret"),
        ("credhub: {api_url: https://c, client_id: c, client_secret: s, internal_uaa_ca_cert: nope}", "credhub.internal_uaa_ca_cert"),
    ];
    for (section, key) in cases {
        let p = problems(bosh_with(&format!("{section}\n")).unwrap_err());
        assert!(p.iter().any(|p| p.key == key), "{section}: {p:?}");
    }
}

#[test]
fn each_secure_manifest_combination_that_cannot_work_is_explained() {
    let p = problems(bosh_with_secure(true, "").unwrap_err());
    assert!(
        p.iter().any(|p| p.key == "broker.enable_secure_manifests"
            && p.message.contains("configure bosh_credhub")),
        "{p:?}"
    );
    let credhub = "bosh_credhub: {url: https://c, authentication: {uaa: {client_credentials: {client_id: c, client_secret: s}}}}\n";
    let text = secure(&format!("{VALID}{credhub}"));
    let p = problems(load_with_password(&text).unwrap_err());
    assert!(
        p.iter().any(|p| p.key == "bosh_credhub" && p.message.contains("simulated_director")),
        "{p:?}"
    );
    let argv = secure(&format!("{VALID}{credhub}"))
        .replace("simulated_director: {task_seconds: 0}", BOSH_BASIC)
        .replace(
            "service_adapter: {path: /bin/sh, timeout_seconds: 3}",
            "service_adapter: {path: /bin/sh, timeout_seconds: 3, use_stdin: false, allow_secrets_on_argv: true}",
        );
    let p = problems(load_with_password(&argv).unwrap_err());
    assert!(bosh_with_secure(true, credhub).is_ok(), "the same with stdin loads");
    assert!(
        p.iter()
            .any(|p| p.key == "broker.enable_secure_manifests"
                && p.message.contains("use_stdin: true")),
        "{p:?}"
    );
    let loaded = bosh_with(credhub).unwrap();
    let warning = warning(&loaded, "bosh_credhub is set");
    assert!(
        warning.starts_with("bosh_credhub is set but broker.enable_secure_manifests"),
        "{warning}"
    );
}

// ----- database.encryption.keys -----

const KEY_A: &str = "a-secret-of-32-bytes-or-more-0001";
const KEY_B: &str = "b-secret-of-32-bytes-or-more-0002";

/// [`VALID`] with `database.encryption` set to `encryption` (YAML flow text).
fn with_encryption(encryption: &str) -> String {
    VALID.replace(
        "database: {path: /tmp/x.db}",
        &format!("database: {{path: /tmp/x.db, encryption: {encryption}}}"),
    )
}

fn encryption_problems(encryption: &str, vars: &[(&str, &str)]) -> Vec<ConfigProblem> {
    let mut vars = vars.to_vec();
    vars.push(("BROKER_PW", "pw"));
    problems(load_text(&with_encryption(encryption), &EnvOverrides::default(), &vars).unwrap_err())
}

#[test]
fn without_encryption_keys_the_generated_key_file_is_used() {
    let loaded = load_text(VALID, &EnvOverrides::default(), &[("BROKER_PW", "pw")]).unwrap();
    assert!(loaded.config.encryption.is_none());
}

#[test]
fn encryption_keys_load_with_secrets_from_the_environment() {
    let text = with_encryption(&format!(
        "{{keys: [{{label: old, secret: '{KEY_A}'}}, {{label: new, secret: '${{ODB_KEY_NEW}}', primary: true}}]}}"
    ));
    let loaded =
        load_text(&text, &EnvOverrides::default(), &[("BROKER_PW", "pw"), ("ODB_KEY_NEW", KEY_B)])
            .unwrap();
    let keys = loaded.config.encryption.as_ref().expect("keys configured");
    assert_eq!(keys.primary(), "new");
    let labels: Vec<&str> = keys.keys().iter().map(|k| k.label.as_str()).collect();
    assert_eq!(labels, ["old", "new"]);
    assert_eq!(keys.keys()[1].secret, crate::store::KeySecret::new(KEY_B));
    // The config's Debug form, as it might be printed, shows no secret.
    let debug = format!("{:?}", loaded.config);
    assert!(!debug.contains(KEY_A) && !debug.contains(KEY_B), "{debug}");
}

#[test]
fn bad_encryption_keys_are_named_by_their_key_path_without_the_secret() {
    let short = "too-short-secret";
    let found = encryption_problems(
        &format!(
            "{{keys: [{{label: a, secret: '{KEY_A}', primary: true}}, {{label: a, secret: '{KEY_B}'}}, {{label: 'b:c', secret: '{short}'}}, {{secret: '{KEY_A}'}}, {{label: d}}]}}"
        ),
        &[],
    );
    let keys: Vec<&str> = found.iter().map(|p| p.key.as_str()).collect();
    assert_eq!(
        keys,
        [
            "database.encryption.keys[1].label",
            "database.encryption.keys[2].label",
            "database.encryption.keys[2].secret",
            "database.encryption.keys[3].label",
            "database.encryption.keys[4].secret",
        ],
        "{found:?}"
    );
    assert!(found[2].message.contains("at least 32"), "{}", found[2]);
    for p in &found {
        let text = p.to_string();
        assert!(!text.contains(short) && !text.contains(KEY_A) && !text.contains(KEY_B), "{text}");
    }
}

#[test]
fn exactly_one_encryption_key_is_primary() {
    for (keys, needle) in [
        (format!("[{{label: a, secret: '{KEY_A}'}}]"), "no primary key"),
        (
            format!("[{{label: a, secret: '{KEY_A}', primary: true}}, {{label: b, secret: '{KEY_B}', primary: true}}]"),
            "2 primary keys",
        ),
        ("[]".to_string(), "is empty"),
    ] {
        let found = encryption_problems(&format!("{{keys: {keys}}}"), &[]);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].key, "database.encryption.keys");
        assert!(found[0].message.contains(needle), "{}", found[0]);
    }
}

#[test]
fn an_encryption_secret_from_an_unset_variable_names_the_key() {
    let found =
        encryption_problems("{keys: [{label: a, secret: '${ODB_KEY_UNSET}', primary: true}]}", &[]);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].key, "database.encryption.keys[0].secret");
    assert!(found[0].message.contains("ODB_KEY_UNSET"), "{}", found[0]);
}

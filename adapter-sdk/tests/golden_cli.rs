//! Golden tests of the CLI runtime against the Go SDK's observed behaviour: inputs the Go
//! broker sends, output framing byte for byte, error texts, exit codes and stream split.

mod common;

use std::collections::BTreeMap;

use common::{
    envelope, handler, provision_input, run, Fake, Run, PLAN, PROVISION_RP, SD, T1_MANIFEST,
};
use serde_json::json;
use service_adapter::bosh::{self, BoshManifest};
use service_adapter::{
    generate_instance_groups_with_no_properties, wire, AdapterError, Binding, BoshConfigs,
    CommandLineHandler, GenerateManifestOutput, JsonSchemas, ManifestSecrets, MaxInFlight, Plan,
    PlanSchema, Properties, ServiceBindingSchema, ServiceInstanceSchema,
};

fn props(value: serde_json::Value) -> Properties {
    value.as_object().unwrap().clone()
}

/// The manifest of transcript T1, built with the SDK types.
fn t1_manifest() -> BoshManifest {
    let job = bosh::Job {
        name: "redis-server".into(),
        release: "redis".into(),
        properties: props(json!({"redis": {
            "ca_cert": "((instance_certificate.ca))",
            "certificate": "((instance_certificate.certificate))",
            "generated_secret": "((secret_pass))",
            "maxclients": 500,
            "odb_managed_secret": "((odb_secret:odb_managed_secret))",
            "password": "O+YCfDKSG4Yf2JaYa2ZyJ6oZfxU=",
            "persistence": "yes",
            "private_key": "((instance_certificate.private_key))"
        }})),
        ..Default::default()
    }
    .add_shared_provides_link("redis")
    .add_custom_provider_definition("redis-server-link", "address", vec![]);
    let link = |props: Properties| bosh::VariableConsumesLink {
        from: "redis-server-link".into(),
        properties: props,
    };
    BoshManifest {
        name: "service-instance_6f1c2a7e-1d2b-4c3d-9e8f-0a1b2c3d4e5f".into(),
        releases: vec![bosh::Release { name: "redis".into(), version: "0.1.0".into() }],
        stemcells: vec![bosh::Stemcell {
            alias: "only-stemcell".into(),
            os: "ubuntu-jammy".into(),
            version: "1.404".into(),
            name: String::new(),
        }],
        instance_groups: vec![bosh::InstanceGroup {
            name: "redis-server".into(),
            instances: 1,
            jobs: vec![job],
            vm_type: "small".into(),
            stemcell: "only-stemcell".into(),
            persistent_disk_type: "ten".into(),
            azs: vec!["z1".into()],
            networks: vec![bosh::Network { name: "default".into(), ..Default::default() }],
            ..Default::default()
        }],
        update: Some(bosh::Update {
            canaries: 4,
            canary_watch_time: "30000-240000".into(),
            update_watch_time: "30000-240000".into(),
            max_in_flight: MaxInFlight::Count(4),
            vm_strategy: "delete-create".into(),
            ..Default::default()
        }),
        variables: vec![
            bosh::Variable {
                name: "secret_pass".into(),
                var_type: "password".into(),
                ..Default::default()
            },
            bosh::Variable {
                name: "instance_certificate".into(),
                var_type: "certificate".into(),
                update_mode: "no-overwrite".into(),
                options: props(json!({"common_name": "redis", "is_ca": true})),
                consumes: Some(bosh::VariableConsumes {
                    alternative_name: Some(link(props(json!({"wildcard": true})))),
                    common_name: Some(link(Properties::new())),
                }),
            },
        ],
        tags: props(json!({"product": "redis"})),
        ..Default::default()
    }
}

fn t1_output() -> GenerateManifestOutput {
    GenerateManifestOutput {
        manifest: t1_manifest(),
        odb_managed_secrets: Some(props(json!({"odb_managed_secret": "HardcodedAdapterValue"}))),
        configs: Some(BoshConfigs::new()),
        labels: BTreeMap::new(),
    }
}

fn fake_with_t1() -> Fake {
    let fake = Fake::default();
    *fake.manifest.borrow_mut() = Some(Ok(t1_output()));
    fake
}

#[test]
fn t1_manifest_yaml_matches_go_byte_for_byte() {
    assert_eq!(t1_manifest().to_yaml().unwrap(), T1_MANIFEST);
    assert_eq!(BoshManifest::from_yaml(T1_MANIFEST).unwrap().unwrap(), t1_manifest());
}

#[test]
fn t1_generate_manifest_new_instance_stdin() {
    let fake = fake_with_t1();
    let r = run(&handler(&fake, false), &["generate-manifest"], &envelope(&provision_input()));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.stderr, "[odb-sdk] handling generate-manifest\n");
    let expected = format!(
        "{{\"manifest\":{},\"secrets\":{{\"odb_managed_secret\":\"HardcodedAdapterValue\"}},\"configs\":{{}}}}",
        serde_json::to_string(T1_MANIFEST).unwrap()
    );
    assert_eq!(r.stdout, expected);
    assert!(!r.stdout.ends_with('\n'));

    let seen = fake.seen_generate.borrow().clone().unwrap();
    assert_eq!(
        seen.service_deployment.deployment_name,
        "service-instance_6f1c2a7e-1d2b-4c3d-9e8f-0a1b2c3d4e5f"
    );
    assert_eq!(seen.plan.instance_groups[0].persistent_disk_type, "ten");
    assert_eq!(seen.previous_plan, None);
    assert_eq!(seen.previous_manifest, None);
    assert_eq!(seen.previous_secrets, None);
    assert_eq!(seen.previous_configs, None);
    assert_eq!(seen.service_instance_uaa_client, None);
    assert_eq!(seen.request_params.arbitrary_params()["maxclients"], 500);
    assert_eq!(seen.request_params.platform(), "cloudfoundry");
}

#[test]
fn t2_update_inputs() {
    let fake = fake_with_t1();
    let mut input = provision_input();
    let gm = &mut input.generate_manifest;
    gm.plan = PLAN.replace(
        r#""instance_groups""#,
        r#""update":{"canaries":1,"canary_watch_time":"30000-240000","update_watch_time":"30000-240000","max_in_flight":"25%"},"instance_groups""#,
    );
    gm.previous_plan = PLAN.into();
    gm.previous_manifest = T1_MANIFEST.into();
    gm.request_parameters = r#"{"service_id":"svc-id","plan_id":"plan-id","previous_values":{"plan_id":"plan-id","service_id":"svc-id","organization_id":"org","space_id":"space"},"context":{"platform":"cloudfoundry","instance_name":"my-redis"},"parameters":{"maxclients":1000}}"#.into();
    gm.previous_secrets = r#"{"((secret_pass))":"pAsSw0rd"}"#.into();
    gm.previous_configs = "{}".into();
    let r = run(&handler(&fake, false), &["generate-manifest"], &envelope(&input));
    assert_eq!(r.code, 0, "{}", r.stderr);
    let seen = fake.seen_generate.borrow().clone().unwrap();
    assert_eq!(seen.plan.update.unwrap().max_in_flight, MaxInFlight::Percent("25%".into()));
    assert_eq!(seen.previous_plan.unwrap().instance_groups.len(), 1);
    assert_eq!(seen.previous_manifest.unwrap(), t1_manifest());
    assert_eq!(seen.previous_secrets.unwrap()["((secret_pass))"], "pAsSw0rd");
    assert_eq!(seen.previous_configs, Some(BoshConfigs::new()));
    assert_eq!(seen.request_params.previous_values()["plan_id"], "plan-id");
}

#[test]
fn t3_upgrade_request_parameters_forms_are_accepted() {
    for rp in [r#"{"context":null}"#, "null", "{}"] {
        let fake = fake_with_t1();
        let mut input = provision_input();
        input.generate_manifest.request_parameters = rp.into();
        input.generate_manifest.previous_plan = PLAN.into();
        input.generate_manifest.previous_manifest = T1_MANIFEST.into();
        let r = run(&handler(&fake, false), &["generate-manifest"], &envelope(&input));
        assert_eq!(r.code, 0, "{rp}: {}", r.stderr);
        let seen = fake.seen_generate.borrow().clone().unwrap();
        assert!(seen.request_params.arbitrary_context().is_empty());
        assert!(seen.request_params.arbitrary_params().is_empty());
        assert_eq!(seen.request_params.platform(), "");
    }
}

#[test]
fn t7_previous_secrets_empty_string_is_an_empty_map_and_null_is_none() {
    for (sent, expected) in [("", Some(ManifestSecrets::new())), ("null", None)] {
        let fake = fake_with_t1();
        let mut input = provision_input();
        input.generate_manifest.previous_secrets = sent.into();
        let r = run(&handler(&fake, false), &["generate-manifest"], &envelope(&input));
        assert_eq!(r.code, 0);
        assert_eq!(fake.seen_generate.borrow().clone().unwrap().previous_secrets, expected);
    }
}

#[test]
fn t5_uaa_client_and_configs() {
    let fake = Fake::default();
    let mut out = t1_output();
    out.configs = Some(BTreeMap::from([(
        "cloud".to_string(),
        "vm_extensions:\n- name: public_ip\n  cloud_properties: {}\n".to_string(),
    )]));
    *fake.manifest.borrow_mut() = Some(Ok(out));
    let mut input = provision_input();
    input.generate_manifest.uaa_client = r#"{"client_id":"cid","client_secret":"csec","name":"n","allowpublic":"true","redirect_uri":"x"}"#.into();
    let r = run(&handler(&fake, false), &["generate-manifest"], &envelope(&input));
    assert_eq!(r.code, 0);
    assert!(
        r.stdout.ends_with(
            r#","configs":{"cloud":"vm_extensions:\n- name: public_ip\n  cloud_properties: {}\n"}}"#
        ),
        "{}",
        r.stdout
    );
    let client = fake.seen_generate.borrow().clone().unwrap().service_instance_uaa_client.unwrap();
    assert_eq!((client.client_id.as_str(), client.name.as_str()), ("cid", "n"));
}

#[test]
fn t4_legacy_generate_manifest() {
    let fake = fake_with_t1();
    let r = run(
        &handler(&fake, false),
        &["generate-manifest", SD, PLAN, PROVISION_RP, "", "null"],
        "ignored",
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.stdout, T1_MANIFEST);
    assert_eq!(fake.seen_generate.borrow().clone().unwrap().previous_secrets, None);

    let r = run(&handler(&fake, false), &["generate-manifest", SD, PLAN], "");
    assert_eq!(r.code, 1);
    assert_eq!(r.stdout, "");
    assert_eq!(r.last_stderr_line(), "[odb-sdk] Missing arguments for generate-manifest. Usage: redis-service-adapter generate-manifest <service-deployment-JSON> <plan-JSON> <request-params-JSON> <previous-manifest-YAML> <previous-plan-JSON>");
}

fn gm_with(edit: impl FnOnce(&mut wire::GenerateManifestJsonParams)) -> Run {
    let fake = fake_with_t1();
    let mut input = provision_input();
    edit(&mut input.generate_manifest);
    run(&handler(&fake, false), &["generate-manifest"], &envelope(&input))
}

fn assert_sdk_error(r: &Run, message: &str) {
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert_eq!(r.stdout, "");
    assert_eq!(r.last_stderr_line(), format!("[odb-sdk] {message}"));
}

#[test]
fn t6_sdk_errors() {
    assert_sdk_error(
        &gm_with(|g| g.previous_plan = "".into()),
        "unmarshalling previous service plan: unexpected end of JSON input",
    );
    assert_sdk_error(
        &gm_with(|g| g.request_parameters = "".into()),
        "unmarshalling requestParams: unexpected end of JSON input",
    );
    assert_sdk_error(&gm_with(|g| g.plan = "{}".into()), "validating service plan: Key: 'Plan.InstanceGroups' Error:Field validation for 'InstanceGroups' failed on the 'required' tag");
    let r = gm_with(|g| {
        g.plan = PLAN.replace(r#""instances":1"#, r#""instances":0"#).replace(r#"["z1"]"#, "[]")
    });
    assert_eq!(r.code, 1);
    assert!(r.stderr.ends_with("[odb-sdk] validating service plan: Key: 'Plan.InstanceGroups[0].Instances' Error:Field validation for 'Instances' failed on the 'min' tag\nKey: 'Plan.InstanceGroups[0].AZs' Error:Field validation for 'AZs' failed on the 'min' tag\n"));
    assert_sdk_error(
        &gm_with(|g| g.service_deployment = r#"{"deployment_name":"d","releases":[]}"#.into()),
        "validating service deployment: Key: 'ServiceDeployment.Stemcells' Error:Field validation for 'Stemcells' failed on the 'required' tag",
    );
    assert_sdk_error(
        &gm_with(|g| g.plan = PLAN.replace(r#""instance_groups""#, r#""update":{"canaries":1},"instance_groups""#)),
        "unmarshalling service plan: MaxInFlight must be either an integer or a percentage. Got <nil>",
    );
    assert_sdk_error(
        &gm_with(|g| g.previous_secrets = "notjson".into()),
        "unmarshalling previous secrets: invalid character 'o' in literal null (expecting 'u')",
    );
    assert_sdk_error(
        &gm_with(|g| g.service_deployment = "".into()),
        "unmarshalling service deployment: unexpected end of JSON input",
    );
    assert_sdk_error(
        &gm_with(|g| g.plan = "".into()),
        "unmarshalling service plan: unexpected end of JSON input",
    );
    assert_sdk_error(&gm_with(|g| g.previous_manifest = "name: [unclosed".into()), "unmarshalling previous manifest: yaml: did not find expected ',' or ']' at line 2 column 1, while parsing a flow sequence at line 1 column 7");

    let h = handler(&fake_with_t1(), false);
    assert_sdk_error(&run(&h, &["generate-manifest"], "{not json"), "error unmarshalling input params JSON, error: invalid character 'n' looking for beginning of object key string");
    assert_sdk_error(
        &run(&h, &["generate-manifest"], ""),
        "expecting parameters to be passed via stdin",
    );
    assert_sdk_error(
        &run(&h, &["generate-manifest"], "{}"),
        "unmarshalling service deployment: unexpected end of JSON input",
    );
    assert_sdk_error(
        &run(&h, &["generate-manifest"], r#"{"generate_manifest":{"service_deployment":{}}}"#),
        "error unmarshalling input params JSON, error: json: cannot unmarshal object into Go struct field InputParams.generate_manifest.service_deployment of type string",
    );
}

#[test]
fn t6_accepted_inputs() {
    for edit in [
        (|g: &mut wire::GenerateManifestJsonParams| g.request_parameters = "null".into())
            as fn(&mut _),
        |g| g.previous_manifest = "null".into(),
        |g| {
            g.service_deployment =
                SD.replace(r#"{"stemcell_os":"ubuntu-jammy","stemcell_version":"1.404"}"#, "{}")
        },
        |g| {
            g.service_deployment = SD.replace(r#"[{"name":"redis","version":"0.1.0","jobs":["redis-server","health-check","cleanup-data"]}]"#, "[]")
        },
    ] {
        let r = gm_with(edit);
        assert_eq!(r.code, 0, "{}", r.stderr);
    }
}

#[test]
fn t6_adapter_errors_go_to_stdout_verbatim() {
    let fake = Fake::default();
    *fake.manifest.borrow_mut() =
        Some(Err(AdapterError::other("unsupported parameter(s) for this service plan: foo")));
    let r = run(&handler(&fake, false), &["generate-manifest"], &envelope(&provision_input()));
    assert_eq!(r.code, 1);
    assert_eq!(r.stdout, "unsupported parameter(s) for this service plan: foo");
    assert_eq!(r.stderr, "[odb-sdk] handling generate-manifest\n[odb-sdk] unsupported parameter(s) for this service plan: foo\n");

    let groups = generate_instance_groups_with_no_properties(
        &Plan::from_json(PLAN).unwrap().instance_groups,
        &[],
        "only-stemcell",
        &BTreeMap::from([("redis-server".to_string(), vec!["redis-server".to_string()])]),
    );
    *fake.manifest.borrow_mut() = Some(Err(groups.unwrap_err().into()));
    let r = run(&handler(&fake, false), &["generate-manifest"], &envelope(&provision_input()));
    assert_eq!((r.code, r.stdout.as_str()), (1, "job 'redis-server' not provided"));
}

fn binding_input() -> wire::InputParams {
    let mut input = wire::InputParams::default();
    let b = &mut input.create_binding;
    b.binding_id = "binding-1".into();
    b.bosh_vms = r#"{"redis-server":["10.0.8.5"]}"#.into();
    b.manifest = T1_MANIFEST.into();
    b.request_parameters = r#"{"app_guid":"app-guid","plan_id":"plan-id","service_id":"svc-id","bind_resource":{"app_guid":"app-guid"},"context":{"platform":"cloudfoundry"},"parameters":{}}"#.into();
    b.secrets = r#"{"((secret_pass))":"pAsSw0rd"}"#.into();
    b.dns_addresses =
        r#"{"redis-address":"q-s0.redis-server.default.service-instance-6f1c2a7e.bosh"}"#.into();
    input.delete_binding = input.create_binding.clone();
    input.delete_binding.request_parameters =
        r#"{"plan_id":"plan-id","service_id":"svc-id"}"#.into();
    input
}

#[test]
fn t8_create_binding() {
    let fake = Fake::default();
    *fake.binding.borrow_mut() = Some(Ok(Binding {
        credentials: Some(json!({"host": "10.0.8.5", "port": 6379})),
        ..Default::default()
    }));
    let r = run(&handler(&fake, false), &["create-binding"], &envelope(&binding_input()));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.stdout, "{\"credentials\":{\"host\":\"10.0.8.5\",\"port\":6379}}\n");
    let seen = fake.seen_create.borrow().clone().unwrap();
    assert_eq!(seen.binding_id, "binding-1");
    assert_eq!(seen.deployment_topology["redis-server"], vec!["10.0.8.5"]);
    assert_eq!(seen.manifest, t1_manifest());
    assert_eq!(seen.request_params.app_guid().as_deref(), Some("app-guid"));
    assert_eq!(seen.secrets.unwrap()["((secret_pass))"], "pAsSw0rd");
    assert_eq!(
        seen.dns_addresses.unwrap()["redis-address"],
        "q-s0.redis-server.default.service-instance-6f1c2a7e.bosh"
    );

    // secrets and DNS addresses "null": absent.
    let mut input = binding_input();
    input.create_binding.secrets = "null".into();
    input.create_binding.dns_addresses = "null".into();
    let r = run(&handler(&fake, false), &["create-binding"], &envelope(&input));
    assert_eq!(r.code, 0);
    let seen = fake.seen_create.borrow().clone().unwrap();
    assert_eq!((seen.secrets, seen.dns_addresses), (None, None));

    // Legacy positional form: same output, no secrets.
    let b = binding_input().create_binding;
    let r = run(
        &handler(&fake, false),
        &["create-binding", &b.binding_id, &b.bosh_vms, &b.manifest, &b.request_parameters],
        "",
    );
    assert_eq!(r.stdout, "{\"credentials\":{\"host\":\"10.0.8.5\",\"port\":6379}}\n");
    assert_eq!(fake.seen_create.borrow().clone().unwrap().secrets, None);

    // Backup agent binding: credentials null.
    *fake.binding.borrow_mut() = Some(Ok(Binding {
        backup_agent_url: "http://www.example.com/backup-agent-url".into(),
        ..Default::default()
    }));
    let r = run(&handler(&fake, false), &["create-binding"], &envelope(&binding_input()));
    assert_eq!(
        r.stdout,
        "{\"credentials\":null,\"backup_agent_url\":\"http://www.example.com/backup-agent-url\"}\n"
    );

    // T13: every field set; Go escapes & < >.
    *fake.binding.borrow_mut() = Some(Ok(Binding {
        credentials: Some(json!({"uri": "redis://a&b<c>"})),
        syslog_drain_url: "syslog://x".into(),
        route_service_url: "https://route".into(),
        backup_agent_url: String::new(),
    }));
    let r = run(&handler(&fake, false), &["create-binding"], &envelope(&binding_input()));
    assert_eq!(r.stdout, "{\"credentials\":{\"uri\":\"redis://a\\u0026b\\u003cc\\u003e\"},\"syslog_drain_url\":\"syslog://x\",\"route_service_url\":\"https://route\"}\n");
}

#[test]
fn t8_create_binding_errors() {
    let fake = Fake::default();
    let cases = [
        (
            AdapterError::binding_already_exists("binding-1"),
            49,
            "binding already exists: binding-1",
        ),
        (AdapterError::app_guid_not_provided("binding-1"), 42, "app GUID not provided: binding-1"),
        (
            AdapterError::other(
                "manifest wasn't correctly interpolated: missing value for `((secret_pass))`",
            ),
            1,
            "manifest wasn't correctly interpolated: missing value for `((secret_pass))`",
        ),
        (AdapterError::other(""), 1, ""),
    ];
    for (error, code, text) in cases {
        *fake.binding.borrow_mut() = Some(Err(error));
        let r = run(&handler(&fake, false), &["create-binding"], &envelope(&binding_input()));
        assert_eq!(r.code, code);
        assert_eq!(r.stdout, text);
        assert_eq!(r.stderr, format!("[odb-sdk] handling create-binding\n[odb-sdk] {text}\n"));
    }
    let h = handler(&fake, false);
    let mut input = binding_input();
    input.create_binding.bosh_vms = "".into();
    assert_sdk_error(
        &run(&h, &["create-binding"], &envelope(&input)),
        "unmarshalling BOSH VMs: unexpected end of JSON input",
    );
    let mut input = binding_input();
    input.create_binding.request_parameters = "".into();
    assert_sdk_error(
        &run(&h, &["create-binding"], &envelope(&input)),
        "unmarshalling request binding parameters: unexpected end of JSON input",
    );
    let mut input = binding_input();
    input.create_binding.manifest = "update:\n  canaries: 1\n".into();
    assert_sdk_error(&run(&h, &["create-binding"], &envelope(&input)), "unmarshalling manifest YAML: MaxInFlight must be either an integer or a percentage. Got <nil>");
    assert_sdk_error(
        &run(&h, &["create-binding"], r#"{"create_binding":"#),
        "error unmarshalling input params JSON, error: unexpected end of JSON input",
    );
    assert_sdk_error(
        &run(&h, &["create-binding", "binding-1"], ""),
        "Missing arguments for create-binding. Usage: redis-service-adapter create-binding <binding-ID> <bosh-VMs-JSON> <manifest-YAML> <request-params-JSON>",
    );
    // "" manifest and "null" VMs are accepted.
    let mut input = binding_input();
    input.create_binding.manifest = "".into();
    input.create_binding.bosh_vms = "null".into();
    *fake.binding.borrow_mut() = None;
    let r = run(&h, &["create-binding"], &envelope(&input));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(fake.seen_create.borrow().clone().unwrap().manifest, BoshManifest::default());
}

#[test]
fn t9_delete_binding() {
    let fake = Fake::default();
    let r = run(&handler(&fake, false), &["delete-binding"], &envelope(&binding_input()));
    assert_eq!((r.code, r.stdout.as_str()), (0, ""));
    assert_eq!(fake.seen_delete.borrow().clone().unwrap().request_params.0["plan_id"], "plan-id");

    *fake.unbind.borrow_mut() =
        Some(Err(AdapterError::other("The required secret was not provided to DeleteBinding")));
    let r = run(&handler(&fake, false), &["delete-binding"], &envelope(&binding_input()));
    assert_eq!(
        (r.code, r.stdout.as_str()),
        (1, "The required secret was not provided to DeleteBinding")
    );
    assert_eq!(
        r.last_stderr_line(),
        "[odb-sdk] The required secret was not provided to DeleteBinding"
    );

    *fake.unbind.borrow_mut() = Some(Err(AdapterError::binding_not_found("binding-1")));
    let r = run(&handler(&fake, false), &["delete-binding"], &envelope(&binding_input()));
    assert_eq!((r.code, r.stdout.as_str()), (41, "binding not found: binding-1"));

    // The docs' `delete_parameters` key is not read: request_parameters is then "".
    let mut input = binding_input();
    input.delete_binding.request_parameters = String::new();
    let text = envelope(&input).replace(
        r#""request_parameters":"","secrets":"{\"((secret_pass))\":\"pAsSw0rd\"}","dns"#,
        r#""delete_parameters":"{}","secrets":"{\"((secret_pass))\":\"pAsSw0rd\"}","dns"#,
    );
    assert!(text.contains("delete_parameters"));
    assert_sdk_error(
        &run(&handler(&fake, false), &["delete-binding"], &text),
        "unmarshalling request binding parameters: unexpected end of JSON input",
    );
}

#[test]
fn t10_dashboard_url() {
    let fake = Fake::default();
    let h = handler(&fake, false);
    let id = "6f1c2a7e-1d2b-4c3d-9e8f-0a1b2c3d4e5f";
    let want = format!("{{\"dashboard_url\":\"https://example.com/dashboard/{id}\"}}\n");
    let input = wire::InputParams {
        dashboard_url: wire::DashboardUrlJsonParams {
            instance_id: id.into(),
            plan: PLAN.into(),
            manifest: T1_MANIFEST.into(),
        },
        ..Default::default()
    };
    let r = run(&h, &["dashboard-url"], &envelope(&input));
    assert_eq!((r.code, r.stdout.as_str()), (0, want.as_str()));
    assert_eq!(fake.seen_dashboard.borrow().clone().unwrap().manifest, Some(t1_manifest()));
    let r = run(&h, &["dashboard-url", id, PLAN, T1_MANIFEST], "");
    assert_eq!((r.code, r.stdout.as_str()), (0, want.as_str()));

    let with = |edit: fn(&mut wire::DashboardUrlJsonParams)| {
        let mut i = input.clone();
        edit(&mut i.dashboard_url);
        run(&h, &["dashboard-url"], &envelope(&i))
    };
    assert_eq!(with(|d| d.manifest = "".into()).code, 0);
    assert_eq!(fake.seen_dashboard.borrow().clone().unwrap().manifest, None);
    assert_sdk_error(&with(|d| d.plan = "{}".into()), "validating service plan: Key: 'Plan.InstanceGroups' Error:Field validation for 'InstanceGroups' failed on the 'required' tag");
    let r = with(|d| d.manifest = "name: [unclosed".into());
    assert_eq!((r.code, r.stdout.as_str()), (1, ""));
    assert!(
        r.last_stderr_line().starts_with("[odb-sdk] unmarshalling manifest YAML: yaml: "),
        "{}",
        r.stderr
    );
    assert_sdk_error(&with(|d| d.manifest = "update:\n  canaries: 1\n".into()), "unmarshalling manifest YAML: MaxInFlight must be either an integer or a percentage. Got <nil>");
    assert_sdk_error(&run(&h, &["dashboard-url", id], ""), "Missing arguments for dashboard-url. Usage: redis-service-adapter dashboard-url <instance-ID> <plan-JSON> <manifest-YAML>");
    // Keys match case-insensitively, as in Go.
    let r = run(
        &h,
        &["dashboard-url"],
        &format!(
            r#"{{"DASHBOARD_URL":{{"Instance_ID":"{id}","plan":{}}}}}"#,
            serde_json::to_string(PLAN).unwrap()
        ),
    );
    assert_eq!((r.code, r.stdout.as_str()), (0, want.as_str()));
}

#[test]
fn t11_not_implemented_is_decided_before_reading_input() {
    let h = handler(&Fake::default(), false);
    let mut input = wire::InputParams::default();
    input.generate_plan_schemas.plan = PLAN.into();
    for (args, stdin) in [
        (vec!["generate-plan-schemas"], envelope(&input)),
        (vec!["generate-plan-schemas"], String::new()),
        (vec!["generate-plan-schemas", "-plan-json", PLAN], String::new()),
    ] {
        let r = run(&h, &args, &stdin);
        assert_eq!(r.code, 10);
        assert_eq!(r.stdout, "");
        assert_eq!(r.stderr, "[odb-sdk] handling generate-plan-schemas\n[odb-sdk] generate-plan-schemas not implemented\n");
    }
}

#[test]
fn t12_dispatch_errors() {
    let h = handler(&Fake::default(), false);
    let r = run(&h, &[], "");
    assert_eq!((r.code, r.stdout.as_str()), (1, ""));
    assert_eq!(r.stderr, "[odb-sdk] the following commands are supported: create-binding, dashboard-url, delete-binding, generate-manifest\n");
    let r = run(&h, &["frobnicate"], "");
    assert_eq!(r.code, 1);
    assert_eq!(r.stderr, "[odb-sdk] handling frobnicate\n[odb-sdk] unknown subcommand: frobnicate. The following commands are supported: create-binding, dashboard-url, delete-binding, generate-manifest\n");

    let nothing = CommandLineHandler::default();
    let r = run(&nothing, &[], "");
    assert_eq!(r.stderr, "[odb-sdk] the following commands are supported: \n");
    let r = run(&nothing, &["generate-manifest"], "");
    assert_eq!(r.code, 10);
    assert_eq!(r.last_stderr_line(), "[odb-sdk] generate-manifest not implemented");
    let all = handler(&Fake::default(), true);
    assert!(run(&all, &[], "").stderr.ends_with("generate-manifest, generate-plan-schemas\n"));
}

#[test]
fn t13_plan_schemas() {
    let fake = Fake::default();
    let schema = JsonSchemas {
        parameters: Some(props(
            json!({"$schema": "http://json-schema.org/draft-04/schema#", "type": "object"}),
        )),
    };
    *fake.schema.borrow_mut() = Some(Ok(PlanSchema {
        service_instance: ServiceInstanceSchema { create: schema.clone(), update: schema },
        service_binding: ServiceBindingSchema::default(),
    }));
    let h = handler(&fake, true);
    let want = "{\"service_instance\":{\"create\":{\"parameters\":{\"$schema\":\"http://json-schema.org/draft-04/schema#\",\"type\":\"object\"}},\"update\":{\"parameters\":{\"$schema\":\"http://json-schema.org/draft-04/schema#\",\"type\":\"object\"}}},\"service_binding\":{\"create\":{\"parameters\":null}}}\n";
    let mut input = wire::InputParams::default();
    input.generate_plan_schemas.plan = PLAN.into();
    let flag_eq = format!("-plan-json={PLAN}");
    for (args, stdin) in [
        (vec!["generate-plan-schemas"], envelope(&input)),
        (vec!["generate-plan-schemas", "--plan-json", PLAN], String::new()),
        (vec!["generate-plan-schemas", "-plan-json", PLAN], String::new()),
        (vec!["generate-plan-schemas", flag_eq.as_str()], String::new()),
    ] {
        let r = run(&h, &args, &stdin);
        assert_eq!((r.code, r.stdout.as_str()), (0, want), "{args:?} {}", r.stderr);
    }
    assert_eq!(fake.seen_schema.borrow().clone().unwrap().plan, Plan::from_json(PLAN).unwrap());

    let r = run(&h, &["generate-plan-schemas", "-foo"], "");
    assert_eq!((r.code, r.stdout.as_str()), (1, ""));
    assert_eq!(r.stderr, "[odb-sdk] handling generate-plan-schemas\nflag provided but not defined: -foo\nUsage:\n  -plan-json string\n    \tPlan JSON\n[odb-sdk] flag provided but not defined: -foo\n");
    let r = run(&h, &["generate-plan-schemas", "extra"], "");
    assert_sdk_error(&r, "Missing arguments for generate-plan-schemas. Usage: redis-service-adapter generate-plan-schemas -plan-json <plan-JSON>");
    assert_sdk_error(&run(&h, &["generate-plan-schemas", "-plan-json", "{}"], ""), "error validating plan JSON: Key: 'Plan.InstanceGroups' Error:Field validation for 'InstanceGroups' failed on the 'required' tag");
    assert_sdk_error(
        &run(&h, &["generate-plan-schemas", "-plan-json", "{"], ""),
        "error unmarshalling plan JSON: unexpected end of JSON input",
    );

    *fake.schema.borrow_mut() = Some(Err(AdapterError::other("An error occurred")));
    let r = run(&h, &["generate-plan-schemas"], &envelope(&input));
    assert_eq!((r.code, r.stdout.as_str()), (1, "An error occurred"));
}

#[test]
fn t13_generate_manifest_labels_features_and_bad_max_in_flight() {
    let fake = Fake::default();
    let mut manifest = BoshManifest { name: "d".into(), ..Default::default() };
    manifest.features.use_dns_addresses = Some(true);
    manifest.features.extra.insert("x_feature".into(), json!("on"));
    *fake.manifest.borrow_mut() = Some(Ok(GenerateManifestOutput {
        manifest: manifest.clone(),
        odb_managed_secrets: Some(props(json!({"admin": "pw"}))),
        configs: None,
        labels: BTreeMap::from([("team".to_string(), "data".to_string())]),
    }));
    let r = run(&handler(&fake, false), &["generate-manifest"], &envelope(&provision_input()));
    assert_eq!(r.code, 0);
    assert_eq!(
        r.stdout,
        "{\"manifest\":\"name: d\\nreleases: []\\nstemcells: []\\ninstance_groups: []\\nupdate: null\\nfeatures:\\n  use_dns_addresses: true\\n  x_feature: \\\"on\\\"\\n\",\"secrets\":{\"admin\":\"pw\"},\"configs\":null,\"labels\":{\"team\":\"data\"}}"
    );

    manifest.update = Some(bosh::Update {
        max_in_flight: MaxInFlight::Percent("0.5".into()),
        ..Default::default()
    });
    *fake.manifest.borrow_mut() =
        Some(Ok(GenerateManifestOutput { manifest, ..Default::default() }));
    assert_sdk_error(
        &run(&handler(&fake, false), &["generate-manifest"], &envelope(&provision_input())),
        "error marshalling manifest yaml output: MaxInFlight must be either an integer or a percentage. Got 0.5",
    );
    assert_sdk_error(
        &run(&handler(&fake, false), &["generate-manifest", SD, PLAN, PROVISION_RP, "", "null"], ""),
        "error marshalling bosh manifest: MaxInFlight must be either an integer or a percentage. Got 0.5",
    );
}

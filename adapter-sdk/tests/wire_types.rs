//! Wire types: JSON shapes the broker sends and accepts, and manifest YAML.

use service_adapter::bosh::{self, BoshManifest};
use service_adapter::wire::InputParams;
use service_adapter::*;

const SD: &str = r#"{"deployment_name":"service-instance_6f1c2a7e-1d2b-4c3d-9e8f-0a1b2c3d4e5f","releases":[{"name":"redis","version":"0.1.0","jobs":["redis-server","health-check","cleanup-data"]}],"stemcells":[{"stemcell_os":"ubuntu-jammy","stemcell_version":"1.404"}]}"#;
const PLAN: &str = r#"{"properties":{"persistence":true},"lifecycle_errands":{},"instance_groups":[{"name":"redis-server","vm_type":"small","persistent_disk_type":"ten","instances":1,"networks":["default"],"azs":["z1"]}]}"#;

#[test]
fn plan_serialises_like_the_go_broker() {
    let plan = Plan::from_json(PLAN).unwrap();
    assert_eq!(serde_json::to_string(&plan).unwrap(), PLAN);
    assert_eq!(plan.instance_groups[0].instances, 1);
    plan.validate().unwrap();
}

#[test]
fn plan_update_max_in_flight_rules() {
    let with =
        |update: &str| {
            Plan::from_json(&PLAN.replace(
                r#""instance_groups""#,
                &format!(r#""update":{update},"instance_groups""#),
            ))
        };
    let ok = with(
        r#"{"canaries":1,"canary_watch_time":"1","update_watch_time":"2","max_in_flight":"25%"}"#,
    )
    .unwrap();
    assert_eq!(ok.update.unwrap().max_in_flight, MaxInFlight::Percent("25%".into()));
    assert!(with(r#"{"max_in_flight":"x25%"}"#).is_ok());
    assert_eq!(
        with(r#"{"max_in_flight":4}"#).unwrap().update.unwrap().max_in_flight,
        MaxInFlight::Count(4)
    );
    for (bad, got) in [
        ("{}", "<nil>"),
        (r#"{"max_in_flight":null}"#, "<nil>"),
        (r#"{"max_in_flight":"4"}"#, "4"),
        (r#"{"max_in_flight":0.5}"#, "0.5"),
        (r#"{"max_in_flight":4.0}"#, "4"),
        (r#"{"max_in_flight":true}"#, "true"),
    ] {
        assert_eq!(
            with(bad).unwrap_err().to_string(),
            format!("MaxInFlight must be either an integer or a percentage. Got {got}")
        );
    }
}

#[test]
fn plan_validation_messages() {
    assert_eq!(
        Plan::from_json("{}").unwrap_err().to_string(),
        "Key: 'Plan.InstanceGroups' Error:Field validation for 'InstanceGroups' failed on the 'required' tag"
    );
    assert!(Plan::from_json("null").is_err());
    let bad = PLAN
        .replace(r#""instances":1"#, r#""instances":0"#)
        .replace(r#""azs":["z1"]"#, r#""azs":[]"#);
    assert_eq!(
        Plan::from_json(&bad).unwrap_err().to_string(),
        "Key: 'Plan.InstanceGroups[0].Instances' Error:Field validation for 'Instances' failed on the 'min' tag\nKey: 'Plan.InstanceGroups[0].AZs' Error:Field validation for 'AZs' failed on the 'min' tag"
    );
    let no_networks = PLAN.replace(r#""networks":["default"]"#, r#""networks":null"#);
    assert!(Plan::from_json(&no_networks)
        .unwrap_err()
        .to_string()
        .contains("'Networks' failed on the 'required' tag"));
    let empty_networks = PLAN.replace(r#""networks":["default"]"#, r#""networks":[]"#);
    Plan::from_json(&empty_networks).unwrap();
}

#[test]
fn plan_reads_from_yaml_config() {
    let yaml = "properties:\n  a: 1\nlifecycle_errands:\n  post_deploy:\n  - name: smoke\ninstance_groups:\n- name: g\n  vm_type: small\n  instances: 2\n  networks: [n]\n  azs: [z1]\nupdate:\n  canaries: 1\n  canary_watch_time: 1-2\n  update_watch_time: 1-2\n  max_in_flight: 50%\n";
    let plan: Plan = serde_yaml::from_str(yaml).unwrap();
    assert_eq!(plan.lifecycle_errands.post_deploy[0].name, "smoke");
    assert_eq!(plan.update.unwrap().max_in_flight, MaxInFlight::Percent("50%".into()));
}

#[test]
fn service_deployment_parses_and_validates() {
    let sd = ServiceDeployment::from_json(SD).unwrap();
    assert_eq!(sd.stemcells[0].version, "1.404");
    assert_eq!(serde_json::to_string(&sd).unwrap(), SD);
    let err = ServiceDeployment::from_json(&SD.replace(
        r#","stemcells":[{"stemcell_os":"ubuntu-jammy","stemcell_version":"1.404"}]"#,
        "",
    ))
    .unwrap_err();
    assert_eq!(err.to_string(), "Key: 'ServiceDeployment.Stemcells' Error:Field validation for 'Stemcells' failed on the 'required' tag");
    ServiceDeployment::from_json(&SD.replace(r#""releases":[{"name":"redis","version":"0.1.0","jobs":["redis-server","health-check","cleanup-data"]}]"#, r#""releases":[]"#)).unwrap();
}

#[test]
fn envelope_rules() {
    let all = serde_json::to_string(&InputParams::default()).unwrap();
    assert!(all.contains(r#""generate_plan_schemas":{"plan":""}"#));
    assert_eq!(InputParams::from_json(all.as_bytes()).unwrap(), InputParams::default());
    let p =
        InputParams::from_json(br#"{"DASHBOARD_URL":{"Instance_ID":"i-1"},"extra":1}"#).unwrap();
    assert_eq!(p.dashboard_url.instance_id, "i-1");
    assert_eq!(
        InputParams::from_json(br#"{"generate_manifest":{"service_deployment":{}}}"#).unwrap_err(),
        "json: cannot unmarshal object into Go struct field InputParams.generate_manifest.service_deployment of type string"
    );
    assert_eq!(
        InputParams::from_json(b"[]").unwrap_err(),
        "json: cannot unmarshal array into Go value of type serviceadapter.InputParams"
    );
    assert_eq!(
        InputParams::from_json(b"{not json").unwrap_err(),
        "invalid character 'n' looking for beginning of object key string"
    );
}

#[test]
fn binding_and_schema_shapes() {
    let b = Binding { credentials: None, ..Default::default() };
    assert_eq!(serde_json::to_string(&b).unwrap(), r#"{"credentials":null}"#);
    let s = PlanSchema::default();
    assert_eq!(
        serde_json::to_string(&s).unwrap(),
        r#"{"service_instance":{"create":{"parameters":null},"update":{"parameters":null}},"service_binding":{"create":{"parameters":null}}}"#
    );
    let m = MarshalledGenerateManifest { manifest: "x".into(), ..Default::default() };
    assert_eq!(
        serde_json::to_string(&m).unwrap(),
        r#"{"manifest":"x","secrets":null,"configs":null}"#
    );
}

#[test]
fn request_parameters_accessors_never_panic() {
    let rp: RequestParameters = serde_json::from_str(r#"{"parameters":"oops","context":{"platform":"cloudfoundry"},"bind_resource":{"app_guid":"a","backup_agent":true}}"#).unwrap();
    assert!(rp.arbitrary_params().is_empty());
    assert_eq!(rp.platform(), "cloudfoundry");
    assert!(rp.bind_resource().backup_agent);
    assert_eq!(rp.app_guid().as_deref(), Some("a"));
    let empty = RequestParameters::default();
    assert_eq!(empty.app_guid(), None);
    assert_eq!(empty.platform(), "");
}

#[test]
fn zero_manifest_yaml() {
    assert_eq!(
        BoshManifest::default().to_yaml().unwrap(),
        "name: \"\"\nreleases: []\nstemcells: []\ninstance_groups: []\nupdate: null\n"
    );
    assert_eq!(BoshManifest::from_yaml("").unwrap(), None);
    assert_eq!(BoshManifest::from_yaml("null").unwrap(), None);
    assert_eq!(BoshManifest::from_yaml("---").unwrap(), None);
    assert_eq!(
        BoshManifest::from_yaml("update:\n  canaries: 1\n").unwrap_err().to_string(),
        "MaxInFlight must be either an integer or a percentage. Got <nil>"
    );
    let m = BoshManifest::from_yaml(
        "name: x\nunknown: 1\nstemcells:\n- alias: a\n  os: o\n  version: 1.404\nupdate: null\n",
    )
    .unwrap()
    .unwrap();
    assert_eq!(m.stemcells[0].version, "1.404");
    let _ = bosh::Update::default();
}

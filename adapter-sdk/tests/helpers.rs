//! Manifest-building helpers and their error texts.

use std::collections::BTreeMap;

use service_adapter::*;

fn release(name: &str, jobs: &[&str]) -> ServiceRelease {
    ServiceRelease {
        name: name.into(),
        version: "1".into(),
        jobs: jobs.iter().map(|j| j.to_string()).collect(),
    }
}

fn group(name: &str) -> InstanceGroup {
    InstanceGroup {
        name: name.into(),
        vm_type: "small".into(),
        vm_extensions: vec!["public_ip".into()],
        persistent_disk_type: "ten".into(),
        instances: 2,
        networks: vec!["default".into()],
        azs: vec!["z1".into()],
        lifecycle: "service".into(),
        migrated_from: vec![Migration { name: "old".into() }],
    }
}

#[test]
fn find_release_for_job_errors() {
    let releases = [release("a", &["x"]), release("b", &["x", "y"])];
    assert_eq!(find_release_for_job("y", &releases).unwrap().name, "b");
    assert_eq!(
        find_release_for_job("z", &releases).unwrap_err().to_string(),
        "job 'z' not provided"
    );
    assert_eq!(
        find_release_for_job("x", &releases).unwrap_err().to_string(),
        "job 'x' provided 2 times, by a, b"
    );
}

#[test]
fn instance_groups_follow_the_plan_and_skip_unknown_groups() {
    let releases = [release("r", &["j1", "j2"])];
    let jobs = BTreeMap::from([("g".to_string(), vec!["j1".to_string(), "j2".to_string()])]);
    let groups = generate_instance_groups_with_no_properties(
        &[group("other"), group("g")],
        &releases,
        "alias",
        &jobs,
    )
    .unwrap();
    assert_eq!(groups.len(), 1);
    let g = &groups[0];
    assert_eq!((g.name.as_str(), g.instances, g.stemcell.as_str()), ("g", 2, "alias"));
    assert_eq!(
        g.jobs.iter().map(|j| (j.name.as_str(), j.release.as_str())).collect::<Vec<_>>(),
        [("j1", "r"), ("j2", "r")]
    );
    assert_eq!(g.networks[0].name, "default");
    assert_eq!(g.migrated_from[0].name, "old");
    assert_eq!((g.lifecycle.as_str(), g.persistent_disk_type.as_str()), ("service", "ten"));
    assert!(g.properties.is_empty() && g.env.is_empty() && g.update.is_none());

    let none =
        generate_instance_groups_with_no_properties(&[group("other")], &releases, "a", &jobs)
            .unwrap();
    assert!(none.is_empty());
    assert_eq!(
        generate_instance_groups_with_no_properties(&[], &releases, "a", &jobs)
            .unwrap_err()
            .to_string(),
        "no instance groups provided"
    );
}

#[test]
fn job_links_render_like_bosh_expects() {
    let job =
        service_adapter::bosh::Job { name: "j".into(), release: "r".into(), ..Default::default() }
            .add_shared_provides_link("p")
            .add_consumes_link("c", "p")
            .add_cross_deployment_consumes_link("x", "p", "other")
            .add_nullified_consumes_link("n");
    let manifest = service_adapter::bosh::BoshManifest {
        instance_groups: vec![service_adapter::bosh::InstanceGroup {
            jobs: vec![job],
            ..Default::default()
        }],
        ..Default::default()
    };
    let yaml = manifest.to_yaml().unwrap();
    assert!(yaml.contains("    provides:\n      p:\n        shared: true\n"), "{yaml}");
    assert!(yaml.contains("    consumes:\n      c:\n        from: p\n      \"n\": nil\n      x:\n        deployment: other\n        from: p\n"), "{yaml}");
}

#[test]
fn adapter_error_texts_and_codes() {
    assert_eq!(AdapterError::binding_already_exists("b").to_string(), "binding already exists: b");
    assert_eq!(
        AdapterError::app_guid_not_provided("b").exit_code(),
        APP_GUID_NOT_PROVIDED_ERROR_EXIT_CODE
    );
    assert_eq!(AdapterError::binding_not_found("b").exit_code(), 41);
    assert_eq!(AdapterError::other("x").exit_code(), ERROR_EXIT_CODE);
}

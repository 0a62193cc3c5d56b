//! Property tests: plans survive JSON, and manifests survive YAML, unchanged, including
//! strings that YAML 1.1 would otherwise read as booleans, nulls or numbers.

use proptest::prelude::*;
use serde_json::Value;
use service_adapter::bosh::{self, BoshManifest};
use service_adapter::*;

/// Strings that stress the YAML emitter, mixed with arbitrary text.
fn tricky_string() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "yes",
            "Yes",
            "NO",
            "on",
            "OFF",
            "y",
            "n",
            "true",
            "False",
            "null",
            "~",
            "",
            "1.404",
            "0x1F",
            "0o17",
            "017",
            "1_000",
            "1:20",
            "1e5",
            ".inf",
            "-.nan",
            "0.1.0",
            "25%",
            "-",
            "- x",
            "a: b",
            "a #b",
            "#c",
            "[x]",
            "{x}",
            "&a",
            "*a",
            "!t",
            "|",
            ">",
            "'q'",
            "\"d\"",
            "@",
            "`",
            "%",
            " lead",
            "trail ",
            "two\nlines",
            "end\n",
            "two\n\nblank\n",
            "tab\tin",
            "2001-12-14",
            "=",
            "<<",
            "((secret))",
            "é ü",
            "\u{2028}",
            "line\r\nfeed",
        ])
        .prop_map(str::to_string),
        "\\PC{0,12}",
        "[a-z0-9 :#\\-\\n.]{0,12}",
    ]
}

fn leaf_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        // Exactly representable floats: serde_json (without float_roundtrip) may be 1 ulp off.
        (-4000i32..4000).prop_map(|n| Value::from(f64::from(n) / 4.0)),
        tricky_string().prop_map(Value::String),
    ]
}

fn value() -> impl Strategy<Value = Value> {
    leaf_value().prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..3).prop_map(Value::Array),
            prop::collection::btree_map(tricky_string(), inner, 0..3)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn properties() -> impl Strategy<Value = Properties> {
    prop::collection::btree_map(tricky_string(), value(), 0..3)
        .prop_map(|m| m.into_iter().collect())
}

fn strings() -> impl Strategy<Value = Vec<String>> {
    prop::collection::vec(tricky_string(), 0..3)
}

fn max_in_flight() -> impl Strategy<Value = MaxInFlight> {
    prop_oneof![
        any::<i64>().prop_map(MaxInFlight::Count),
        (0u32..100).prop_map(|n| MaxInFlight::Percent(format!("{n}%"))),
    ]
}

fn plan_update() -> impl Strategy<Value = Update> {
    (
        any::<i64>(),
        tricky_string(),
        max_in_flight(),
        proptest::option::of(any::<bool>()),
        proptest::option::of("serial|parallel"),
    )
        .prop_map(|(canaries, watch, max_in_flight, serial, strategy)| Update {
            canaries,
            canary_watch_time: watch.clone(),
            update_watch_time: watch,
            max_in_flight,
            serial,
            initial_deploy_az_update_strategy: strategy,
        })
}

fn plan_group() -> impl Strategy<Value = InstanceGroup> {
    (
        tricky_string(),
        strings(),
        any::<i64>(),
        strings(),
        strings(),
        prop::collection::vec(tricky_string(), 0..2),
    )
        .prop_map(|(name, list, instances, networks, azs, migrated)| InstanceGroup {
            name: name.clone(),
            vm_type: name.clone(),
            vm_extensions: list.clone(),
            persistent_disk_type: name.clone(),
            instances,
            networks,
            azs,
            lifecycle: name,
            migrated_from: migrated.into_iter().map(|name| Migration { name }).collect(),
        })
}

fn plan() -> impl Strategy<Value = Plan> {
    (
        properties(),
        prop::collection::vec(plan_group(), 0..3),
        proptest::option::of(plan_update()),
        prop::collection::vec((tricky_string(), strings()), 0..2),
    )
        .prop_map(|(properties, instance_groups, update, errands)| {
            let errands: Vec<Errand> =
                errands.into_iter().map(|(name, instances)| Errand { name, instances }).collect();
            Plan {
                properties,
                lifecycle_errands: LifecycleErrands {
                    post_deploy: errands.clone(),
                    pre_delete: errands,
                },
                instance_groups,
                update,
            }
        })
}

fn bosh_update() -> impl Strategy<Value = bosh::Update> {
    (any::<i64>(), tricky_string(), max_in_flight(), proptest::option::of(any::<bool>())).prop_map(
        |(canaries, text, max_in_flight, serial)| bosh::Update {
            canaries,
            canary_watch_time: text.clone(),
            update_watch_time: text.clone(),
            max_in_flight,
            serial,
            vm_strategy: text.clone(),
            initial_deploy_az_update_strategy: text,
        },
    )
}

fn job() -> impl Strategy<Value = bosh::Job> {
    (tricky_string(), properties(), any::<bool>()).prop_map(|(name, properties, links)| {
        let job = bosh::Job {
            name: name.clone(),
            release: name.clone(),
            properties,
            ..Default::default()
        };
        if links {
            job.add_shared_provides_link(&name)
                .add_consumes_link("db", &name)
                .add_cross_deployment_consumes_link("other", &name, "dep")
                .add_nullified_consumes_link("none")
                .add_custom_provider_definition(&name, "address", vec![name.clone()])
                .add_provides_link_with_aliases(
                    "alias",
                    vec![bosh::Alias { domain: name.clone(), ..Default::default() }],
                )
        } else {
            job
        }
    })
}

fn group() -> impl Strategy<Value = bosh::InstanceGroup> {
    (
        tricky_string(),
        any::<i64>(),
        prop::collection::vec(job(), 0..2),
        strings(),
        properties(),
        proptest::option::of(bosh_update()),
    )
        .prop_map(|(name, instances, jobs, list, env, update)| bosh::InstanceGroup {
            name: name.clone(),
            lifecycle: name.clone(),
            instances,
            jobs,
            vm_type: name.clone(),
            vm_extensions: list.clone(),
            stemcell: name.clone(),
            persistent_disk_type: name.clone(),
            azs: list.clone(),
            networks: vec![bosh::Network {
                name: name.clone(),
                static_ips: list.clone(),
                default: list,
            }],
            properties: env.clone(),
            migrated_from: vec![bosh::Migration { name }],
            env,
            update,
        })
}

fn manifest() -> impl Strategy<Value = BoshManifest> {
    (
        tricky_string(),
        prop::collection::vec((tricky_string(), tricky_string()), 0..3),
        prop::collection::vec(group(), 0..3),
        proptest::option::of(bosh_update()),
        properties(),
        proptest::option::of(any::<bool>()),
        prop::collection::vec(job(), 0..2),
    )
        .prop_map(|(name, pairs, instance_groups, update, props, flag, addon_jobs)| {
            BoshManifest {
                addons: vec![bosh::Addon {
                    name: name.clone(),
                    jobs: addon_jobs,
                    include: None,
                    exclude: None,
                }],
                name: name.clone(),
                releases: pairs
                    .iter()
                    .map(|(n, v)| bosh::Release { name: n.clone(), version: v.clone() })
                    .collect(),
                stemcells: pairs
                    .iter()
                    .map(|(n, v)| bosh::Stemcell {
                        alias: n.clone(),
                        os: v.clone(),
                        version: v.clone(),
                        name: n.clone(),
                    })
                    .collect(),
                instance_groups,
                update,
                properties: props.clone(),
                variables: vec![bosh::Variable {
                    name: name.clone(),
                    var_type: "certificate".into(),
                    update_mode: name.clone(),
                    options: props.clone(),
                    consumes: Some(bosh::VariableConsumes {
                        alternative_name: Some(bosh::VariableConsumesLink {
                            from: name,
                            properties: props.clone(),
                        }),
                        common_name: None,
                    }),
                }],
                tags: props.clone(),
                features: bosh::BoshFeatures {
                    use_dns_addresses: flag,
                    randomize_az_placement: flag,
                    use_short_dns_addresses: None,
                    extra: props
                        .into_iter()
                        .filter(|(k, _)| {
                            !matches!(
                                k.as_str(),
                                "use_dns_addresses"
                                    | "randomize_az_placement"
                                    | "use_short_dns_addresses"
                            )
                        })
                        .collect(),
                },
            }
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn plan_json_round_trip(plan in plan()) {
        let text = serde_json::to_string(&plan).unwrap();
        let back: Plan = serde_json::from_str(&text).unwrap();
        prop_assert_eq!(back, plan);
    }

    #[test]
    fn manifest_yaml_round_trip(manifest in manifest()) {
        let text = manifest.to_yaml().unwrap();
        let back = BoshManifest::from_yaml(&text).unwrap().unwrap();
        prop_assert_eq!(back, manifest, "yaml was:\n{}", text);
    }

    #[test]
    fn string_values_survive_yaml(s in tricky_string()) {
        let mut manifest = BoshManifest::default();
        manifest.tags.insert(s.clone(), Value::String(s.clone()));
        let text = manifest.to_yaml().unwrap();
        let back = BoshManifest::from_yaml(&text).unwrap().unwrap();
        prop_assert_eq!(&back.tags[&s], &Value::String(s.clone()), "yaml was:\n{}", text);
    }
}

#[test]
fn ambiguous_strings_are_quoted_in_manifest_yaml() {
    let mut manifest = BoshManifest::default();
    manifest.tags.insert("persistence".into(), Value::String("yes".into()));
    manifest.stemcells.push(bosh::Stemcell {
        alias: "a".into(),
        os: "on".into(),
        version: "1.404".into(),
        name: String::new(),
    });
    let text = manifest.to_yaml().unwrap();
    assert!(text.contains("persistence: \"yes\"\n"), "{text}");
    assert!(text.contains("version: \"1.404\"\n"), "{text}");
    assert!(text.contains("os: \"on\"\n"), "{text}");
}

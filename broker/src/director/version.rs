//! Start-up checks of the director's version against the features the catalog uses, as the
//! Go broker makes them: lifecycle errands need BOSH v261+, `binding_with_dns` needs
//! v266.12+ (v267.6+ on the 267 line), and old stemcell-style versions (`1.3262.0.0`) need
//! at least 3262 (BOSH v257).

use crate::config::Config;

/// A director version as `/info` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Version {
    /// `270.11.0`-style.
    Semver { major: u64, minor: u64 },
    /// `1.3262.0.0`-style, from before BOSH used semantic versions.
    Stemcell { major: u64 },
}

fn parse(raw: &str) -> Option<Version> {
    let core = raw.split_whitespace().next()?;
    let parts: Vec<u64> = core
        .split('.')
        .map(|p| p.parse().ok())
        .collect::<Option<_>>()?;
    match parts.len() {
        2 | 3 => Some(Version::Semver {
            major: parts[0],
            minor: parts[1],
        }),
        4 => Some(Version::Stemcell { major: parts[1] }),
        _ => None,
    }
}

/// Every problem with running this catalog on a director of version `raw`.
pub fn check(raw: &str, config: &Config) -> Vec<String> {
    let Some(version) = parse(raw) else {
        return vec![format!(
            "BOSH Director error: unrecognised BOSH Director version: \"{raw}\". The broker requires BOSH v257+."
        )];
    };
    let mut problems = Vec::new();
    if let Version::Stemcell { major } = version {
        if major < 3262 {
            problems.push(
                "BOSH Director error: API version is insufficient, the broker requires BOSH v257+."
                    .to_string(),
            );
        }
    }
    let uses_dns = config
        .catalog
        .plans
        .iter()
        .any(|p| !p.binding_with_dns.is_empty());
    let dns_ok = match version {
        Version::Semver { major, minor } => match major {
            267 => minor >= 6,
            266 => minor >= 12,
            m => m > 267,
        },
        Version::Stemcell { .. } => false,
    };
    if uses_dns && !dns_ok {
        problems.push(format!(
            "BOSH Director error: API version for 'binding_with_dns' feature is insufficient. This feature requires BOSH v266.12+ / v267.6+ (got v{})",
            raw.split_whitespace().next().unwrap_or(raw)
        ));
    }
    let uses_errands = config.catalog.plans.iter().any(|p| {
        p.lifecycle_errands
            .as_ref()
            .is_some_and(|e| !e.post_deploy.is_empty() || !e.pre_delete.is_empty())
    });
    let errands_ok = matches!(version, Version::Semver { major, .. } if major >= 261);
    if uses_errands && !errands_ok {
        problems.push(
            "BOSH Director error: API version is insufficient, one or more plans are configured with lifecycle_errands which require BOSH v261+."
                .to_string(),
        );
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{BindingDnsConfig, EnvOverrides};
    use service_adapter::{Errand, LifecycleErrands};

    fn config(dns: bool, errands: bool) -> Config {
        let mut c = crate::config::load(None, &EnvOverrides::default())
            .unwrap()
            .config;
        let plan = &mut c.catalog.plans[0];
        if dns {
            plan.binding_with_dns = vec![BindingDnsConfig {
                name: "redis-address".into(),
                link_provider: "redis".into(),
                instance_group: "redis-server".into(),
                properties: None,
            }];
        }
        if errands {
            plan.lifecycle_errands = Some(LifecycleErrands {
                post_deploy: vec![Errand {
                    name: "smoke".into(),
                    instances: vec![],
                }],
                pre_delete: vec![],
            });
        }
        c
    }

    #[test]
    fn modern_directors_pass_everything() {
        assert!(check("280.0.14 (00000000)", &config(true, true)).is_empty());
        assert!(check("267.6.0", &config(true, true)).is_empty());
        assert!(check("266.12.0", &config(true, true)).is_empty());
    }

    #[test]
    fn features_name_the_version_they_need() {
        let p = check("266.11.0 (abc)", &config(true, false));
        assert_eq!(p.len(), 1);
        assert!(
            p[0].contains("binding_with_dns") && p[0].contains("got v266.11.0"),
            "{p:?}"
        );
        let p = check("267.5.0", &config(true, false));
        assert_eq!(p.len(), 1, "{p:?}");
        let p = check("260.0.0", &config(false, true));
        assert!(p[0].contains("lifecycle_errands"), "{p:?}");
        assert!(
            check("260.0.0", &config(false, false)).is_empty(),
            "no feature, no requirement"
        );
    }

    #[test]
    fn old_and_unreadable_versions() {
        assert!(check("1.3262.0.0 (00000000)", &config(false, false)).is_empty());
        let p = check("1.3100.0.0", &config(false, true));
        assert_eq!(p.len(), 2, "{p:?}");
        assert!(check("banana", &config(false, false))[0].contains("unrecognised"));
    }
}

//! Start-up checks of the director's version against the features the catalog uses, as the
//! Go broker makes them: lifecycle errands need BOSH v261+, `binding_with_dns` needs
//! v266.12+ (v267.6+ on the 267 line), and old stemcell-style versions (`1.3262.0.0`) need
//! at least 3262 (BOSH v257).
//!
//! `/info` reports the version as its first whitespace-separated word, followed by a build
//! (`270.2.0 (00000000)`). A word of two or three dot-separated parts (`260.4`, `270.2.0`) is
//! a semantic version; one of four parts (`1.3262.0.0`) is a stemcell-style version whose
//! last three parts are read as the semantic version. Both are read with the `semver` crate
//! after the same normalisation the Go broker's tolerant semver parser applies: a leading
//! `v` is dropped, leading zeros are dropped from major, minor and patch, and a missing patch
//! is 0. What remains must be a strict semantic version, so a sign or a letter in major or
//! minor (`+270.2.0`, `270.x.0`) and empty parts (`270..0`) are refused.

use crate::config::Config;

/// Which of the director's two version schemes `/info` used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scheme {
    /// `270.11.0`-style (or `260.4`).
    Semver,
    /// `1.3262.0.0`-style, from before BOSH used semantic versions.
    Stemcell,
}

/// A director version as `/info` reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct DirectorVersion {
    scheme: Scheme,
    /// For [`Scheme::Stemcell`], the last three parts (`3262.0.0`).
    version: semver::Version,
}

/// Why a director version cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
enum VersionError {
    /// The version is in neither of the director's schemes.
    #[error("unrecognised BOSH Director version: \"{0}\"")]
    Unrecognised(String),
}

impl DirectorVersion {
    /// Reads the version `/info` reported.
    fn parse(raw: &str) -> Result<Self, VersionError> {
        let unrecognised = || VersionError::Unrecognised(raw.to_string());
        let word = raw.split_whitespace().next().ok_or_else(unrecognised)?;
        let parts: Vec<&str> = word.split('.').collect();
        let (scheme, parts) = match parts.len() {
            2 | 3 => (Scheme::Semver, &parts[..]),
            // The first part (always `1`) carries no information; the Go broker ignores it.
            4 => (Scheme::Stemcell, &parts[1..]),
            _ => return Err(unrecognised()),
        };
        let version = tolerant_semver(&parts.join(".")).ok_or_else(unrecognised)?;
        Ok(Self { scheme, version })
    }

    fn is_semver(&self) -> bool {
        self.scheme == Scheme::Semver
    }
}

/// `text` as a semantic version, after the normalisation of the Go broker's tolerant parser
/// (blang/semver `ParseTolerant`): without a leading `v`, without leading zeros in major,
/// minor and patch, and with a missing minor or patch read as 0. A short version may not
/// carry a pre-release or build suffix.
fn tolerant_semver(text: &str) -> Option<semver::Version> {
    let text = text.strip_prefix('v').unwrap_or(text);
    let mut parts: Vec<String> = text.splitn(3, '.').map(without_leading_zeros).collect();
    if parts.len() < 3 {
        if parts.last()?.contains(['+', '-']) {
            return None;
        }
        parts.resize(3, "0".to_string());
    }
    semver::Version::parse(&parts.join(".")).ok()
}

/// `part` without leading zeros, keeping one zero if nothing numeric would be left
/// (`007` → `7`, `000` → `0`, `00-rc1` → `0-rc1`).
fn without_leading_zeros(part: &str) -> String {
    if part.len() <= 1 {
        return part.to_string();
    }
    let trimmed = part.trim_start_matches('0');
    if trimmed.starts_with(|c: char| c.is_ascii_digit()) {
        trimmed.to_string()
    } else {
        format!("0{trimmed}")
    }
}

/// Every problem with running this catalog on a director of version `raw`.
pub fn check(raw: &str, config: &Config) -> Vec<String> {
    let version = match DirectorVersion::parse(raw) {
        Ok(version) => version,
        Err(e) => {
            return vec![format!("BOSH Director error: {e}. The broker requires BOSH v257+.")]
        }
    };
    let semver::Version { major, minor, .. } = version.version;
    let mut problems = Vec::new();
    if !version.is_semver() && major < 3262 {
        problems.push(
            "BOSH Director error: API version is insufficient, the broker requires BOSH v257+."
                .to_string(),
        );
    }
    let uses_dns = config.catalog.plans.iter().any(|p| !p.binding_with_dns.is_empty());
    // Compared on major and minor only, as the Go broker does: a pre-release of 266.12 counts.
    let dns_ok = version.is_semver()
        && match major {
            267 => minor >= 6,
            266 => minor >= 12,
            m => m > 267,
        };
    if uses_dns && !dns_ok {
        problems.push(format!(
            "BOSH Director error: API version for 'binding_with_dns' feature is insufficient. This feature requires BOSH v266.12+ / v267.6+ (got v{})",
            version.version
        ));
    }
    let uses_errands = config.catalog.plans.iter().any(|p| {
        p.lifecycle_errands
            .as_ref()
            .is_some_and(|e| !e.post_deploy.is_empty() || !e.pre_delete.is_empty())
    });
    if uses_errands && !(version.is_semver() && major >= 261) {
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
        let mut c = crate::config::load(None, &EnvOverrides::default()).unwrap().config;
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
                post_deploy: vec![Errand { name: "smoke".into(), instances: vec![] }],
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
        assert!(p[0].contains("binding_with_dns") && p[0].contains("got v266.11.0"), "{p:?}");
        let p = check("267.5.0", &config(true, false));
        assert_eq!(p.len(), 1, "{p:?}");
        let p = check("260.0.0", &config(false, true));
        assert!(p[0].contains("lifecycle_errands"), "{p:?}");
        assert!(check("260.0.0", &config(false, false)).is_empty(), "no feature, no requirement");
    }

    #[test]
    fn old_and_unreadable_versions() {
        assert!(check("1.3262.0.0 (00000000)", &config(false, false)).is_empty());
        let p = check("1.3100.0.0", &config(false, true));
        assert_eq!(p.len(), 2, "{p:?}");
        assert!(check("banana", &config(false, false))[0].contains("unrecognised"));
    }

    fn parsed(raw: &str) -> Option<(Scheme, String)> {
        DirectorVersion::parse(raw).ok().map(|v| (v.scheme, v.version.to_string()))
    }

    fn semver(version: &str) -> Option<(Scheme, String)> {
        Some((Scheme::Semver, version.to_string()))
    }

    fn stemcell(version: &str) -> Option<(Scheme, String)> {
        Some((Scheme::Stemcell, version.to_string()))
    }

    #[test]
    fn reads_the_formats_directors_report() {
        assert_eq!(parsed("270.2.0 (00000000)"), semver("270.2.0"));
        assert_eq!(parsed("280.0.14 (abcdef12)"), semver("280.0.14"));
        assert_eq!(parsed("262.3.0"), semver("262.3.0"));
        // Two parts, as BOSH 260.x reported: the patch is 0.
        assert_eq!(parsed("260.4 (00000000)"), semver("260.4.0"));
        // The Go broker's tolerant parser also takes a leading `v` and a pre-release or
        // build suffix on the patch.
        assert_eq!(parsed("v270.2.0"), semver("270.2.0"));
        assert_eq!(parsed("271.0.0-rc1 (x)"), semver("271.0.0-rc1"));
        assert_eq!(parsed("271.0.0+dev"), semver("271.0.0+dev"));
        assert_eq!(parsed("1.3262.0.0 (00000000)"), stemcell("3262.0.0"));
        assert_eq!(parsed("1.3100.0.0"), stemcell("3100.0.0"));
    }

    #[test]
    fn leading_zeros_are_dropped_as_the_go_broker_drops_them() {
        // blang/semver's ParseTolerant, which the Go broker uses, strips leading zeros
        // before its strict parse; a director reporting them is not refused.
        assert_eq!(parsed("0266.012.00"), semver("266.12.0"));
        assert_eq!(parsed("01.2.3"), semver("1.2.3"));
        assert_eq!(parsed("1.03262.0.0"), stemcell("3262.0.0"));
        assert!(check("0266.012.0", &config(true, false)).is_empty());
        // A numeric pre-release keeps the strict rule.
        assert_eq!(parsed("270.2.0-01"), None);
    }

    #[test]
    fn refuses_what_is_not_a_version() {
        for raw in [
            "",
            "   ",
            "banana",
            "drone.ver",
            // One part: the Go broker's "all zeros" case, and a bare major.
            "0000 (00000000)",
            "v257",
            "270",
            // Five parts.
            "1.3262.0.0.1",
            // Signs, which the hand-written u64 parse let through.
            "+270.2.0",
            "270.+2.0",
            "1.+3262.0.0",
            "-1.2.3",
            // Empty or non-numeric parts.
            "270..0",
            "270.2.",
            ".2.0",
            "270.x.0",
            "270.2.0-",
            "270.2.0+",
            // A short version cannot carry a suffix.
            "270.2-rc1",
            // Beyond u64.
            "18446744073709551616.0.0",
        ] {
            assert_eq!(parsed(raw), None, "{raw:?}");
            let p = check(raw, &config(false, false));
            assert_eq!(
                p,
                [format!("BOSH Director error: unrecognised BOSH Director version: \"{raw}\". The broker requires BOSH v257+.")],
                "{raw:?}"
            );
        }
    }

    #[test]
    fn the_gates_sit_where_the_go_broker_puts_them() {
        // binding_with_dns: 266.12+ and, on the 267 line, 267.6+; never a stemcell version.
        for (raw, ok) in [
            ("266.11.9", false),
            ("266.12.0", true),
            ("266.12.0-rc1", true),
            ("267.0.0", false),
            ("267.5.9", false),
            ("267.6.0", true),
            ("268.0.0", true),
            ("265.99.0", false),
            ("1.3262.0.0", false),
            ("1.9999.0.0", false),
        ] {
            let p = check(raw, &config(true, false));
            let dns = p.iter().any(|p| p.contains("binding_with_dns"));
            assert_eq!(dns, !ok, "{raw}: {p:?}");
        }
        // Lifecycle errands: semver major 261+; never a stemcell version.
        for (raw, ok) in [
            ("260.4", false),
            ("260.99.0", false),
            ("261.0.0", true),
            ("v261.0", true),
            ("1.3262.0.0", false),
        ] {
            let p = check(raw, &config(false, true));
            assert_eq!(p.is_empty(), ok, "{raw}: {p:?}");
        }
        // Any semantic version is new enough for the broker itself; a stemcell-style one
        // needs 3262 (BOSH v257).
        assert!(check("1.2.3", &config(false, false)).is_empty());
        assert!(check("1.3262.0.0", &config(false, false)).is_empty());
        assert_eq!(
            check("1.3261.0.0", &config(false, false)),
            ["BOSH Director error: API version is insufficient, the broker requires BOSH v257+."]
        );
        // The binding_with_dns message names the version as read.
        let p = check("260.4 (00000000)", &config(true, false));
        assert!(p[0].ends_with("(got v260.4.0)"), "{p:?}");
    }
}

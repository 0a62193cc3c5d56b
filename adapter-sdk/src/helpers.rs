//! Helpers for building manifests from a plan and the service deployment.

use std::collections::BTreeMap;

use crate::bosh;
use crate::{InstanceGroup, ServiceRelease};

/// Why a helper could not build instance groups.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HelperError {
    /// The plan has no instance groups.
    #[error("no instance groups provided")]
    NoInstanceGroups,
    /// No release lists the job.
    #[error("job '{0}' not provided")]
    JobNotProvided(String),
    /// More than one release lists the job.
    #[error("job '{job}' provided {} times, by {}", releases.len(), releases.join(", "))]
    JobProvidedMoreThanOnce {
        /// The job name.
        job: String,
        /// Names of the releases that list it.
        releases: Vec<String>,
    },
}

/// Finds the one release that provides `job`.
pub fn find_release_for_job<'a>(
    job: &str, releases: &'a [ServiceRelease],
) -> Result<&'a ServiceRelease, HelperError> {
    let providers: Vec<&ServiceRelease> =
        releases.iter().filter(|r| r.jobs.iter().any(|j| j == job)).collect();
    match providers.as_slice() {
        [] => Err(HelperError::JobNotProvided(job.to_string())),
        [one] => Ok(one),
        many => Err(HelperError::JobProvidedMoreThanOnce {
            job: job.to_string(),
            releases: many.iter().map(|r| r.name.clone()).collect(),
        }),
    }
}

/// Builds BOSH instance groups from the plan's groups, with the jobs named in
/// `group_to_jobs` and no properties, env or update block.
///
/// Groups are kept in plan order; a plan group that is not a key of `group_to_jobs` is
/// skipped, so the result may be empty. Fails when the plan has no groups or a job is not
/// provided by exactly one release.
pub fn generate_instance_groups_with_no_properties(
    plan_groups: &[InstanceGroup], releases: &[ServiceRelease], stemcell_alias: &str,
    group_to_jobs: &BTreeMap<String, Vec<String>>,
) -> Result<Vec<bosh::InstanceGroup>, HelperError> {
    if plan_groups.is_empty() {
        return Err(HelperError::NoInstanceGroups);
    }
    let mut groups = Vec::new();
    for group in plan_groups {
        let Some(job_names) = group_to_jobs.get(&group.name) else {
            continue;
        };
        let jobs = job_names
            .iter()
            .map(|job| {
                find_release_for_job(job, releases).map(|release| bosh::Job {
                    name: job.clone(),
                    release: release.name.clone(),
                    ..bosh::Job::default()
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        groups.push(bosh::InstanceGroup {
            name: group.name.clone(),
            instances: group.instances,
            jobs,
            vm_type: group.vm_type.clone(),
            vm_extensions: group.vm_extensions.clone(),
            stemcell: stemcell_alias.to_string(),
            persistent_disk_type: group.persistent_disk_type.clone(),
            azs: group.azs.clone(),
            networks: group
                .networks
                .iter()
                .map(|name| bosh::Network { name: name.clone(), ..bosh::Network::default() })
                .collect(),
            lifecycle: group.lifecycle.clone(),
            migrated_from: group
                .migrated_from
                .iter()
                .map(|m| bosh::Migration { name: m.name.clone() })
                .collect(),
            ..bosh::InstanceGroup::default()
        });
    }
    Ok(groups)
}

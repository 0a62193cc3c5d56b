//! The simulated director: the embedded default for running the broker without BOSH.
//!
//! It keeps deployments and tasks in the broker's store (`store::simulated`), so it survives
//! a restart just as a real director would. Each task is `queued` for the first quarter of
//! the configured duration, `processing` for the rest, then finishes. VMs are derived from
//! the manifest's instance groups with deterministic addresses.
//!
//! Tests can make tasks fail through the deployed manifest's top-level `properties`:
//! `simulate_task_failure: deploy | delete | errand | all` fails those tasks (a recreate
//! counts as a deploy, and `recreate` fails recreates only), and
//! `simulate_errand_failure: <errand name>` fails one errand.

use super::{Director, DirectorError, DirectorInfo, Task, TaskId, TaskState, Vms};
use crate::config::BindingDnsConfig;
use crate::store::{NewSimTask, SimTaskFilter, SimTaskOutcome, SimTaskRecord, Store, StoreError};
use async_trait::async_trait;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// BOSH configs by name (deployment), then type → content.
type ConfigsByName = BTreeMap<String, BTreeMap<String, String>>;

/// The simulated director.
#[derive(Debug, Clone)]
pub struct SimulatedDirector {
    store: Store,
    task_duration: Duration,
    /// BOSH configs, kept in memory only: nothing reads them back but tests and the adapter's
    /// `previous_configs`, which the broker keeps in its own store.
    configs: Arc<Mutex<ConfigsByName>>,
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis() as i64
}

/// What a manifest asks the simulated director to fail.
fn failure_for(manifest: &str, kind: &str, errand: Option<&str>) -> bool {
    let Ok(doc) = serde_yaml::from_str::<serde_yaml::Value>(manifest) else {
        return false;
    };
    let props = &doc["properties"];
    let task = props["simulate_task_failure"].as_str().unwrap_or("");
    if task == kind || task == "all" {
        return true;
    }
    matches!((errand, props["simulate_errand_failure"].as_str()), (Some(e), Some(f)) if e == f)
}

/// Deterministic VM addresses for the instance groups of a manifest.
pub fn vms_from_manifest(deployment: &str, manifest: &str) -> Vms {
    let mut vms = Vms::new();
    let Ok(doc) = serde_yaml::from_str::<serde_yaml::Value>(manifest) else {
        return vms;
    };
    let hash = deployment.bytes().fold(2166136261u32, |h, b| (h ^ b as u32).wrapping_mul(16777619));
    let second = 1 + (hash % 250);
    let groups = doc["instance_groups"].as_sequence().cloned().unwrap_or_default();
    for (gi, group) in groups.iter().enumerate() {
        if group["lifecycle"].as_str() == Some("errand") {
            continue;
        }
        let Some(name) = group["name"].as_str() else {
            continue;
        };
        let count = group["instances"].as_u64().unwrap_or(0);
        let ips = (0..count).map(|i| format!("10.{second}.{}.{}", gi % 256, 10 + i)).collect();
        vms.insert(name.to_string(), ips);
    }
    vms
}

impl SimulatedDirector {
    /// A simulated director keeping its state in `store`.
    pub fn new(store: Store, task_duration: Duration) -> Self {
        Self { store, task_duration, configs: Default::default() }
    }

    /// The BOSH configs currently applied for `deployment` (type → content).
    pub fn configs(&self, deployment: &str) -> BTreeMap<String, String> {
        self.configs.lock().expect("configs").get(deployment).cloned().unwrap_or_default()
    }

    async fn create_task(
        &self, deployment: &str, description: &str, context_id: &str, fails: bool, result: &str,
    ) -> Result<TaskId, DirectorError> {
        let task = NewSimTask {
            deployment: deployment.to_string(),
            description: description.to_string(),
            context_id: context_id.to_string(),
            started_ms: now_ms(),
            duration_ms: i64::try_from(self.task_duration.as_millis()).unwrap_or(i64::MAX),
            outcome: if fails { SimTaskOutcome::Error } else { SimTaskOutcome::Done },
            result: result.to_string(),
        };
        Ok(self.store.run(move |s| s.sim_record_task(&task)).await?)
    }

    async fn stored_manifest(&self, deployment: &str) -> Result<Option<String>, StoreError> {
        let deployment = deployment.to_string();
        self.store.run(move |s| s.sim_manifest(&deployment)).await
    }

    async fn query_tasks(&self, filter: SimTaskFilter) -> Result<Vec<Task>, DirectorError> {
        let records = self.store.run(move |s| s.sim_tasks_where(&filter)).await?;
        let now = now_ms();
        Ok(records.into_iter().map(|r| task_at(r, now)).collect())
    }
}

/// The BOSH DNS query addresses of the `dns` entries of `deployment`, as the simulated
/// director gives them: `q-s0` (all instances, any health) on the network `default`.
pub fn dns_query_addresses(deployment: &str, dns: &[BindingDnsConfig]) -> BTreeMap<String, String> {
    dns.iter()
        .map(|d| {
            (
                d.name.clone(),
                format!("q-s0.{}.default.{}.bosh", d.instance_group, deployment.replace('_', "-")),
            )
        })
        .collect()
}

/// A recorded task as the director reports it at `now` (Unix milliseconds): `queued` for
/// the first quarter of its duration, `processing` for the rest, then its outcome.
fn task_at(SimTaskRecord { id, task: record }: SimTaskRecord, now: i64) -> Task {
    let elapsed = now - record.started_ms;
    let state = if elapsed < record.duration_ms / 4 {
        TaskState::Queued
    } else if elapsed < record.duration_ms {
        TaskState::Processing
    } else {
        match record.outcome {
            SimTaskOutcome::Done => TaskState::Done,
            SimTaskOutcome::Error => TaskState::Error,
        }
    };
    Task {
        id,
        deployment: record.deployment,
        description: record.description,
        context_id: record.context_id,
        state,
        result: if state == TaskState::Error { record.result } else { String::new() },
    }
}

#[async_trait]
impl Director for SimulatedDirector {
    async fn info(&self) -> Result<DirectorInfo, DirectorError> {
        Ok(DirectorInfo {
            name: "simulated-director".to_string(),
            version: "280.0.0 (simulated)".to_string(),
        })
    }

    async fn deploy(&self, manifest: &str, context_id: &str) -> Result<TaskId, DirectorError> {
        let doc: serde_yaml::Value = serde_yaml::from_str(manifest).map_err(|e| {
            DirectorError::InvalidManifest(format!("manifest is not valid YAML: {e}"))
        })?;
        let Some(name) = doc["name"].as_str().map(str::to_string) else {
            return Err(DirectorError::InvalidManifest("manifest has no name".to_string()));
        };
        // As on a director with a config server: generate the manifest's variables and check
        // that every reference resolves before anything is deployed.
        let (n, d) = (name.clone(), doc.clone());
        let materialised = self
            .store
            .run(move |s| match super::variables::materialise(s, &n, &d) {
                Ok(used) => Ok(Ok(used)),
                Err(super::variables::VariableError::Store(e)) => Err(e),
                Err(other) => Ok(Err(other.to_string())),
            })
            .await?;
        let used = match materialised {
            Ok(used) => used,
            Err(message) => {
                return self
                    .create_task(&name, "create deployment", context_id, true, &message)
                    .await
            }
        };
        let fails = failure_for(manifest, "deploy", None);
        let (n, m) = (name.clone(), manifest.to_string());
        self.store
            .run(move |s| {
                s.sim_put_deployment(&n, &m)?;
                s.deployment_variables_set(&n, &used)
            })
            .await?;
        self.create_task(&name, "create deployment", context_id, fails, "simulated deploy failure")
            .await
    }

    async fn task(&self, id: TaskId) -> Result<Task, DirectorError> {
        let record = self.store.run(move |s| s.sim_task(id)).await?;
        record.map(|r| task_at(r, now_ms())).ok_or(DirectorError::TaskNotFound(id))
    }

    async fn tasks_by_context(&self, context_id: &str) -> Result<Vec<Task>, DirectorError> {
        self.query_tasks(SimTaskFilter::Context(context_id.to_string())).await
    }

    async fn tasks_in_progress(&self, deployment: &str) -> Result<Vec<Task>, DirectorError> {
        let tasks = self.query_tasks(SimTaskFilter::Deployment(deployment.to_string())).await?;
        Ok(tasks.into_iter().filter(|t| t.state.is_running()).collect())
    }

    async fn manifest(&self, deployment: &str) -> Result<Option<String>, DirectorError> {
        Ok(self.stored_manifest(deployment).await?)
    }

    async fn vms(&self, deployment: &str) -> Result<Vms, DirectorError> {
        let manifest = self
            .stored_manifest(deployment)
            .await?
            .ok_or_else(|| DirectorError::DeploymentNotFound(deployment.to_string()))?;
        Ok(vms_from_manifest(deployment, &manifest))
    }

    async fn delete_deployment(
        &self, deployment: &str, _force: bool, context_id: &str,
    ) -> Result<TaskId, DirectorError> {
        let manifest = self.stored_manifest(deployment).await?.unwrap_or_default();
        let fails = failure_for(&manifest, "delete", None);
        if !fails {
            let d = deployment.to_string();
            self.store
                .run(move |s| {
                    s.sim_delete_deployment(&d)?;
                    s.deployment_variables_forget(&d)?;
                    s.config_values_delete_under(&super::variables::deployment_prefix(&d))?;
                    Ok(())
                })
                .await?;
        }
        self.create_task(
            deployment,
            "delete deployment",
            context_id,
            fails,
            "simulated delete failure",
        )
        .await
    }

    async fn run_errand(
        &self, deployment: &str, errand: &str, _instances: &[String], context_id: &str,
    ) -> Result<TaskId, DirectorError> {
        let manifest = self
            .stored_manifest(deployment)
            .await?
            .ok_or_else(|| DirectorError::DeploymentNotFound(deployment.to_string()))?;
        let fails = failure_for(&manifest, "errand", Some(errand));
        self.create_task(
            deployment,
            &format!("run errand {errand}"),
            context_id,
            fails,
            &format!("errand {errand} exited with code 1 (simulated)"),
        )
        .await
    }

    async fn deployments(&self) -> Result<Vec<String>, DirectorError> {
        Ok(self.store.run(|s| s.sim_deployment_names()).await?)
    }

    async fn update_configs(
        &self, deployment: &str, configs: &BTreeMap<String, String>,
    ) -> Result<(), DirectorError> {
        let mut all = self.configs.lock().expect("configs");
        let entry = all.entry(deployment.to_string()).or_default();
        for (kind, content) in configs {
            entry.insert(kind.clone(), content.clone());
        }
        Ok(())
    }

    async fn delete_configs(&self, deployment: &str) -> Result<(), DirectorError> {
        self.configs.lock().expect("configs").remove(deployment);
        Ok(())
    }

    async fn dns_addresses(
        &self, deployment: &str, dns: &[BindingDnsConfig],
    ) -> Result<BTreeMap<String, String>, DirectorError> {
        if !dns.is_empty() && self.stored_manifest(deployment).await?.is_none() {
            return Err(DirectorError::DeploymentNotFound(deployment.to_string()));
        }
        Ok(dns_query_addresses(deployment, dns))
    }

    /// The simulated director has no config server of its own yet: its deployments list no
    /// variables, and secure-manifest secrets are read from the broker's store by name.
    async fn variables(
        &self, deployment: &str,
    ) -> Result<Vec<super::DeploymentVariable>, DirectorError> {
        let d = deployment.to_string();
        let used = self.store.run(move |s| s.deployment_variables(&d)).await?;
        Ok(used.into_iter().map(|(name, id)| super::DeploymentVariable { id, name }).collect())
    }

    async fn recreate(&self, deployment: &str, context_id: &str) -> Result<TaskId, DirectorError> {
        let manifest = self
            .stored_manifest(deployment)
            .await?
            .ok_or_else(|| DirectorError::DeploymentNotFound(deployment.to_string()))?;
        let fails =
            failure_for(&manifest, "deploy", None) || failure_for(&manifest, "recreate", None);
        self.create_task(
            deployment,
            "recreate deployment",
            context_id,
            fails,
            "simulated recreate failure",
        )
        .await
    }
}

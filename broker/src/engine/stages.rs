//! The stages of an operation: the first one (generate the manifest and deploy, recreate,
//! or start the delete), then polling the director task, lifecycle errands, and the terminal
//! states. Each stage is recorded before and after its side effect, so recovery re-runs it.

use super::texts::texts;
use super::{manifest_secrets, plans, secrets, Engine, EngineError};
use crate::adapter::GenerateManifestRequest;
use crate::director::TaskState;
use crate::ids::PlanId;
use crate::journal::{self, Step};
use crate::store::{
    InstanceRecord, InstanceState, OperationKind, OperationRecord, OperationState, Stage,
};
use serde_json::Value;

impl Engine {
    /// A director task the operation started: recorded in the journal, then returned.
    async fn submitted(
        &self, task: Result<crate::director::TaskId, crate::director::DirectorError>, what: String,
    ) -> Result<crate::director::TaskId, EngineError> {
        let task = task?;
        journal::record(Step::Task { task, what, state: "submitted".to_string() }).await;
        Ok(task)
    }

    /// Records a submitted deploy or recreate task on the operation (not saved).
    async fn deploying(
        &self, op: &mut OperationRecord,
        submitted: Result<crate::director::TaskId, crate::director::DirectorError>,
        what: &'static str,
    ) -> Result<(), EngineError> {
        let task = self.submitted(submitted, what.to_string()).await?;
        tracing::info!(operation = %op.id, instance = %op.instance_id, task, "{what} submitted to the director");
        op.task_id = Some(task);
        op.stage = Stage::Deploying;
        Ok(())
    }

    /// Starts errand `index` of `errands` and records its task on the operation (not saved).
    async fn start_errand(
        &self, op: &mut OperationRecord, deployment: &str, errands: &[(String, Vec<String>)],
        index: usize,
    ) -> Result<(), EngineError> {
        let (name, instances) = &errands[index];
        self.confirm_lease(op).await?;
        let task = self
            .submitted(
                self.director.run_errand(deployment, name, instances, &op.id).await,
                format!("errand {name}"),
            )
            .await?;
        op.task_id = Some(task);
        op.stage = Stage::Errand;
        op.errand_index = index as i64;
        Ok(())
    }

    /// Starts the delete of the deployment and records its task on the operation (not saved).
    async fn start_deployment_delete(
        &self, op: &mut OperationRecord, deployment: &str, force: bool,
    ) -> Result<(), EngineError> {
        self.confirm_lease(op).await?;
        let task = self
            .submitted(
                self.director.delete_deployment(deployment, force, &op.id).await,
                "delete".to_string(),
            )
            .await?;
        op.task_id = Some(task);
        op.stage = Stage::Deleting;
        Ok(())
    }

    /// Runs the first stage: generate the manifest and deploy it, or start the delete.
    pub(super) async fn start(
        &self, mut op: OperationRecord,
    ) -> Result<OperationRecord, EngineError> {
        let instance = self.instance(&op.instance_id).await?;
        // After a crash the task may have been submitted without being recorded.
        if let Some(task) = self.director.tasks_by_context(&op.id).await?.into_iter().next() {
            tracing::info!(operation = %op.id, task = task.id, "found the operation's director task after a restart");
            op.task_id = Some(task.id);
            op.stage = if op.kind == OperationKind::Delete && task.description.starts_with("delete")
            {
                Stage::Deleting
            } else if task.description.starts_with("run errand") {
                Stage::Errand
            } else {
                Stage::Deploying
            };
            self.save_op(&op).await?;
            return Ok(op);
        }
        match op.kind {
            OperationKind::Delete => self.start_delete(op, instance).await,
            OperationKind::Recreate => self.start_recreate(op, instance).await,
            _ => self.start_deploy(op, instance).await,
        }
    }

    async fn start_deploy(
        &self, mut op: OperationRecord, mut instance: InstanceRecord,
    ) -> Result<OperationRecord, EngineError> {
        let req = op.request.clone();
        let deployment = instance.deployment_name.clone();
        let plan_id = plan_or_instance_plan(req.plan_id.as_ref(), &instance);
        let plan_cfg = self
            .config
            .plan(&plan_id)
            .ok_or_else(|| EngineError::PlanNotFound(plan_id.to_string()))?;
        let plan = plans::adapter_plan(&self.config, plan_cfg);
        self.ensure_no_task_in_progress(&deployment).await?;
        let is_create = op.kind == OperationKind::Create;
        let (previous_manifest, previous_plan, previous_secrets, previous_configs) = if is_create {
            (None, None, None, None)
        } else {
            let manifest = self
                .director
                .manifest(&deployment)
                .await?
                .ok_or_else(|| EngineError::DeploymentNotFound(deployment.clone()))?;
            let prev_id = plan_or_instance_plan(req.previous_plan_id.as_ref(), &instance);
            let prev_plan =
                self.config.plan(&prev_id).map(|p| plans::adapter_plan(&self.config, p));
            // Without secure manifests the adapter gets no secrets ("null"), as from the
            // Go broker.
            let secrets = self.deployed_secrets(&manifest, &deployment).await?;
            // An instance deployed before configs were recorded had none.
            let configs = Some(instance.configs.clone().unwrap_or_default());
            (Some(manifest), prev_plan.or(Some(plan.clone())), secrets, configs)
        };
        if op.kind == OperationKind::Update && !self.config.broker.skip_check_for_pending_changes {
            if let Some(deployed) = &previous_manifest {
                self.check_no_pending_changes(
                    &instance,
                    deployed,
                    previous_secrets.clone(),
                    previous_configs.clone(),
                )
                .await?;
            }
        }
        let request = GenerateManifestRequest {
            service_deployment: plans::service_deployment(&self.config, &deployment),
            plan: plan.clone(),
            previous_plan,
            previous_manifest,
            // Every deploy records its adapter parameters; only a delete has none.
            request_params: req.request_params.clone().unwrap_or(Value::Null),
            previous_secrets,
            previous_configs,
        };
        let generated = self.adapter.generate_manifest(&request).await?;
        let manifest = secrets::check_manifest(&generated.manifest, &deployment)?;
        let (manifest, odb_secrets) = secrets::deployable(
            &manifest,
            generated.secrets.as_ref(),
            &self.config.catalog.id,
            &deployment,
            self.config.broker.enable_secure_manifests,
        );
        let configs = generated.configs.clone().unwrap_or_default();
        if self.config.broker.disable_bosh_configs && !configs.is_empty() {
            return Err(EngineError::InvalidManifest(
                "the adapter returned BOSH configs, but broker.disable_bosh_configs is set"
                    .to_string(),
            ));
        }
        let dashboard_url = self.adapter.dashboard_url(&instance.id, &plan, &manifest).await?;

        if self.config.broker.enable_secure_manifests {
            // Before the deploy: the director resolves the rewritten placeholders on deploy.
            let values = odb_secret_values(generated.secrets.as_ref(), &odb_secrets, |key| {
                secrets::secret_path(&self.config.catalog.id, &deployment, key)
            });
            manifest_secrets::write(self.config_server.as_ref(), &values).await?;
        }
        // Configs first: the manifest may refer to what they define (Go broker order).
        if !self.config.broker.disable_bosh_configs && !configs.is_empty() {
            self.director.update_configs(&deployment, &configs).await?;
        }
        self.confirm_lease(&op).await?;
        let submitted = self.director.deploy(&manifest, &op.id).await;
        self.deploying(&mut op, submitted, "deploy").await?;
        if dashboard_url.is_some() {
            instance.dashboard_url = dashboard_url;
        }
        instance.labels = generated.labels.clone().filter(|l| !l.is_empty());
        instance.configs = Some(configs);
        self.save_op_and_instance(&op, &instance).await?;
        Ok(op)
    }

    /// Refuses to act on a deployment the director is already working on (an operator's
    /// `bosh deploy`, or a task of an operation the broker has lost track of).
    async fn ensure_no_task_in_progress(&self, deployment: &str) -> Result<(), EngineError> {
        if self.director.tasks_in_progress(deployment).await?.is_empty() {
            Ok(())
        } else {
            Err(EngineError::TaskInProgress(deployment.to_string()))
        }
    }

    /// The instance's deployment, once no director task runs on it, and whether the director
    /// has it.
    async fn idle_deployment(
        &self, instance: &InstanceRecord,
    ) -> Result<(String, bool), EngineError> {
        let deployment = instance.deployment_name.clone();
        self.ensure_no_task_in_progress(&deployment).await?;
        let deployed = self.director.manifest(&deployment).await?.is_some();
        Ok((deployment, deployed))
    }

    /// Recreates every VM of the deployment as it is (no new manifest); post-deploy errands
    /// follow as after a deploy.
    async fn start_recreate(
        &self, mut op: OperationRecord, instance: InstanceRecord,
    ) -> Result<OperationRecord, EngineError> {
        let (deployment, deployed) = self.idle_deployment(&instance).await?;
        if !deployed {
            return Err(EngineError::DeploymentNotFound(deployment));
        }
        self.confirm_lease(&op).await?;
        let submitted = self.director.recreate(&deployment, &op.id).await;
        self.deploying(&mut op, submitted, "recreate").await?;
        self.save_op(&op).await?;
        Ok(op)
    }

    /// Before an update: regenerates the manifest for the instance as it is (its current
    /// plan, no new parameters) and refuses the update if that differs from what is deployed
    /// (update blocks aside): the broker or its adapter changed since the last deploy, and an
    /// update would silently ship those changes too.
    async fn check_no_pending_changes(
        &self, instance: &InstanceRecord, deployed: &str,
        previous_secrets: Option<std::collections::BTreeMap<String, String>>,
        previous_configs: Option<std::collections::BTreeMap<String, String>>,
    ) -> Result<(), EngineError> {
        let Some(current) = self.config.plan(&instance.plan_id) else {
            return Ok(());
        };
        let plan = plans::adapter_plan(&self.config, current);
        let request = GenerateManifestRequest {
            service_deployment: plans::service_deployment(&self.config, &instance.deployment_name),
            plan: plan.clone(),
            previous_plan: Some(plan),
            previous_manifest: Some(deployed.to_string()),
            request_params: Value::Object(Default::default()),
            previous_secrets,
            previous_configs,
        };
        let regenerated = self.adapter.generate_manifest(&request).await?;
        let (regenerated, _) = secrets::deployable(
            &regenerated.manifest,
            regenerated.secrets.as_ref(),
            &self.config.catalog.id,
            &instance.deployment_name,
            self.config.broker.enable_secure_manifests,
        );
        if secrets::same_ignoring_update_blocks(deployed, &regenerated) {
            Ok(())
        } else {
            tracing::warn!(instance = %instance.id, "pending changes: the regenerated manifest differs from the deployed one");
            Err(EngineError::PendingChanges)
        }
    }

    async fn start_delete(
        &self, mut op: OperationRecord, instance: InstanceRecord,
    ) -> Result<OperationRecord, EngineError> {
        let (deployment, deployed) = self.idle_deployment(&instance).await?;
        if !deployed {
            // Nothing was ever deployed (or it is already gone): the delete is complete.
            return self.succeed(op).await;
        }
        let errands = self.errands(&op, &instance);
        if errands.is_empty() {
            let force = op.request.force;
            self.start_deployment_delete(&mut op, &deployment, force).await?;
        } else {
            self.start_errand(&mut op, &deployment, &errands, 0).await?;
        }
        self.save_op(&op).await?;
        Ok(op)
    }

    /// The lifecycle errands an operation runs: post-deploy for deploys, pre-delete for deletes.
    fn errands(
        &self, op: &OperationRecord, instance: &InstanceRecord,
    ) -> Vec<(String, Vec<String>)> {
        let plan_id = op.request.plan_id.as_ref().unwrap_or(&instance.plan_id);
        let Some(plan) = self.config.plan(plan_id) else {
            return vec![];
        };
        let Some(errands) = &plan.lifecycle_errands else {
            return vec![];
        };
        let list = if op.kind == OperationKind::Delete {
            &errands.pre_delete
        } else {
            &errands.post_deploy
        };
        list.iter().map(|e| (e.name.clone(), e.instances.clone())).collect()
    }

    pub(super) async fn poll(
        &self, mut op: OperationRecord,
    ) -> Result<OperationRecord, EngineError> {
        let Some(task_id) = op.task_id else {
            return self.fail(op, None, "operation has no director task").await;
        };
        let task = self.director.task(task_id).await?;
        if task.state.is_running() {
            return Ok(op);
        }
        journal::record(Step::Task {
            task: task_id,
            what: op.stage.as_str().to_string(),
            state: task.state.as_str().to_string(),
        })
        .await;
        let instance = self.instance(&op.instance_id).await?;
        let deployment = instance.deployment_name.clone();
        let errands = self.errands(&op, &instance);
        let force = op.request.force;
        if task.state != TaskState::Done {
            let what = match op.stage {
                Stage::Errand => format!(
                    "lifecycle errand {} failed (task {task_id}, state {}): {}",
                    errands.get(op.errand_index as usize).map(|e| e.0.as_str()).unwrap_or("?"),
                    task.state.as_str(),
                    task.result
                ),
                _ => format!(
                    "director task {task_id} ended in state {}: {}",
                    task.state.as_str(),
                    task.result
                ),
            };
            // A forced delete carries on past a failed pre-delete errand.
            if !(op.kind == OperationKind::Delete && force && op.stage == Stage::Errand) {
                let step = failed_step(&op, task_id, &errands);
                return self.fail_at(op, Some(task_id), Some(&step), &what).await;
            }
            tracing::warn!(operation = %op.id, "{what}; continuing the forced delete");
        }
        match op.stage {
            Stage::Deploying if errands.is_empty() => self.succeed(op).await,
            Stage::Deploying => {
                self.start_errand(&mut op, &deployment, &errands, 0).await?;
                self.save_op(&op).await?;
                Ok(op)
            }
            Stage::Errand => {
                let next = op.errand_index as usize + 1;
                if next < errands.len() {
                    self.start_errand(&mut op, &deployment, &errands, next).await?;
                    self.save_op(&op).await?;
                    Ok(op)
                } else if op.kind == OperationKind::Delete {
                    self.start_deployment_delete(&mut op, &deployment, force).await?;
                    self.save_op(&op).await?;
                    Ok(op)
                } else {
                    self.succeed(op).await
                }
            }
            Stage::Deleting => self.succeed(op).await,
            Stage::Pending | Stage::Done => Ok(op),
        }
    }

    async fn succeed(&self, mut op: OperationRecord) -> Result<OperationRecord, EngineError> {
        let mut instance = self.instance(&op.instance_id).await?;
        if op.kind == OperationKind::Delete && !self.config.broker.disable_bosh_configs {
            // Before the delete is recorded as done: a failure here is retried on the next poll.
            self.director.delete_configs(&instance.deployment_name).await?;
        }
        if op.kind == OperationKind::Delete && self.config.broker.enable_secure_manifests {
            // Likewise: with the config server down, the delete stays in progress and
            // finishes once it answers again.
            let deleted = manifest_secrets::delete_for_instance(
                self.config_server.as_ref(),
                instance.id.as_str(),
            )
            .await?;
            if deleted > 0 {
                tracing::info!(operation = %op.id, instance = %instance.id, credentials = deleted, "deleted the instance's secrets from the config server");
            }
        }
        let req = op.request.clone();
        op.state = OperationState::Succeeded;
        op.stage = Stage::Done;
        op.description = texts(op.kind).1.to_string();
        match op.kind {
            OperationKind::Delete => instance.state = InstanceState::Deleted,
            OperationKind::Create | OperationKind::Update | OperationKind::Upgrade => {
                instance.state = InstanceState::Ready;
                if let Some(plan_id) = &req.plan_id {
                    instance.plan_id = plan_id.clone();
                }
                if op.kind == OperationKind::Update {
                    if let (Some(current), Some(new)) = (
                        instance.parameters.as_object_mut(),
                        req.parameters.as_ref().and_then(Value::as_object),
                    ) {
                        for (k, v) in new {
                            current.insert(k.clone(), v.clone());
                        }
                    }
                } else if op.kind == OperationKind::Create {
                    if let Some(parameters) = req.parameters {
                        instance.parameters = parameters;
                    }
                }
                if req.context.is_some() {
                    instance.context = req.context;
                }
                if req.maintenance_info.is_some() {
                    instance.maintenance_info = req.maintenance_info;
                }
            }
            OperationKind::Recreate => instance.state = InstanceState::Ready,
        }
        self.save_op_and_instance(&op, &instance).await?;
        tracing::info!(operation = %op.id, instance = %op.instance_id, kind = %op.kind, "operation succeeded");
        self.metrics.operation_finished(op.kind.as_str(), "succeeded", super::age(&op));
        journal::record(Step::Finished { state: "succeeded".to_string(), detail: String::new() })
            .await;
        Ok(op)
    }

    /// Marks an operation failed with a user-facing description and the operator detail.
    pub async fn fail(
        &self, op: OperationRecord, task_id: Option<i64>, detail: &str,
    ) -> Result<OperationRecord, EngineError> {
        self.fail_at(op, task_id, None, detail).await
    }

    /// [`Engine::fail`], naming in the user's description the step that failed (`step`, one
    /// clause a platform user can act on); the operator's `detail` stays in the journal, the
    /// log and the operation's error.
    async fn fail_at(
        &self, mut op: OperationRecord, task_id: Option<i64>, step: Option<&str>, detail: &str,
    ) -> Result<OperationRecord, EngineError> {
        let mut description = format!(
            "{}: {}{}",
            texts(op.kind).2,
            step.map(|s| format!("{s}. ")).unwrap_or_default(),
            self.generic_message(&op.instance_id, &op.id, task_id, Some(op.kind.as_str()))
        );
        if self.config.broker.expose_operational_errors {
            description.push_str(&format!(", error-message: {detail}"));
        }
        tracing::warn!(operation = %op.id, instance = %op.instance_id, kind = %op.kind, task = ?task_id, "operation failed: {detail}");
        self.metrics.operation_finished(op.kind.as_str(), "failed", super::age(&op));
        journal::record(Step::Finished { state: "failed".to_string(), detail: detail.to_string() })
            .await;
        op.state = OperationState::Failed;
        op.stage = Stage::Done;
        op.description = description;
        op.error = detail.to_string();
        if let Some(mut instance) = self.load_instance(&op.instance_id).await? {
            instance.state = match (op.kind, instance.state) {
                (OperationKind::Create, _) => InstanceState::Failed,
                (_, InstanceState::Deleted) => InstanceState::Deleted,
                (OperationKind::Delete, _) => InstanceState::Failed,
                _ => InstanceState::Ready,
            };
            self.save_op_and_instance(&op, &instance).await?;
        } else {
            self.save_op(&op).await?;
        }
        Ok(op)
    }
}

/// The step of `op` whose director task `task_id` failed, as a clause for the user.
fn failed_step(op: &OperationRecord, task_id: i64, errands: &[(String, Vec<String>)]) -> String {
    match (op.stage, op.kind) {
        (Stage::Errand, _) => format!(
            "the lifecycle errand {} did not succeed (BOSH task {task_id})",
            errands.get(op.errand_index as usize).map_or("?", |e| e.0.as_str())
        ),
        (Stage::Deleting, _) => {
            format!("deleting the BOSH deployment did not succeed (BOSH task {task_id})")
        }
        (_, OperationKind::Recreate) => {
            format!("recreating the service instance's VMs did not succeed (BOSH task {task_id})")
        }
        _ => format!("the BOSH deploy did not succeed (BOSH task {task_id})"),
    }
}

/// The adapter's values of the ODB-managed secrets the manifest references, by credential path
/// (`stored` holds the referenced paths; `path_of` turns a secret's key into its path).
fn odb_secret_values(
    generated: Option<&service_adapter::OdbManagedSecrets>,
    stored: &std::collections::BTreeMap<String, String>, path_of: impl Fn(&str) -> String,
) -> std::collections::BTreeMap<String, Value> {
    generated
        .into_iter()
        .flatten()
        .filter_map(|(key, value)| {
            let path = path_of(key);
            stored.contains_key(&path).then(|| (path, value.clone()))
        })
        .collect()
}

/// The plan a stored request names, or the instance's own plan when it names none (requests
/// recorded by earlier brokers stored `""` for "unchanged").
fn plan_or_instance_plan(requested: Option<&PlanId>, instance: &InstanceRecord) -> PlanId {
    requested.unwrap_or(&instance.plan_id).clone()
}

//! The operation engine: drives every asynchronous instance operation through its stages
//! (generate manifest and deploy, lifecycle errands, delete) and records each step in the
//! store before and after the side effect, so a restarted broker resumes where it was.
//!
//! Each operation has an in-process lock: a platform poll, the background worker and the
//! request that started the operation never act on it at the same time, and however many
//! polls arrive, one director call is in flight per operation.

pub mod plans;
mod secrets;

use crate::adapter::{AdapterClient, AdapterError, GenerateManifestRequest};
use crate::config::Config;
use crate::director::{Director, DirectorError, TaskState};
use crate::store::{
    InstanceRecord, InstanceState, OperationKind, OperationRecord, OperationState, Stage, Store,
    StoreError,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::sync::OwnedMutexGuard;

/// What an operation was asked to do; stored with it so that it can be re-run after a crash.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct OperationRequest {
    /// The plan to deploy (the instance's plan for delete).
    pub plan_id: String,
    /// The plan before this operation (update, upgrade).
    pub previous_plan_id: Option<String>,
    /// Arbitrary parameters of the request (a JSON object).
    pub parameters: Value,
    /// The platform context sent with the request.
    pub context: Value,
    /// The maintenance info the instance moves to (`null` when none).
    pub maintenance_info: Value,
    /// The request-parameters map handed to the adapter.
    pub request_params: Value,
    /// Whether a delete is forced.
    pub force: bool,
    /// What makes a re-sent request identical: service id, plan id, parameters.
    pub fingerprint: Value,
}

impl OperationRequest {
    /// Reads the request stored with an operation.
    pub fn of(op: &OperationRecord) -> Self {
        serde_json::from_value(op.request.clone()).unwrap_or_default()
    }
}

/// Why an engine step failed.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The service adapter failed.
    #[error(transparent)]
    Adapter(#[from] AdapterError),
    /// The director failed.
    #[error(transparent)]
    Director(#[from] DirectorError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The director is already running a task for the deployment.
    #[error("the director has task(s) in progress for deployment {0}")]
    TaskInProgress(String),
    /// The plan is not in the catalog any more.
    #[error("plan {0} not found in the catalog")]
    PlanNotFound(String),
    /// The deployment the operation needs does not exist.
    #[error("bosh deployment '{0}' not found")]
    DeploymentNotFound(String),
    /// The deployed manifest differs from what the broker would deploy now.
    #[error("the service instance has pending changes: the broker or adapter changed since its last deploy")]
    PendingChanges,
    /// The adapter's manifest breaks a rule the broker checks.
    #[error("service adapter generated an invalid manifest: {0}")]
    InvalidManifest(String),
}

/// The operation engine.
pub struct Engine {
    /// The broker configuration.
    pub config: Arc<Config>,
    /// The state store.
    pub store: Store,
    /// The director.
    pub director: Arc<dyn Director>,
    /// The service adapter.
    pub adapter: AdapterClient,
    locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

/// User-facing texts of an operation kind: (in progress, succeeded, failed prefix).
fn texts(kind: OperationKind) -> (&'static str, &'static str, &'static str) {
    match kind {
        OperationKind::Create => (
            "Instance provisioning in progress",
            "Instance provisioning completed",
            "Instance provisioning failed",
        ),
        OperationKind::Update => (
            "Instance update in progress",
            "Instance update completed",
            "Instance update failed",
        ),
        OperationKind::Upgrade => (
            "Instance upgrade in progress",
            "Instance upgrade completed",
            "Instance upgrade failed",
        ),
        OperationKind::Recreate => (
            "Instance recreate in progress",
            "Instance recreate completed",
            "Instance recreate failed",
        ),
        OperationKind::Delete => (
            "Instance deletion in progress",
            "Instance deletion completed",
            "Instance deletion failed",
        ),
    }
}

/// The description of an operation in progress.
pub fn in_progress_text(kind: OperationKind) -> &'static str {
    texts(kind).0
}

impl Engine {
    /// A new engine.
    pub fn new(
        config: Arc<Config>,
        store: Store,
        director: Arc<dyn Director>,
        adapter: AdapterClient,
    ) -> Self {
        Self {
            config,
            store,
            director,
            adapter,
            locks: Mutex::new(HashMap::new()),
        }
    }

    fn lock_for(&self, key: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut locks = self.locks.lock().expect("locks");
        locks.retain(|_, l| Arc::strong_count(l) > 1);
        locks.entry(key.to_string()).or_default().clone()
    }

    /// Waits for the lock of `key` (an operation id, or any other key such as a binding).
    pub async fn lock(&self, key: &str) -> OwnedMutexGuard<()> {
        self.lock_for(key).lock_owned().await
    }

    /// The lock of `key` if nobody holds it.
    pub fn try_lock(&self, key: &str) -> Option<OwnedMutexGuard<()>> {
        self.lock_for(key).try_lock_owned().ok()
    }

    /// The generic, actionable message for an unexpected failure.
    pub fn generic_message(
        &self,
        instance_id: &str,
        request_id: &str,
        task_id: Option<i64>,
        operation: Option<&str>,
    ) -> String {
        let mut msg = format!(
            "There was a problem completing your request. Please contact your operations team providing the following information: service: {}, service-instance-guid: {}, broker-request-id: {}",
            self.config.catalog.service_name, instance_id, request_id
        );
        if let Some(t) = task_id {
            msg.push_str(&format!(", task-id: {t}"));
        }
        if let Some(op) = operation {
            msg.push_str(&format!(", operation: {op}"));
        }
        msg
    }

    /// For platform polls: refreshes the operation, unless another caller is refreshing it
    /// right now, in which case it waits for that refresh and returns its result, so that
    /// however many polls arrive, one director call is in flight per operation.
    pub async fn refresh_shared(
        &self,
        op_id: &str,
    ) -> Result<Option<OperationRecord>, EngineError> {
        if let Some(_guard) = self.try_lock(op_id) {
            return self.advance_locked(op_id).await;
        }
        let _guard = self.lock(op_id).await;
        Ok(self.load_op(op_id).await?)
    }

    /// Drives an operation for the background worker: skips an operation that someone
    /// else is driving, and fails an operation whose first stage cannot be re-run.
    pub async fn drive(&self, op_id: &str) {
        let Some(_guard) = self.try_lock(op_id) else {
            return;
        };
        match self.advance_locked(op_id).await {
            Ok(_) => {}
            Err(err) => {
                tracing::warn!(operation = op_id, error = %err, "operation step failed");
                if let Ok(Some(op)) = self.load_op(op_id).await {
                    if op.stage == Stage::Pending {
                        let _ = self.fail(op, None, &err.to_string()).await;
                    }
                }
            }
        }
    }

    /// Advances an operation; the caller holds its lock. Errors of the first stage
    /// ([`Stage::Pending`]) are returned for the caller to report; later stages absorb
    /// director errors (the next poll retries).
    pub async fn advance_locked(
        &self,
        op_id: &str,
    ) -> Result<Option<OperationRecord>, EngineError> {
        let Some(op) = self.load_op(op_id).await? else {
            return Ok(None);
        };
        if op.state != OperationState::InProgress {
            return Ok(Some(op));
        }
        let result = match op.stage {
            Stage::Pending => return self.start(op).await.map(Some),
            Stage::Deploying | Stage::Errand | Stage::Deleting => self.poll(op.clone()).await,
            Stage::Done => Ok(op.clone()),
        };
        match result {
            Ok(op) => Ok(Some(op)),
            Err(err) => {
                tracing::warn!(operation = op_id, error = %err, "could not check the director task; will retry");
                Ok(Some(op))
            }
        }
    }

    async fn instance(&self, id: &str) -> Result<InstanceRecord, EngineError> {
        self.load_instance(id)
            .await?
            .ok_or_else(|| EngineError::DeploymentNotFound(plans::deployment_name(id)))
    }

    // Store access, always on the blocking pool so the executor never waits on SQLite.

    async fn load_instance(&self, id: &str) -> Result<Option<InstanceRecord>, StoreError> {
        let id = id.to_string();
        self.store.run(move |s| s.instance(&id)).await
    }

    async fn load_op(&self, id: &str) -> Result<Option<OperationRecord>, StoreError> {
        let id = id.to_string();
        self.store.run(move |s| s.operation(&id)).await
    }

    async fn save_op(&self, op: &OperationRecord) -> Result<(), StoreError> {
        let op = op.clone();
        self.store.run(move |s| s.save_operation(&op)).await
    }

    async fn save_op_and_instance(
        &self,
        op: &OperationRecord,
        instance: &InstanceRecord,
    ) -> Result<(), StoreError> {
        let (op, instance) = (op.clone(), instance.clone());
        self.store
            .run(move |s| s.save_operation_and_instance(&op, &instance))
            .await
    }

    /// Runs the first stage: generate the manifest and deploy it, or start the delete.
    async fn start(&self, mut op: OperationRecord) -> Result<OperationRecord, EngineError> {
        let instance = self.instance(&op.instance_id).await?;
        // After a crash the task may have been submitted without being recorded.
        if let Some(task) = self
            .director
            .tasks_by_context(&op.id)
            .await?
            .into_iter()
            .next()
        {
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
        &self,
        mut op: OperationRecord,
        mut instance: InstanceRecord,
    ) -> Result<OperationRecord, EngineError> {
        let req = OperationRequest::of(&op);
        let deployment = instance.deployment_name.clone();
        let plan_cfg = self
            .config
            .plan(&req.plan_id)
            .ok_or_else(|| EngineError::PlanNotFound(req.plan_id.clone()))?;
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
            let prev_id = req
                .previous_plan_id
                .clone()
                .unwrap_or_else(|| instance.plan_id.clone());
            let prev_plan = self
                .config
                .plan(&prev_id)
                .map(|p| plans::adapter_plan(&self.config, p));
            let secrets = secrets::previous_secrets(&self.store, &deployment).await?;
            let configs = serde_json::from_value(instance.configs.clone())
                .ok()
                .or(Some(Default::default()));
            (
                Some(manifest),
                prev_plan.or(Some(plan.clone())),
                secrets,
                configs,
            )
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
            request_params: req.request_params.clone(),
            previous_secrets,
            previous_configs,
        };
        let generated = self.adapter.generate_manifest(&request).await?;
        let manifest = secrets::check_manifest(&generated.manifest, &deployment)?;
        let (manifest, odb_secrets) = secrets::replace_odb_secrets(
            &manifest,
            generated.secrets.as_ref(),
            &self.config.catalog.id,
            &deployment,
        );
        let configs = generated.configs.clone().unwrap_or_default();
        if self.config.broker.disable_bosh_configs && !configs.is_empty() {
            return Err(EngineError::InvalidManifest(
                "the adapter returned BOSH configs, but broker.disable_bosh_configs is set"
                    .to_string(),
            ));
        }
        let dashboard_url = self
            .adapter
            .dashboard_url(&instance.id, &plan, &manifest)
            .await?;

        {
            let (d, stored) = (deployment.clone(), odb_secrets.clone());
            self.store.run(move |s| s.put_secrets(&d, &stored)).await?;
        }
        // Configs first: the manifest may refer to what they define (Go broker order).
        if !self.config.broker.disable_bosh_configs && !configs.is_empty() {
            self.director.update_configs(&deployment, &configs).await?;
        }
        let task_id = self.director.deploy(&manifest, &op.id).await?;
        tracing::info!(operation = %op.id, instance = %instance.id, task = task_id, "deploy submitted to the director");
        op.task_id = Some(task_id);
        op.stage = Stage::Deploying;
        if dashboard_url.is_some() {
            instance.dashboard_url = dashboard_url;
        }
        instance.labels = generated
            .labels
            .as_ref()
            .filter(|l| !l.is_empty())
            .map(|l| serde_json::to_value(l).unwrap_or(Value::Null))
            .unwrap_or(Value::Null);
        instance.configs = serde_json::to_value(&configs).unwrap_or(Value::Null);
        self.save_op_and_instance(&op, &instance).await?;
        Ok(op)
    }

    /// Refuses to act on a deployment the director is already working on (an operator's
    /// `bosh deploy`, or a task of an operation the broker has lost track of).
    async fn ensure_no_task_in_progress(&self, deployment: &str) -> Result<(), EngineError> {
        if self
            .director
            .tasks_in_progress(deployment)
            .await?
            .is_empty()
        {
            Ok(())
        } else {
            Err(EngineError::TaskInProgress(deployment.to_string()))
        }
    }

    /// Recreates every VM of the deployment as it is (no new manifest); post-deploy errands
    /// follow as after a deploy.
    async fn start_recreate(
        &self,
        mut op: OperationRecord,
        instance: InstanceRecord,
    ) -> Result<OperationRecord, EngineError> {
        let deployment = instance.deployment_name.clone();
        self.ensure_no_task_in_progress(&deployment).await?;
        if self.director.manifest(&deployment).await?.is_none() {
            return Err(EngineError::DeploymentNotFound(deployment));
        }
        let task_id = self.director.recreate(&deployment, &op.id).await?;
        tracing::info!(operation = %op.id, instance = %instance.id, task = task_id, "recreate submitted to the director");
        op.task_id = Some(task_id);
        op.stage = Stage::Deploying;
        self.save_op(&op).await?;
        Ok(op)
    }

    /// Before an update: regenerates the manifest for the instance as it is (its current
    /// plan, no new parameters) and refuses the update if that differs from what is deployed
    /// (update blocks aside): the broker or its adapter changed since the last deploy, and an
    /// update would silently ship those changes too.
    async fn check_no_pending_changes(
        &self,
        instance: &InstanceRecord,
        deployed: &str,
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
        let (regenerated, _) = secrets::replace_odb_secrets(
            &regenerated.manifest,
            regenerated.secrets.as_ref(),
            &self.config.catalog.id,
            &instance.deployment_name,
        );
        if secrets::same_ignoring_update_blocks(deployed, &regenerated) {
            Ok(())
        } else {
            tracing::warn!(instance = %instance.id, "pending changes: the regenerated manifest differs from the deployed one");
            Err(EngineError::PendingChanges)
        }
    }

    async fn start_delete(
        &self,
        mut op: OperationRecord,
        instance: InstanceRecord,
    ) -> Result<OperationRecord, EngineError> {
        let deployment = instance.deployment_name.clone();
        self.ensure_no_task_in_progress(&deployment).await?;
        if self.director.manifest(&deployment).await?.is_none() {
            // Nothing was ever deployed (or it is already gone): the delete is complete.
            return self.succeed(op).await;
        }
        let errands = self.errands(&op, &instance);
        if errands.is_empty() {
            let req = OperationRequest::of(&op);
            let task = self
                .director
                .delete_deployment(&deployment, req.force, &op.id)
                .await?;
            op.task_id = Some(task);
            op.stage = Stage::Deleting;
        } else {
            let (name, instances) = &errands[0];
            let task = self
                .director
                .run_errand(&deployment, name, instances, &op.id)
                .await?;
            op.task_id = Some(task);
            op.stage = Stage::Errand;
            op.errand_index = 0;
        }
        self.save_op(&op).await?;
        Ok(op)
    }

    /// The lifecycle errands an operation runs: post-deploy for deploys, pre-delete for deletes.
    fn errands(
        &self,
        op: &OperationRecord,
        instance: &InstanceRecord,
    ) -> Vec<(String, Vec<String>)> {
        let req = OperationRequest::of(op);
        let plan_id = if req.plan_id.is_empty() {
            instance.plan_id.clone()
        } else {
            req.plan_id
        };
        let Some(plan) = self.config.plan(&plan_id) else {
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
        list.iter()
            .map(|e| (e.name.clone(), e.instances.clone()))
            .collect()
    }

    async fn poll(&self, mut op: OperationRecord) -> Result<OperationRecord, EngineError> {
        let Some(task_id) = op.task_id else {
            return self.fail(op, None, "operation has no director task").await;
        };
        let task = self.director.task(task_id).await?;
        if task.state.is_running() {
            return Ok(op);
        }
        let instance = self.instance(&op.instance_id).await?;
        let deployment = instance.deployment_name.clone();
        let errands = self.errands(&op, &instance);
        let req = OperationRequest::of(&op);
        if task.state != TaskState::Done {
            let what = match op.stage {
                Stage::Errand => format!(
                    "lifecycle errand {} failed (task {task_id}, state {}): {}",
                    errands
                        .get(op.errand_index as usize)
                        .map(|e| e.0.as_str())
                        .unwrap_or("?"),
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
            if !(op.kind == OperationKind::Delete && req.force && op.stage == Stage::Errand) {
                return self.fail(op, Some(task_id), &what).await;
            }
            tracing::warn!(operation = %op.id, "{what}; continuing the forced delete");
        }
        match op.stage {
            Stage::Deploying if errands.is_empty() => self.succeed(op).await,
            Stage::Deploying => {
                let (name, instances) = &errands[0];
                op.task_id = Some(
                    self.director
                        .run_errand(&deployment, name, instances, &op.id)
                        .await?,
                );
                op.stage = Stage::Errand;
                op.errand_index = 0;
                self.save_op(&op).await?;
                Ok(op)
            }
            Stage::Errand => {
                let next = op.errand_index as usize + 1;
                if let Some((name, instances)) = errands.get(next) {
                    op.task_id = Some(
                        self.director
                            .run_errand(&deployment, name, instances, &op.id)
                            .await?,
                    );
                    op.errand_index = next as i64;
                    self.save_op(&op).await?;
                    Ok(op)
                } else if op.kind == OperationKind::Delete {
                    op.task_id = Some(
                        self.director
                            .delete_deployment(&deployment, req.force, &op.id)
                            .await?,
                    );
                    op.stage = Stage::Deleting;
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
            self.director
                .delete_configs(&instance.deployment_name)
                .await?;
        }
        let req = OperationRequest::of(&op);
        op.state = OperationState::Succeeded;
        op.stage = Stage::Done;
        op.description = texts(op.kind).1.to_string();
        match op.kind {
            OperationKind::Delete => instance.state = InstanceState::Deleted,
            OperationKind::Create | OperationKind::Update | OperationKind::Upgrade => {
                instance.state = InstanceState::Ready;
                instance.plan_id = req.plan_id.clone();
                if op.kind == OperationKind::Update {
                    if let (Some(current), Some(new)) = (
                        instance.parameters.as_object_mut(),
                        req.parameters.as_object(),
                    ) {
                        for (k, v) in new {
                            current.insert(k.clone(), v.clone());
                        }
                    }
                } else if op.kind == OperationKind::Create {
                    instance.parameters = req.parameters.clone();
                }
                if !req.context.is_null() {
                    instance.context = req.context.clone();
                }
                if !req.maintenance_info.is_null() {
                    instance.maintenance_info = req.maintenance_info.clone();
                }
            }
            OperationKind::Recreate => instance.state = InstanceState::Ready,
        }
        self.save_op_and_instance(&op, &instance).await?;
        tracing::info!(operation = %op.id, instance = %op.instance_id, kind = %op.kind, "operation succeeded");
        crate::metrics::global().operation_finished(op.kind.as_str(), "succeeded");
        Ok(op)
    }

    /// Marks an operation failed with a user-facing description and the operator detail.
    pub async fn fail(
        &self,
        mut op: OperationRecord,
        task_id: Option<i64>,
        detail: &str,
    ) -> Result<OperationRecord, EngineError> {
        let mut description = format!(
            "{}: {}",
            texts(op.kind).2,
            self.generic_message(&op.instance_id, &op.id, task_id, Some(op.kind.as_str()))
        );
        if self.config.broker.expose_operational_errors {
            description.push_str(&format!(", error-message: {detail}"));
        }
        tracing::warn!(operation = %op.id, instance = %op.instance_id, kind = %op.kind, task = ?task_id, "operation failed: {detail}");
        crate::metrics::global().operation_finished(op.kind.as_str(), "failed");
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

    /// Drives every in-flight operation once.
    pub async fn drive_all(&self) {
        match self.store.run(|s| s.in_flight_operations()).await {
            Ok(ops) => {
                for op in ops {
                    self.drive(&op.id).await;
                }
            }
            Err(e) => tracing::error!(error = %e, "cannot list in-flight operations"),
        }
    }

    /// The background worker: drives in-flight operations forever, starting with those a
    /// previous process left behind.
    pub async fn run_worker(self: Arc<Self>) {
        match self.store.run(|s| s.in_flight_operations()).await {
            Ok(ops) if !ops.is_empty() => {
                tracing::info!(count = ops.len(), "resuming in-flight operations")
            }
            _ => {}
        }
        let mut ticker = tokio::time::interval(self.config.broker.worker_interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            self.drive_all().await;
        }
    }
}

//! The operation engine: drives every asynchronous instance operation through its stages
//! (generate manifest and deploy, lifecycle errands, delete) and records each step in the
//! store before and after the side effect, so a restarted broker resumes where it was.
//!
//! Each operation has an in-process lock: a platform poll, the background worker and the
//! request that started the operation never act on it at the same time, and however many
//! polls arrive, one director call is in flight per operation. With a store that several
//! replicas share, a lease in the database does the same across replicas (see `leases`).

pub mod leases;
pub mod locks;
pub mod manifest_secrets;
pub mod plans;
pub mod secrets;
mod stages;
mod texts;
mod worker;

pub use texts::in_progress_text;

use crate::adapter::{AdapterClient, AdapterError};
use crate::config::Config;
use crate::config_server::ConfigServer;
use crate::director::{Director, DirectorError};
use crate::ids::{InstanceId, OperationId};
use crate::store::{InstanceRecord, OperationRecord, OperationState, Stage, Store, StoreError};
use std::sync::Arc;
use tokio::sync::OwnedMutexGuard;

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
    /// Writing, reading or deleting secrets in the config server failed.
    #[error("secrets: {0}")]
    Secrets(#[from] manifest_secrets::SecretsError),
}

impl EngineError {
    /// True when the config server could not be reached (trying later may work).
    pub fn is_config_server_unavailable(&self) -> bool {
        matches!(
            self,
            Self::Secrets(manifest_secrets::SecretsError::ConfigServer(e)) if e.is_transient()
        )
    }
}

/// The operation engine.
pub struct Engine {
    /// The broker configuration.
    config: Arc<Config>,
    /// The state store.
    store: Store,
    /// The director.
    director: Arc<dyn Director>,
    /// Where secure manifests keep ODB-managed secrets and read deployed variables.
    config_server: Arc<dyn ConfigServer>,
    /// The service adapter.
    adapter: AdapterClient,
    locks: locks::KeyedLocks,
    metrics: Arc<crate::metrics::Metrics>,
    /// This replica's name in operation leases (see `leases`).
    replica: String,
}

impl Engine {
    /// A new engine.
    pub fn new(
        config: Arc<Config>, store: Store, director: Arc<dyn Director>, adapter: AdapterClient,
    ) -> Self {
        Self {
            config,
            config_server: Arc::new(crate::director::simulated_config_server::StoredSecrets::new(
                store.clone(),
            )),
            store,
            director,
            adapter,
            locks: Default::default(),
            metrics: Default::default(),
            replica: leases::replica_name(),
        }
    }

    /// This replica's name in operation leases.
    pub fn replica(&self) -> &str {
        &self.replica
    }

    /// The configuration.
    pub fn config(&self) -> &Arc<Config> {
        &self.config
    }

    /// The state store.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The director.
    pub fn director(&self) -> &Arc<dyn Director> {
        &self.director
    }

    /// The config server of secure manifests.
    pub fn config_server(&self) -> &Arc<dyn ConfigServer> {
        &self.config_server
    }

    /// The same engine, keeping secure-manifest secrets in `server` (by default the broker's
    /// store, for the simulated director).
    pub fn with_config_server(mut self, server: Arc<dyn ConfigServer>) -> Self {
        self.config_server = server;
        self
    }

    /// With `broker.enable_secure_manifests`, the secrets the adapter gets for a deployed
    /// manifest (every `((…))` resolved); `None` without it, as from the Go broker.
    pub async fn deployed_secrets(
        &self, manifest: &str, deployment: &str,
    ) -> Result<Option<std::collections::BTreeMap<String, String>>, EngineError> {
        if !self.config.broker.enable_secure_manifests {
            return Ok(None);
        }
        Ok(manifest_secrets::resolve(
            manifest,
            deployment,
            self.director.as_ref(),
            self.config_server.as_ref(),
        )
        .await?)
    }

    /// The service adapter.
    pub fn adapter(&self) -> &AdapterClient {
        &self.adapter
    }

    /// The same engine, counting finished operations in `metrics`.
    pub fn with_metrics(mut self, metrics: Arc<crate::metrics::Metrics>) -> Self {
        self.metrics = metrics;
        self
    }

    /// Waits for the lock of `key` (an operation id, or any other key such as a binding).
    pub async fn lock(&self, key: &str) -> OwnedMutexGuard<()> {
        self.locks.lock(key).await
    }

    /// The lock of `key` if nobody holds it.
    pub fn try_lock(&self, key: &str) -> Option<OwnedMutexGuard<()>> {
        self.locks.try_lock(key)
    }

    /// The generic, actionable message for an unexpected failure.
    pub fn generic_message(
        &self, instance_id: &str, request_id: &str, task_id: Option<i64>, operation: Option<&str>,
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
        &self, op_id: &OperationId,
    ) -> Result<Option<OperationRecord>, EngineError> {
        if let Some(_guard) = self.try_lock(op_id) {
            return self.advance_locked(op_id).await;
        }
        let _guard = self.lock(op_id).await;
        Ok(self.load_op(op_id).await?)
    }

    /// Drives an operation for the background worker: skips an operation that someone
    /// else is driving, and fails an operation whose first stage cannot be re-run.
    pub async fn drive(&self, op_id: &OperationId) {
        let Some(_guard) = self.try_lock(op_id) else {
            return;
        };
        match self.advance_locked(op_id).await {
            Ok(_) => {}
            // Another replica drives it now; the lease module said so in the log.
            Err(err) if err.is_lease_lost() => {}
            Err(err) => {
                tracing::warn!(operation = %op_id, error = %err, "operation step failed");
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
    /// director errors (the next poll retries). With a shared store, the operation's lease
    /// is taken first: an operation another replica is driving is returned as stored.
    ///
    /// The step runs boxed: it holds every stage's state (adapter call, director calls,
    /// secrets), tens of kilobytes, which would otherwise be part of every request and
    /// worker future that advances an operation, and of their stack frames.
    pub async fn advance_locked(
        &self, op_id: &OperationId,
    ) -> Result<Option<OperationRecord>, EngineError> {
        Box::pin(self.with_lease(op_id, self.advance_leased(op_id))).await
    }

    /// [`Engine::advance_locked`] once the lease (if any) is held.
    async fn advance_leased(
        &self, op_id: &OperationId,
    ) -> Result<Option<OperationRecord>, EngineError> {
        let Some(op) = self.load_op(op_id).await? else {
            return Ok(None);
        };
        if op.state != OperationState::InProgress {
            return Ok(Some(op));
        }
        let scope = crate::journal::Scope::operation(
            self.store.clone(),
            op.instance_id.clone(),
            op.id.clone(),
            op.kind.as_str(),
        );
        crate::journal::within(scope, self.advance_loaded(op)).await
    }

    /// [`Engine::advance_locked`] of a loaded operation in progress, inside its journal scope.
    async fn advance_loaded(
        &self, op: OperationRecord,
    ) -> Result<Option<OperationRecord>, EngineError> {
        let op_id = op.id.clone();
        let result = match op.stage {
            Stage::Pending => {
                let started = self.start(op).await;
                if let Err(err) = &started {
                    // The request that started it answers with this error, and its record
                    // goes; the journal keeps what happened.
                    crate::journal::record(crate::journal::Step::Finished {
                        state: "refused".to_string(),
                        detail: err.to_string(),
                    })
                    .await;
                }
                return started.map(Some);
            }
            Stage::Deploying | Stage::Errand | Stage::Deleting => self.poll(op.clone()).await,
            Stage::Done => Ok(op.clone()),
        };
        match result {
            Ok(op) => Ok(Some(op)),
            Err(err) if err.is_lease_lost() => Err(err),
            Err(err) => {
                tracing::warn!(operation = %op_id, error = %err, "could not check the director task; will retry");
                Ok(Some(op))
            }
        }
    }

    async fn instance(&self, id: &InstanceId) -> Result<InstanceRecord, EngineError> {
        self.load_instance(id)
            .await?
            .ok_or_else(|| EngineError::DeploymentNotFound(id.deployment_name()))
    }

    // Store access, always on the blocking pool so the executor never waits on SQLite.

    async fn load_instance(&self, id: &InstanceId) -> Result<Option<InstanceRecord>, StoreError> {
        let id = id.clone();
        self.store.run(move |s| s.instance(&id)).await
    }

    async fn load_op(&self, id: &OperationId) -> Result<Option<OperationRecord>, StoreError> {
        let id = id.clone();
        self.store.run(move |s| s.operation(&id)).await
    }

    async fn save_op(&self, op: &OperationRecord) -> Result<(), StoreError> {
        let op = op.clone();
        self.store.run(move |s| s.save_operation(&op)).await
    }

    async fn save_op_and_instance(
        &self, op: &OperationRecord, instance: &InstanceRecord,
    ) -> Result<(), StoreError> {
        let (op, instance) = (op.clone(), instance.clone());
        self.store.run(move |s| s.save_operation_and_instance(&op, &instance)).await
    }
}

/// How long ago an operation was requested.
fn age(op: &OperationRecord) -> std::time::Duration {
    let millis = crate::store::Timestamp::now().unix_millis() - op.created_at.unix_millis();
    std::time::Duration::from_millis(millis.max(0) as u64)
}

//! The use cases of the broker, between the HTTP layer and the operation engine: provision,
//! update and upgrade, deprovision, fetch and last operation of instances; bind, unbind and
//! fetch of bindings; and the operator's management operations.
//!
//! Each use case takes parsed input (ids already checked, bodies already typed) and returns a
//! typed outcome or a [`ServiceError`]; the HTTP layer renders both. Nothing here knows about
//! HTTP, so the use cases are tested in-process against the simulated director and a
//! temporary store.

pub mod adapter_params;
mod bindings;
mod error;
mod fleet;
mod history;
mod instances;
mod mgmt;
mod operations;
mod secure_bindings;
#[cfg(test)]
mod tests;

pub use bindings::{BindRequest, Bound, UnbindRequest};
pub use error::{Failure, ServiceError, ServiceResult};
pub use fleet::{FleetRow, InstanceDetail};
pub use history::HistoryEntry;
pub use instances::{
    DeprovisionRequest, InstanceView, OperationView, ProvisionRequest, Provisioned, UpdateRequest,
};
pub use mgmt::{InstanceSummary, LastOperationSummary, ListedBinding, ManagementOperation, Metric};
pub use operations::Accepted;

use crate::config::Config;
use crate::engine::Engine;
use crate::ids::{InstanceId, PlanId, ServiceId};
use crate::schemas::{PlanSchemas, SchemaKind};
use crate::store::{InstanceRecord, OperationRecord};
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::Arc;

/// Who is asking: the request id that log lines and generic error messages carry.
#[derive(Debug, Clone, Copy)]
pub struct Caller<'a> {
    /// The broker's id of the request.
    pub request_id: &'a str,
}

/// The use cases, with what they need: configuration, engine (store, director, adapter) and
/// the plans' compiled parameter schemas.
pub struct Broker {
    config: Arc<Config>,
    engine: Arc<Engine>,
    schemas: BTreeMap<PlanId, PlanSchemas>,
    /// The runtime CredHub (`credhub:`) that keeps binding credentials, when configured.
    binding_credentials: Option<Arc<crate::credhub::CredhubClient>>,
}

impl Broker {
    /// The use cases over `engine`; `schemas` by plan id (empty unless plan schemas are on).
    pub fn new(
        config: Arc<Config>, engine: Arc<Engine>, schemas: BTreeMap<PlanId, PlanSchemas>,
    ) -> Self {
        Self { config, engine, schemas, binding_credentials: None }
    }

    /// The same use cases, keeping binding credentials in `credhub` (secure bindings): the
    /// platform gets a `credhub-ref` in their place.
    pub fn with_binding_credentials(mut self, credhub: Arc<crate::credhub::CredhubClient>) -> Self {
        self.binding_credentials = Some(credhub);
        self
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The operation engine.
    pub fn engine(&self) -> &Arc<Engine> {
        &self.engine
    }

    /// Validates request parameters against the plan's schema of `kind`: a bad request
    /// listing every violation.
    fn validate_parameters(
        &self, plan_id: &PlanId, kind: SchemaKind, parameters: &Value,
    ) -> ServiceResult<()> {
        match self.schemas.get(plan_id).map(|s| s.validate(kind, parameters)) {
            Some(Err(errors)) => {
                Err(ServiceError::BadRequest(crate::schemas::violation_message(&errors)))
            }
            _ => Ok(()),
        }
    }

    /// The catalog's service id, or a bad request naming it.
    fn check_service(&self, service_id: &ServiceId) -> ServiceResult<()> {
        if *service_id != self.config.catalog.id {
            return Err(ServiceError::BadRequest(format!(
                "service_id '{service_id}' is not in the catalog: use '{}'",
                self.config.catalog.id
            )));
        }
        Ok(())
    }

    /// A plan of the catalog, or a bad request listing them.
    fn check_plan(&self, plan_id: &PlanId) -> ServiceResult<&crate::config::PlanConfig> {
        self.config.plan(plan_id).ok_or_else(|| {
            let known: Vec<&str> =
                self.config.catalog.plans.iter().map(|p| p.plan_id.as_str()).collect();
            ServiceError::BadRequest(format!(
                "plan_id '{plan_id}' is not in the catalog: use one of {}",
                known.join(", ")
            ))
        })
    }

    /// Runs `f` on the store, off the async executor; a failure is a
    /// [`ServiceError::store`] of `action` on `instance`.
    async fn stored<T, F>(&self, instance: &str, action: &'static str, f: F) -> ServiceResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&crate::store::Store) -> crate::store::StoreResult<T> + Send + 'static,
    {
        self.engine.store().run(f).await.map_err(|e| ServiceError::store(instance, action, e))
    }

    /// The instance with this id (deleted tombstones included).
    async fn load_instance(
        &self, id: &InstanceId, operation: &'static str,
    ) -> ServiceResult<Option<InstanceRecord>> {
        let owned = id.clone();
        self.stored(id, operation, move |s| s.instance(&owned)).await
    }

    /// The newest operation of an instance.
    async fn latest_operation(&self, id: &InstanceId) -> ServiceResult<Option<OperationRecord>> {
        let owned = id.clone();
        self.stored(id, "last_operation", move |s| s.latest_operation(&owned)).await
    }

    /// The generic, actionable message for an unexpected failure.
    pub fn generic_message(&self, instance: &str, request_id: &str, operation: &str) -> String {
        self.engine.generic_message(instance, request_id, None, Some(operation))
    }
}

/// The version of a `maintenance_info` object a platform sent; `None` for absent, `{}` or no
/// version.
pub fn maintenance_version(mi: Option<&Value>) -> Option<String> {
    mi?.get("version").and_then(Value::as_str).filter(|v| !v.is_empty()).map(str::to_string)
}

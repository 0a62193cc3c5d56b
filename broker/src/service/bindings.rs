//! Binding use cases: bind, unbind and fetch. Bind and unbind are synchronous: the broker
//! asks the director for the deployment's VMs and manifest, runs the adapter, and stores the
//! binding so that it can be fetched later.

use super::{adapter_params, secure_bindings, Broker, Caller, ServiceError, ServiceResult};
use crate::adapter::{AdapterError, BindingRequest};
use crate::engine::EngineError;
use crate::ids::{BindingId, InstanceId, PlanId, ServiceId};
use crate::journal;
use crate::schemas::SchemaKind;
use crate::store::{
    BindRefusal, BindingRecord, InstanceRecord, InstanceState, StoreError, Timestamp,
};
use serde::Serialize;
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// A bind request, parsed. As the adapter's `request_params` it serialises to the body's
/// fields as sent, but for `predecessor_binding_id`, which the broker checks itself.
#[derive(Debug, Clone, Serialize)]
pub struct BindRequest {
    /// The catalog service id.
    pub service_id: ServiceId,
    /// The plan id.
    pub plan_id: PlanId,
    /// Arbitrary parameters (an object, `{}` when none).
    pub parameters: Value,
    /// `bind_resource`, when sent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bind_resource: Option<Value>,
    /// The platform context, when sent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub context: Option<Value>,
    /// The app the binding is for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub app_guid: Option<String>,
    /// The binding this one rotates.
    #[serde(skip)]
    pub predecessor_binding_id: Option<BindingId>,
}

/// An unbind request, parsed.
#[derive(Debug, Clone)]
pub struct UnbindRequest {
    /// The catalog service id.
    pub service_id: ServiceId,
    /// The plan id.
    pub plan_id: PlanId,
}

/// What a bind did.
#[derive(Debug, Clone, PartialEq)]
pub struct Bound {
    /// True when the adapter created it now; false for an identical existing binding.
    pub created: bool,
    /// The binding as the adapter answered it (credentials, syslog drain, ...).
    pub response: Value,
}

/// The deployment as the adapter needs it for bind and unbind.
struct DeploymentFacts {
    manifest: String,
    vms: BTreeMap<String, Vec<String>>,
    secrets: Option<BTreeMap<String, String>>,
}

/// The lock key of one binding.
fn binding_lock(instance_id: &InstanceId, binding_id: &BindingId) -> String {
    format!("binding:{instance_id}/{binding_id}")
}

impl Broker {
    async fn binding(
        &self, instance_id: &InstanceId, binding_id: &BindingId, operation: &'static str,
    ) -> ServiceResult<Option<BindingRecord>> {
        let (i, b) = (instance_id.clone(), binding_id.clone());
        self.stored(instance_id, operation, move |s| s.binding(&i, &b)).await
    }

    async fn forget_binding(
        &self, instance_id: &InstanceId, binding_id: &BindingId,
    ) -> ServiceResult<()> {
        let (i, b) = (instance_id.clone(), binding_id.clone());
        self.stored(instance_id, "unbind", move |s| s.delete_binding(&i, &b)).await.map(|_| ())
    }

    /// What the adapter needs about the deployment: manifest, VMs and stored secrets;
    /// `None` when the deployment does not exist.
    async fn deployment_facts(
        &self, instance: &InstanceRecord,
    ) -> Result<Option<DeploymentFacts>, EngineError> {
        let director = &self.engine.director();
        let Some(manifest) = director.manifest(&instance.deployment_name).await? else {
            return Ok(None);
        };
        let vms = director.vms(&instance.deployment_name).await?;
        // Without secure manifests create-binding and delete-binding get no secrets
        // ("null"), as from the Go broker.
        let secrets = self.engine.deployed_secrets(&manifest, &instance.deployment_name).await?;
        Ok(Some(DeploymentFacts { manifest, vms, secrets }))
    }

    /// The DNS addresses of the plan's `binding_with_dns` entries (empty when it has none).
    async fn dns_addresses(
        &self, instance: &InstanceRecord, plan_id: &PlanId,
    ) -> Result<BTreeMap<String, String>, EngineError> {
        let dns =
            self.config.plan(plan_id).map(|p| p.binding_with_dns.as_slice()).unwrap_or_default();
        if dns.is_empty() {
            return Ok(Default::default());
        }
        Ok(self.engine.director().dns_addresses(&instance.deployment_name, dns).await?)
    }

    /// The checks a bind passes before anything is recorded: catalog, bindability, backup
    /// agent, parameter schema, rotation.
    fn check_bind_request(&self, request: &BindRequest) -> ServiceResult<()> {
        if request.service_id != self.config.catalog.id {
            return Err(ServiceError::BadRequest(format!(
                "service_id '{}' is not in the catalog",
                request.service_id
            )));
        }
        let Some(plan) = self.config.plan(&request.plan_id) else {
            return Err(ServiceError::BadRequest(format!(
                "plan_id '{}' is not in the catalog",
                request.plan_id
            )));
        };
        if !plan.bindable.unwrap_or(self.config.catalog.bindable) {
            return Err(ServiceError::BadRequest(format!("plan '{}' is not bindable", plan.name)));
        }
        if request
            .bind_resource
            .as_ref()
            .and_then(|r| r.get("backup_agent"))
            .and_then(Value::as_bool)
            == Some(true)
            && !self.config.broker.support_backup_agent_binding
        {
            return Err(ServiceError::Unprocessable(
                "service does not support backup agent binding".into(),
            ));
        }
        self.validate_parameters(&request.plan_id, SchemaKind::BindingCreate, &request.parameters)?;
        if request.predecessor_binding_id.is_some() && !plan.binding_rotatable.unwrap_or(false) {
            return Err(ServiceError::BadRequest(format!(
                "plan '{}' does not allow binding rotation (binding_rotatable is false): create a new binding without predecessor_binding_id",
                plan.name
            )));
        }
        Ok(())
    }

    /// The instance a bind is for, if it can be bound now.
    async fn bindable_instance(&self, instance_id: &InstanceId) -> ServiceResult<InstanceRecord> {
        let Some(instance) = self.load_instance(instance_id, "bind").await? else {
            return Err(ServiceError::NotFound(format!(
                "service instance {instance_id} does not exist"
            )));
        };
        match instance.state {
            InstanceState::Deleted => Err(ServiceError::NotFound(format!(
                "service instance {instance_id} does not exist: it was deleted"
            ))),
            InstanceState::Provisioning => Err(ServiceError::Concurrency(format!(
                "service instance {instance_id} is still being provisioned: bind after last_operation reports succeeded"
            ))),
            InstanceState::Deprovisioning => Err(ServiceError::Concurrency(format!(
                "service instance {instance_id} is being deleted"
            ))),
            InstanceState::Failed => Err(ServiceError::Unprocessable(format!(
                "service instance {instance_id} failed to provision and cannot be bound: delete it and provision again"
            ))),
            InstanceState::Ready | InstanceState::Updating => Ok(instance),
        }
    }

    /// Bind: runs create-binding and stores the answer; an identical existing binding is
    /// answered again, a different one is a conflict. Its steps go to the journal.
    pub async fn bind(
        &self, caller: Caller<'_>, instance_id: &InstanceId, binding_id: &BindingId,
        request: BindRequest,
    ) -> ServiceResult<Bound> {
        let activity = format!("bind {binding_id}");
        let work = Box::pin(self.bind_now(caller, instance_id, binding_id, request));
        self.journalled(instance_id, activity, work).await
    }

    /// Unbind: runs delete-binding (unless the deployment is gone) and forgets the binding.
    /// Its steps go to the journal.
    pub async fn unbind(
        &self, caller: Caller<'_>, instance_id: &InstanceId, binding_id: &BindingId,
        request: UnbindRequest,
    ) -> ServiceResult<()> {
        let activity = format!("unbind {binding_id}");
        let work = Box::pin(self.unbind_now(caller, instance_id, binding_id, request));
        self.journalled(instance_id, activity, work).await
    }

    /// Runs `work` (boxed by the callers: it holds director, adapter and CredHub calls, which
    /// would otherwise make every request future that binds or unbinds tens of kilobytes)
    /// with its steps in the journal of `instance_id`, and records how it ended
    /// when it got as far as the adapter, the director or the store (a refusal before that
    /// leaves no trace, so unknown ids cannot fill the journal).
    async fn journalled<T>(
        &self, instance_id: &InstanceId, activity: String,
        work: impl std::future::Future<Output = ServiceResult<T>>,
    ) -> ServiceResult<T> {
        let scope =
            journal::Scope::activity(self.engine.store().clone(), instance_id.clone(), activity);
        journal::within(scope, async {
            let result = work.await;
            let finished = match &result {
                Ok(_) => Some(("succeeded", String::new())),
                Err(
                    e @ (ServiceError::Adapter(_)
                    | ServiceError::Engine(_)
                    | ServiceError::Store(_)),
                ) => Some(("failed", e.to_string())),
                Err(_) => None,
            };
            if let Some((state, detail)) = finished {
                journal::record(journal::Step::Finished { state: state.to_string(), detail }).await;
            }
            result
        })
        .await
    }

    async fn bind_now(
        &self, caller: Caller<'_>, instance_id: &InstanceId, binding_id: &BindingId,
        request: BindRequest,
    ) -> ServiceResult<Bound> {
        self.check_bind_request(&request)?;
        // Secure bindings: who may read the credentials, known before the adapter runs.
        let secure = match &self.binding_credentials {
            Some(credhub) => {
                let Some(actor) = secure_bindings::actor(&request) else {
                    tracing::info!(request_id = %caller.request_id, instance = %instance_id, binding = %binding_id, "bind refused: no app guid or credential client id for the CredHub permission");
                    return Err(ServiceError::Unavailable(secure_bindings::NO_ACTOR.into()));
                };
                let name =
                    secure_bindings::credential_name(&request.service_id, instance_id, binding_id)?;
                Some((credhub.clone(), name, actor))
            }
            None => None,
        };
        let instance = self.bindable_instance(instance_id).await?;
        if let Some(pred) = &request.predecessor_binding_id {
            let exists =
                self.binding(instance_id, pred, "bind").await?.is_some_and(|b| !b.is_pending());
            if !exists {
                return Err(ServiceError::BadRequest(format!(
                    "predecessor_binding_id '{pred}' is not a binding of service instance {instance_id}"
                )));
            }
        }
        let identity = json!({
            "service_id": request.service_id,
            "plan_id": request.plan_id,
            "parameters": request.parameters,
            "bind_resource": request.bind_resource,
            "app_guid": request.app_guid,
        });
        let _guard = self.engine.lock(&binding_lock(instance_id, binding_id)).await;
        match self.binding(instance_id, binding_id, "bind").await? {
            Some(existing) if existing.request != identity => {
                return Err(ServiceError::Conflict(format!(
                    "binding {binding_id} already exists with different parameters: unbind it first or use a new binding id"
                )))
            }
            Some(BindingRecord {
                response: Some(response),
                ..
            }) => {
                return Ok(Bound {
                    created: false,
                    response,
                })
            }
            // A binding whose create-binding never answered (the broker stopped mid-call):
            // ask the adapter again.
            Some(_) | None => {}
        }
        let adapter_request =
            self.binding_request(instance_id, binding_id, &instance, &request).await?;
        self.record_binding_intent(instance_id, binding_id, &request, identity).await?;
        let created = match self.engine.adapter().create_binding(&adapter_request).await {
            Ok(created) => created,
            Err(e) => {
                // Nothing was created: the request leaves no record behind.
                self.forget_binding(instance_id, binding_id).await?;
                return Err(ServiceError::adapter(instance_id, "bind", e));
            }
        };
        let mut response = serde_json::to_value(&created).unwrap_or(Value::Null);
        if let Some((credhub, name, actor)) = &secure {
            if let Err(e) =
                secure_bindings::store(credhub, name, actor, instance_id, &mut response).await
            {
                // The platform gets no credentials: nothing may be left that nobody tracks.
                self.forget_binding(instance_id, binding_id).await?;
                secure_bindings::forget(credhub, name).await;
                if let Err(undo) = self.engine.adapter().delete_binding(&adapter_request).await {
                    tracing::warn!(request_id = %caller.request_id, binding = %binding_id, error = %undo, "delete-binding after the CredHub failure failed");
                }
                return Err(e);
            }
        }
        self.keep_binding_response(caller, instance_id, binding_id, &response, &adapter_request)
            .await?;
        tracing::info!(request_id = %caller.request_id, instance = %instance_id, binding = %binding_id, "binding created");
        Ok(Bound { created: true, response })
    }

    /// The create-binding input: the deployment's manifest, VMs, secrets and DNS addresses.
    async fn binding_request(
        &self, instance_id: &InstanceId, binding_id: &BindingId, instance: &InstanceRecord,
        request: &BindRequest,
    ) -> ServiceResult<BindingRequest> {
        let facts = self
            .deployment_facts(instance)
            .await
            .map_err(|e| ServiceError::engine(instance_id, "bind", "bind", e))?;
        let Some(facts) = facts else {
            return Err(ServiceError::NotFound(format!(
                "service instance {instance_id} has no deployment: it may have failed to provision"
            )));
        };
        let dns_addresses = self
            .dns_addresses(instance, &request.plan_id)
            .await
            .map_err(|e| ServiceError::engine(instance_id, "bind", "bind", e))?;
        Ok(BindingRequest {
            binding_id: binding_id.to_string(),
            vms: facts.vms,
            manifest: facts.manifest,
            request_params: adapter_params::bind(request),
            secrets: facts.secrets,
            dns_addresses,
        })
    }

    /// Intent first: if the broker stops while the adapter runs, the record tells a later
    /// unbind to ask the adapter to delete whatever it may have created. The store refuses
    /// it while the instance is being deleted (a leftover record is taken over, with the same
    /// check), so a bind can never race a deprovision.
    async fn record_binding_intent(
        &self, instance_id: &InstanceId, binding_id: &BindingId, request: &BindRequest,
        identity: Value,
    ) -> ServiceResult<()> {
        let record = BindingRecord {
            instance_id: instance_id.clone(),
            id: binding_id.clone(),
            service_id: request.service_id.clone(),
            plan_id: request.plan_id.clone(),
            request: identity,
            response: None,
            created_at: Timestamp::now(),
        };
        match self.engine.store().run(move |s| s.insert_binding(&record)).await {
            Ok(()) => Ok(()),
            Err(StoreError::AlreadyExists) => Err(ServiceError::Conflict(format!(
                "binding {binding_id} was created by another request"
            ))),
            Err(StoreError::InstanceBusy { reason: BindRefusal::Deleted, .. }) => {
                Err(ServiceError::NotFound(format!(
                    "service instance {instance_id} does not exist: it was deleted"
                )))
            }
            Err(StoreError::InstanceBusy { .. }) => Err(ServiceError::Concurrency(format!(
                "service instance {instance_id} is being deleted"
            ))),
            Err(e) => Err(ServiceError::store(instance_id, "bind", e)),
        }
    }

    /// Stores the adapter's answer. When the record went while the adapter ran, nobody would
    /// track these credentials: the adapter is asked to delete them again.
    async fn keep_binding_response(
        &self, caller: Caller<'_>, instance_id: &InstanceId, binding_id: &BindingId,
        response: &Value, adapter_request: &BindingRequest,
    ) -> ServiceResult<()> {
        let (i, b, r) = (instance_id.clone(), binding_id.clone(), response.clone());
        let kept =
            self.stored(instance_id, "bind", move |s| s.set_binding_response(&i, &b, &r)).await?;
        if kept {
            return Ok(());
        }
        tracing::warn!(request_id = %caller.request_id, instance = %instance_id, binding = %binding_id, "binding record gone during create-binding; asking the adapter to delete it");
        if let Err(e) = self.engine.adapter().delete_binding(adapter_request).await {
            tracing::warn!(request_id = %caller.request_id, binding = %binding_id, error = %e, "delete-binding of the orphaned binding failed");
        }
        Err(ServiceError::Concurrency(format!(
            "service instance {instance_id} changed while binding {binding_id} was created: try again"
        )))
    }

    async fn unbind_now(
        &self, caller: Caller<'_>, instance_id: &InstanceId, binding_id: &BindingId,
        request: UnbindRequest,
    ) -> ServiceResult<()> {
        let Some(instance) = self.load_instance(instance_id, "unbind").await? else {
            return Err(ServiceError::Gone(None));
        };
        if instance.state == InstanceState::Deprovisioning {
            return Err(ServiceError::Concurrency(format!(
                "service instance {instance_id} is being deleted: its bindings go with it"
            )));
        }
        let _guard = self.engine.lock(&binding_lock(instance_id, binding_id)).await;
        if self.binding(instance_id, binding_id, "unbind").await?.is_none() {
            return Err(ServiceError::Gone(None));
        }
        let facts = self
            .deployment_facts(&instance)
            .await
            .map_err(|e| ServiceError::engine(instance_id, "unbind", "unbind", e))?;
        if let Some(facts) = facts {
            let dns_addresses = self
                .dns_addresses(&instance, &request.plan_id)
                .await
                .map_err(|e| ServiceError::engine(instance_id, "unbind", "unbind", e))?;
            let adapter_request = BindingRequest {
                binding_id: binding_id.to_string(),
                vms: facts.vms,
                manifest: facts.manifest,
                request_params: adapter_params::unbind(&request.service_id, &request.plan_id),
                secrets: facts.secrets,
                dns_addresses,
            };
            match self.engine.adapter().delete_binding(&adapter_request).await {
                Ok(()) => {}
                Err(AdapterError::BindingNotFound(_)) => {
                    tracing::info!(request_id = %caller.request_id, binding = %binding_id, "the adapter reports the binding gone; removing it");
                    self.forget_binding(instance_id, binding_id).await?;
                    self.forget_secure_credentials(instance_id, binding_id).await;
                    return Err(ServiceError::Gone(None));
                }
                Err(e) => return Err(ServiceError::adapter(instance_id, "unbind", e)),
            }
        }
        self.forget_binding(instance_id, binding_id).await?;
        self.forget_secure_credentials(instance_id, binding_id).await;
        tracing::info!(request_id = %caller.request_id, instance = %instance_id, binding = %binding_id, "binding deleted");
        Ok(())
    }

    /// With secure bindings, deletes a binding's credentials from CredHub (after the adapter's
    /// delete-binding); a failure is only logged.
    async fn forget_secure_credentials(&self, instance_id: &InstanceId, binding_id: &BindingId) {
        let Some(credhub) = &self.binding_credentials else {
            return;
        };
        // The catalog's service id, which every bind was checked against: never the one an
        // unbind request names.
        match secure_bindings::credential_name(&self.config.catalog.id, instance_id, binding_id) {
            Ok(name) => secure_bindings::forget(credhub, &name).await,
            Err(e) => {
                tracing::warn!(binding = %binding_id, error = %e, "cannot name the binding's credentials in CredHub")
            }
        }
    }

    /// A stored binding: the adapter's answer with the request's parameters.
    pub async fn fetch_binding(
        &self, instance_id: &InstanceId, binding_id: &BindingId,
    ) -> ServiceResult<Value> {
        let Some(record) =
            self.binding(instance_id, binding_id, "fetch").await?.filter(|b| !b.is_pending())
        else {
            return Err(ServiceError::NotFound(format!("binding {binding_id} does not exist")));
        };
        let mut body =
            record.response.as_ref().and_then(Value::as_object).cloned().unwrap_or_default();
        body.insert("parameters".into(), record.request["parameters"].clone());
        Ok(Value::Object(body))
    }

    /// Whether a binding exists (bindings are synchronous: an existing one has succeeded).
    pub async fn binding_exists(
        &self, instance_id: &InstanceId, binding_id: &BindingId,
    ) -> ServiceResult<()> {
        match self.binding(instance_id, binding_id, "fetch").await?.filter(|b| !b.is_pending()) {
            Some(_) => Ok(()),
            None => Err(ServiceError::NotFound(format!("binding {binding_id} does not exist"))),
        }
    }
}

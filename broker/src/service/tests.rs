//! In-process tests of the use cases: a real store in a temporary directory, the simulated
//! director, and a small shell-script adapter, with no HTTP in between.

use super::*;
use crate::adapter::AdapterClient;
use crate::director::simulated::SimulatedDirector;
use crate::ids::parsed;
use crate::store::{OperationKind, OperationState, Store};
use serde_json::json;
use std::path::Path;
use std::time::Duration;

const SERVICE: &str = "svc-id";
const SMALL: &str = "plan-small";
const LOCKED: &str = "plan-locked";
const SOLO: &str = "plan-solo";
/// Asserts that a result is the [`ServiceError`] named, as in `Conflict("text")`: that variant, with
/// the text in its message.
macro_rules! assert_refused {
    ($variant:ident($text:expr), $result:expr) => {{
        let err = &$result.expect_err("a refusal");
        assert!(
            matches!(err, ServiceError::$variant(m) if m.contains($text)),
            "{err:?}"
        );
    }};
}

const CALLER: Caller<'static> = Caller { request_id: "req-1" };

/// An adapter that deploys a one-VM manifest named after the deployment, creates a binding
/// with a fixed password, and fails on request: `fail-generate` anywhere in the input makes
/// generate-manifest exit 1 with a message, `requires-app` makes create-binding exit 42.
const ADAPTER: &str = r#"#!/bin/sh
input=$(cat)
case "$1" in
  generate-manifest)
    case "$input" in *fail-generate*) printf 'the adapter refuses this plan'; exit 1;; esac
    name=$(printf '%s' "$input" | grep -o 'service-instance_[A-Za-z0-9._-]*' | head -n 1)
    printf '{"manifest":"name: %s\\nreleases: [{name: redis, version: 1.0.0}]\\nstemcells: [{alias: default, os: ubuntu-jammy, version: \\"1.404\\"}]\\ninstance_groups: [{name: redis, instances: 1, jobs: [{name: redis-server, release: redis}], vm_type: small, stemcell: default, networks: [{name: default}], azs: [z1]}]\\nupdate: {canaries: 1, max_in_flight: 1, canary_watch_time: 1000, update_watch_time: 1000}\\n","secrets":null,"configs":null}' "$name";;
  create-binding)
    case "$input" in *requires-app*) exit 42;; esac
    printf '{"credentials":{"password":"pw-in-process"}}';;
  delete-binding) exit 0;;
  *) exit 10;;
esac
"#;

fn config_yaml(dir: &Path, adapter: &Path) -> String {
    format!(
        r#"
broker: {{port: 0, username: u, password: p, worker_interval_millis: 50}}
service_adapter: {{path: {adapter}, timeout_seconds: 20}}
database: {{path: {db}}}
simulated_director: {{task_seconds: 0}}
service_deployment:
  releases: [{{name: redis, version: 1.0.0, jobs: [redis-server]}}]
  stemcells: [{{os: ubuntu-jammy, version: "1.404"}}]
service_catalog:
  id: {SERVICE}
  service_name: svc
  service_description: a service
  bindable: true
  plan_updatable: true
  plans:
    - plan_id: {SMALL}
      name: small
      description: small
      instance_groups: [{{name: redis, vm_type: small, instances: 1, networks: [default], azs: [z1]}}]
    - plan_id: {LOCKED}
      name: locked
      description: not updatable to, not bindable
      plan_updatable: false
      bindable: false
      instance_groups: [{{name: redis, vm_type: small, instances: 1, networks: [default], azs: [z1]}}]
    - plan_id: {SOLO}
      name: solo
      description: one instance at most
      quotas: {{service_instance_limit: 1}}
      instance_groups: [{{name: redis, vm_type: small, instances: 1, networks: [default], azs: [z1]}}]
"#,
        adapter = adapter.display(),
        db = dir.join("broker.db").display(),
    )
}

/// The use cases over a fresh store and the simulated director.
struct Fixture {
    _dir: tempfile::TempDir,
    broker: Broker,
}

fn fixture() -> Fixture {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let adapter = dir.path().join("adapter.sh");
    std::fs::write(&adapter, ADAPTER).unwrap();
    std::fs::set_permissions(&adapter, std::fs::Permissions::from_mode(0o755)).unwrap();
    let config_path = dir.path().join("broker.yml");
    std::fs::write(&config_path, config_yaml(dir.path(), &adapter)).unwrap();
    let config =
        Arc::new(crate::config::load(Some(&config_path), &Default::default()).unwrap().config);
    let store = Store::open_location(&config.database, None).unwrap();
    let director = Arc::new(SimulatedDirector::new(store.clone(), Duration::ZERO));
    let adapter = AdapterClient::new(config.adapter.clone()).unwrap();
    let engine = Arc::new(Engine::new(config.clone(), store, director, adapter));
    Fixture { _dir: dir, broker: Broker::new(config, engine, BTreeMap::new()) }
}

fn provision_request(plan: &str, parameters: Value) -> ProvisionRequest {
    ProvisionRequest {
        service_id: parsed(SERVICE),
        plan_id: parsed(plan),
        organization_guid: "org".into(),
        space_guid: "space".into(),
        context: Some(json!({"platform": "cloudfoundry"})),
        parameters,
        maintenance_info: None,
        accepts_incomplete: true,
    }
}

fn bind_request(parameters: Value) -> BindRequest {
    BindRequest {
        service_id: parsed(SERVICE),
        plan_id: parsed(SMALL),
        parameters,
        bind_resource: None,
        context: None,
        app_guid: Some("app".into()),
        predecessor_binding_id: None,
    }
}

/// The use cases as the test's caller calls them, the ids given as text.
impl Fixture {
    async fn try_provision(
        &self, instance: &str, request: ProvisionRequest,
    ) -> ServiceResult<Provisioned> {
        self.broker.provision(CALLER, &parsed(instance), request).await
    }

    async fn update(&self, instance: &str, request: UpdateRequest) -> ServiceResult<Accepted> {
        self.broker.update(CALLER, &parsed(instance), request).await
    }

    async fn deprovision(&self, instance: &str) -> ServiceResult<Accepted> {
        let request = DeprovisionRequest {
            service_id: parsed(SERVICE),
            plan_id: parsed(SMALL),
            accepts_incomplete: true,
            force: false,
        };
        self.broker.deprovision(CALLER, &parsed(instance), request).await
    }

    async fn bind(
        &self, instance: &str, binding: &str, request: BindRequest,
    ) -> ServiceResult<Bound> {
        self.broker.bind(CALLER, &parsed(instance), &parsed(binding), request).await
    }

    async fn unbind(&self, instance: &str, binding: &str) -> ServiceResult<()> {
        let request = UnbindRequest { service_id: parsed(SERVICE), plan_id: parsed(SMALL) };
        self.broker.unbind(CALLER, &parsed(instance), &parsed(binding), request).await
    }

    async fn manage(
        &self, instance: &str, kind: OperationKind, context: Option<Value>,
    ) -> ServiceResult<ManagementOperation> {
        self.broker.start_management_operation(CALLER, &parsed(instance), kind, context).await
    }

    async fn last_operation(
        &self, instance: &str, operation: Option<&crate::ids::OperationId>,
    ) -> ServiceResult<OperationView> {
        self.broker.last_operation(CALLER, &parsed(instance), operation).await
    }

    async fn provision(&self, instance: &str, plan: &str) -> Accepted {
        match self.try_provision(instance, provision_request(plan, json!({}))).await.unwrap() {
            Provisioned::Accepted(a) => a,
            other => panic!("expected a new provision, got {other:?}"),
        }
    }

    /// Polls last_operation until the operation is no longer in progress.
    async fn finish(&self, instance: &str) -> OperationView {
        for _ in 0..200 {
            let view = self.last_operation(instance, None).await.unwrap();
            if view.state != OperationState::InProgress {
                return view;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("the operation of {instance} did not finish");
    }

    async fn ready(&self, instance: &str) {
        self.provision(instance, SMALL).await;
        assert_eq!(self.finish(instance).await.state, OperationState::Succeeded);
    }

    async fn stored_binding_ids(&self, instance: &str) -> Vec<String> {
        self.broker
            .list_bindings(&parsed(instance))
            .await
            .unwrap()
            .into_iter()
            .map(|b| b.binding_id.to_string())
            .collect()
    }
}

fn update_request(parameters: Option<Value>) -> UpdateRequest {
    UpdateRequest {
        service_id: parsed(SERVICE),
        plan_id: None,
        parameters,
        context: None,
        previous_values: None,
        maintenance_info: None,
        accepts_incomplete: true,
    }
}

#[tokio::test]
async fn a_provision_is_accepted_then_succeeds_and_can_be_fetched() {
    let f = fixture();
    let accepted = f.provision("inst-1", SMALL).await;
    assert!(!accepted.operation.is_empty());
    let view = f.finish("inst-1").await;
    assert_eq!(view.kind, OperationKind::Create);
    assert_eq!(view.description, "Instance provisioning completed");
    let fetched = f.broker.fetch_instance(&parsed("inst-1")).await.unwrap();
    assert_eq!(fetched.plan_id, SMALL);
    assert_eq!(fetched.parameters, json!({}));
    assert!(fetched.labels.is_empty(), "{:?}", fetched.labels);
}

#[tokio::test]
async fn a_provision_without_accepts_incomplete_is_refused() {
    let f = fixture();
    let mut request = provision_request(SMALL, json!({}));
    request.accepts_incomplete = false;
    let err = f.try_provision("sync", request).await.unwrap_err();
    assert!(matches!(err, ServiceError::AsyncRequired), "{err:?}");
}

#[tokio::test]
async fn unknown_service_and_plan_ids_are_bad_requests_naming_what_to_use() {
    let f = fixture();
    let mut request = provision_request(SMALL, json!({}));
    request.service_id = parsed("other");
    assert_refused!(BadRequest("use 'svc-id'"), f.try_provision("x", request).await);
    assert_refused!(
        BadRequest("plan-small"),
        f.try_provision("x", provision_request("nope", json!({}))).await
    );
}

#[tokio::test]
async fn an_identical_provision_in_flight_gets_the_same_operation() {
    let f = fixture();
    let first = f.provision("twice", SMALL).await;
    let again = f.try_provision("twice", provision_request(SMALL, json!({}))).await.unwrap();
    assert_eq!(again, Provisioned::Accepted(first));
}

#[tokio::test]
async fn an_identical_provision_after_success_is_already_there() {
    let f = fixture();
    f.ready("done").await;
    let again = f.try_provision("done", provision_request(SMALL, json!({}))).await.unwrap();
    assert_eq!(again, Provisioned::AlreadyExists { dashboard_url: None });
}

#[tokio::test]
async fn a_different_provision_of_the_same_id_is_a_conflict() {
    let f = fixture();
    f.ready("taken").await;
    let err =
        f.try_provision("taken", provision_request(SMALL, json!({"a": 1}))).await.unwrap_err();
    assert!(matches!(err, ServiceError::Conflict(_)), "{err:?}");
    let mut other_space = provision_request(SMALL, json!({}));
    other_space.space_guid = "elsewhere".into();
    assert_refused!(Conflict("space"), f.try_provision("taken", other_space).await);
}

#[tokio::test]
async fn a_provision_the_adapter_refuses_leaves_nothing_behind() {
    let f = fixture();
    let err = f
        .try_provision("refused", provision_request(SMALL, json!({"fail-generate": true})))
        .await
        .unwrap_err();
    match err {
        ServiceError::Engine(failure) => {
            assert_eq!(failure.action, "create");
            assert!(failure.source.to_string().contains("generate-manifest"), "{}", failure.source);
        }
        other => panic!("expected an engine failure, got {other:?}"),
    }
    let err = f.broker.fetch_instance(&parsed("refused")).await.unwrap_err();
    assert!(matches!(err, ServiceError::NotFound(_)), "{err:?}");
    // The id is free again.
    f.ready("refused").await;
}

#[tokio::test]
async fn a_plan_quota_refuses_one_instance_too_many() {
    let f = fixture();
    f.provision("solo-1", SOLO).await;
    assert_refused!(
        Unprocessable("quota"),
        f.try_provision("solo-2", provision_request(SOLO, json!({}))).await
    );
}

#[tokio::test]
async fn an_update_merges_parameters_once_it_succeeds() {
    let f = fixture();
    f.ready("upd").await;
    f.update("upd", update_request(Some(json!({"a": 1})))).await.unwrap();
    let view = f.finish("upd").await;
    assert_eq!((view.kind, view.state), (OperationKind::Update, OperationState::Succeeded));
    let fetched = f.broker.fetch_instance(&parsed("upd")).await.unwrap();
    assert_eq!(fetched.parameters, json!({"a": 1}));
}

#[tokio::test]
async fn an_update_of_an_unknown_instance_is_not_found() {
    let f = fixture();
    let err = f.update("ghost", update_request(None)).await.unwrap_err();
    assert!(matches!(err, ServiceError::NotFound(_)), "{err:?}");
}

#[tokio::test]
async fn a_change_to_a_plan_that_does_not_allow_it_is_refused() {
    let f = fixture();
    f.ready("move").await;
    let mut request = update_request(None);
    request.plan_id = Some(parsed(LOCKED));
    assert_refused!(
        Unprocessable("plan changes are not supported"),
        f.update("move", request).await
    );
}

#[tokio::test]
async fn an_update_while_the_provision_runs_is_a_concurrency_error() {
    let f = fixture();
    f.provision("busy", SMALL).await;
    assert_refused!(
        Concurrency("provisioning in progress"),
        f.update("busy", update_request(Some(json!({"a": 1})))).await
    );
}

#[tokio::test]
async fn a_deprovision_deletes_and_a_second_one_finds_it_gone() {
    let f = fixture();
    f.ready("del").await;
    let accepted = f.deprovision("del").await.unwrap();
    assert_eq!(accepted.dashboard_url, None);
    let view = f.finish("del").await;
    assert_eq!((view.kind, view.state), (OperationKind::Delete, OperationState::Succeeded));
    assert_refused!(NotFound("deleted"), f.broker.fetch_instance(&parsed("del")).await);
    let err = f.deprovision("del").await.unwrap_err();
    assert!(matches!(err, ServiceError::Gone(None)), "{err:?}");
}

#[tokio::test]
async fn a_deprovision_of_an_unknown_instance_is_gone() {
    let f = fixture();
    let err = f.deprovision("never").await.unwrap_err();
    assert!(matches!(err, ServiceError::Gone(None)), "{err:?}");
}

#[tokio::test]
async fn a_deprovision_while_an_update_runs_is_a_concurrency_error() {
    let f = fixture();
    f.ready("upd-del").await;
    f.update("upd-del", update_request(Some(json!({"a": 2})))).await.unwrap();
    let err = f.deprovision("upd-del").await.unwrap_err();
    assert!(matches!(err, ServiceError::Concurrency(_)), "{err:?}");
}

#[tokio::test]
async fn a_bind_creates_credentials_and_an_identical_one_gets_them_again() {
    let f = fixture();
    f.ready("b1").await;
    let bound = f.bind("b1", "bind-1", bind_request(json!({}))).await.unwrap();
    assert!(bound.created);
    assert_eq!(bound.response["credentials"]["password"], "pw-in-process");
    let again = f.bind("b1", "bind-1", bind_request(json!({}))).await.unwrap();
    assert!(!again.created);
    assert_eq!(again.response, bound.response);
    let err = f.bind("b1", "bind-1", bind_request(json!({"x": 1}))).await.unwrap_err();
    assert!(matches!(err, ServiceError::Conflict(_)), "{err:?}");
    let fetched = f.broker.fetch_binding(&parsed("b1"), &parsed("bind-1")).await.unwrap();
    assert_eq!(fetched["parameters"], json!({}));
    assert_eq!(fetched["credentials"]["password"], "pw-in-process");
}

#[tokio::test]
async fn a_bind_on_an_unknown_instance_is_not_found() {
    let f = fixture();
    let err = f.bind("none", "b", bind_request(json!({}))).await.unwrap_err();
    assert!(matches!(err, ServiceError::NotFound(_)), "{err:?}");
}

#[tokio::test]
async fn a_bind_while_the_provision_runs_is_a_concurrency_error() {
    let f = fixture();
    f.provision("early", SMALL).await;
    assert_refused!(
        Concurrency("still being provisioned"),
        f.bind("early", "b", bind_request(json!({}))).await
    );
}

#[tokio::test]
async fn a_bind_on_a_plan_that_is_not_bindable_is_a_bad_request() {
    let f = fixture();
    f.ready("nb").await;
    let mut request = bind_request(json!({}));
    request.plan_id = parsed(LOCKED);
    assert_refused!(BadRequest("not bindable"), f.bind("nb", "b", request).await);
}

#[tokio::test]
async fn a_bind_the_adapter_refuses_leaves_no_binding() {
    let f = fixture();
    f.ready("app").await;
    let err = f.bind("app", "b", bind_request(json!({"requires-app": true}))).await.unwrap_err();
    match err {
        ServiceError::Adapter(failure) => assert!(
            matches!(failure.source, crate::adapter::AdapterError::AppGuidNotProvided(_)),
            "{:?}",
            failure.source
        ),
        other => panic!("expected an adapter failure, got {other:?}"),
    }
    assert!(f.stored_binding_ids("app").await.is_empty());
}

#[tokio::test]
async fn rotation_needs_a_rotatable_plan_and_an_existing_predecessor() {
    let f = fixture();
    f.ready("rot").await;
    let mut request = bind_request(json!({}));
    request.predecessor_binding_id = Some(parsed("old"));
    assert_refused!(BadRequest("binding_rotatable"), f.bind("rot", "new", request).await);
}

#[tokio::test]
async fn an_unbind_forgets_the_binding_and_a_second_one_finds_it_gone() {
    let f = fixture();
    f.ready("ub").await;
    f.bind("ub", "b", bind_request(json!({}))).await.unwrap();
    assert_eq!(f.stored_binding_ids("ub").await, vec!["b".to_string()]);
    f.unbind("ub", "b").await.unwrap();
    assert!(f.stored_binding_ids("ub").await.is_empty());
    let err = f.unbind("ub", "b").await.unwrap_err();
    assert!(matches!(err, ServiceError::Gone(None)), "{err:?}");
    let err = f.broker.binding_exists(&parsed("ub"), &parsed("b")).await.unwrap_err();
    assert!(matches!(err, ServiceError::NotFound(_)), "{err:?}");
}

#[tokio::test]
async fn bind_and_unbind_while_a_deprovision_runs_are_concurrency_errors() {
    let f = fixture();
    f.ready("going").await;
    f.bind("going", "kept", bind_request(json!({}))).await.unwrap();
    f.deprovision("going").await.unwrap();
    let err = f.bind("going", "late", bind_request(json!({}))).await.unwrap_err();
    assert!(matches!(err, ServiceError::Concurrency(_)), "{err:?}");
    let err = f.unbind("going", "kept").await.unwrap_err();
    assert!(matches!(err, ServiceError::Concurrency(_)), "{err:?}");
}

#[tokio::test]
async fn last_operation_of_an_unknown_instance_is_not_found() {
    let f = fixture();
    let err = f.last_operation("nobody", None).await.unwrap_err();
    assert!(matches!(err, ServiceError::NotFound(_)), "{err:?}");
}

#[tokio::test]
async fn last_operation_ignores_an_operation_of_another_instance() {
    let f = fixture();
    let other = f.provision("other", SMALL).await;
    f.ready("mine").await;
    let foreign = crate::ids::OperationId::parse(&other.operation).unwrap();
    let view = f.last_operation("mine", Some(&foreign)).await.unwrap();
    assert_eq!(view.kind, OperationKind::Create);
    assert_eq!(view.state, OperationState::Succeeded);
}

#[tokio::test]
async fn the_management_list_shows_instances_with_their_last_operation() {
    let f = fixture();
    f.ready("listed").await;
    let listed = f.broker.list_instances().await.unwrap();
    let entry = listed.iter().find(|i| i.service_instance_id == "listed").expect("listed");
    assert_eq!(entry.deployment_name, "service-instance_listed");
    assert_eq!(entry.state, "ready");
    let op = entry.last_operation.as_ref().unwrap();
    assert_eq!((op.kind, op.state), ("create", "succeeded"));
    let metrics = f.broker.quota_metrics().await.unwrap();
    assert!(metrics
        .iter()
        .any(|m| m.key == "/on-demand-broker/svc/small/total_instances" && m.value == 1));
    let gauges = f.broker.metric_gauges().await.unwrap();
    assert_eq!(gauges.instances.get(&("small".into(), "ready".into())), Some(&1));
    assert_eq!(gauges.in_flight, 0);
    // The solo plan allows one instance; none is used yet.
    let solo = ("solo".to_string(), "instances".to_string());
    assert_eq!(gauges.quota_used.get(&solo), Some(&0));
    assert_eq!(gauges.quota_limit.get(&solo), Some(&1));
}

#[tokio::test]
async fn a_recreate_runs_once_at_a_time_and_needs_a_live_instance() {
    let f = fixture();
    f.ready("rec").await;
    let started = f.manage("rec", OperationKind::Recreate, None).await.unwrap();
    assert_eq!(started.kind, OperationKind::Recreate);
    assert_refused!(
        Conflict(started.operation.as_str()),
        f.manage("rec", OperationKind::Upgrade, None).await
    );
    assert_eq!(f.finish("rec").await.state, OperationState::Succeeded);
    let err = f.manage("missing", OperationKind::Recreate, None).await.unwrap_err();
    assert!(matches!(err, ServiceError::Gone(Some(_))), "{err:?}");
}

#[tokio::test]
async fn an_upgrade_moves_the_instance_and_gives_the_adapter_the_context() {
    let f = fixture();
    f.ready("upg").await;
    f.manage("upg", OperationKind::Upgrade, Some(json!({"platform": "kubernetes"}))).await.unwrap();
    let view = f.finish("upg").await;
    assert_eq!((view.kind, view.state), (OperationKind::Upgrade, OperationState::Succeeded));
}

#[tokio::test]
async fn orphan_deployments_are_those_without_a_live_instance() {
    let f = fixture();
    f.ready("alive").await;
    f.ready("dead").await;
    f.deprovision("dead").await.unwrap();
    f.finish("dead").await;
    let orphans = f.broker.orphan_deployments(CALLER).await.unwrap();
    assert!(!orphans.contains(&"service-instance_alive".to_string()), "{orphans:?}");
    assert!(
        !orphans.contains(&"service-instance_dead".to_string()),
        "the deleted deployment is gone from the director: {orphans:?}"
    );
}

#[test]
fn the_upgrade_decision_needs_an_outdated_instance_and_nothing_else_changing() {
    use super::instances::tests_support::decide;
    // (instance version, requested version, target version, same plan, parameters)
    assert!(decide(Some("1"), Some("2"), Some("2"), true, json!({})));
    assert!(!decide(Some("1"), Some("2"), Some("2"), false, json!({})));
    assert!(!decide(Some("1"), Some("2"), Some("2"), true, json!({"a": 1})));
    assert!(!decide(Some("2"), Some("2"), Some("2"), true, json!({})));
    assert!(!decide(None, Some("2"), Some("2"), true, json!({})));
}

/// Futures move whole: a request or worker future that holds a whole operation step (adapter,
/// director and CredHub calls inline, tens of kilobytes) costs stack and copies on every
/// request. The steps are boxed where they start; this keeps it so.
#[tokio::test]
async fn request_and_worker_futures_stay_small() {
    const LIMIT: usize = 16 * 1024;
    let f = fixture();
    let (id, binding, op) = (parsed("x"), parsed("b"), parsed("o"));
    let engine = f.broker.engine();
    let sizes = [
        (
            "provision",
            size_of_val(&f.broker.provision(CALLER, &id, provision_request(SMALL, json!({})))),
        ),
        ("update", size_of_val(&f.broker.update(CALLER, &id, update_request(None)))),
        ("last_operation", size_of_val(&f.broker.last_operation(CALLER, &id, None))),
        ("bind", size_of_val(&f.broker.bind(CALLER, &id, &binding, bind_request(json!({}))))),
        ("drive", size_of_val(&engine.drive(&op))),
        ("drive_all", size_of_val(&engine.drive_all())),
    ];
    for (name, size) in sizes {
        assert!(
            size <= LIMIT,
            "the {name} future is {size} bytes, over {LIMIT}: box the step it awaits"
        );
    }
}

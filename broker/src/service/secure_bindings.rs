//! Secure binding credentials (`credhub:`): the credentials create-binding returns are kept
//! in the runtime CredHub at `/c/<service id>/<instance id>/<binding id>/credentials`, the
//! application (or UAA client) the binding is for is granted `read` on them, and the platform
//! gets `{"credhub-ref": "<that name>"}` in their place. The broker's database keeps only the
//! reference.

use super::{BindRequest, ServiceError};
use crate::config_server::{ConfigServer, CredentialValue};
use crate::credhub::{CredhubClient, Permission};
use crate::engine::manifest_secrets::SecretsError;
use crate::engine::EngineError;
use crate::ids::{log_safe, BindingId, InstanceId};
use crate::url_path::UrlPath;
use serde_json::{json, Value};

/// The Go broker's answer (500) to a bind with neither an app guid nor a credential client id.
pub const NO_ACTOR: &str = "No app-guid or credential client ID were provided in the binding request, you must configure one of these";

/// Who may read a binding's credentials: `mtls-app:<app guid>` (from `app_guid`, else
/// `bind_resource.app_guid`), else `uaa-client:<bind_resource.credential_client_id>`.
pub fn actor(request: &BindRequest) -> Option<String> {
    let resource = |key: &str| {
        request
            .bind_resource
            .as_ref()
            .and_then(|r| r.get(key))
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    };
    let app = request.app_guid.clone().filter(|s| !s.is_empty()).or_else(|| resource("app_guid"));
    match app {
        Some(guid) => Some(format!("mtls-app:{guid}")),
        None => resource("credential_client_id").map(|id| format!("uaa-client:{id}")),
    }
}

/// The credential name of a binding, each part one encoded path segment.
pub fn credential_name(
    service_id: &str, instance_id: &InstanceId, binding_id: &BindingId,
) -> Result<String, ServiceError> {
    UrlPath::root()
        .segment("c")
        .segment(service_id)
        .segment(instance_id.as_str())
        .segment(binding_id.as_str())
        .segment("credentials")
        .to_relative()
        .map_err(|e| {
            ServiceError::BadRequest(format!(
                "the binding's credentials cannot be named in CredHub: {e}"
            ))
        })
}

/// True for credentials worth storing: anything but `null`, `{}`, `[]` and `""`.
fn has_content(credentials: &Value) -> bool {
    match credentials {
        Value::Null => false,
        Value::Object(m) => !m.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::String(s) => !s.is_empty(),
        _ => true,
    }
}

fn failed(instance_id: &InstanceId, e: crate::config_server::ConfigServerError) -> ServiceError {
    ServiceError::engine(
        instance_id,
        "bind",
        "bind",
        EngineError::Secrets(SecretsError::ConfigServer(e)),
    )
}

/// Stores the credentials of `response` in CredHub, grants `actor` read on them, and puts
/// the reference in their place. Empty credentials are left as they are.
pub async fn store(
    credhub: &CredhubClient, name: &str, actor: &str, instance_id: &InstanceId,
    response: &mut Value,
) -> Result<(), ServiceError> {
    let credentials = response.get("credentials").cloned().unwrap_or(Value::Null);
    if !has_content(&credentials) {
        return Ok(());
    }
    let value = CredentialValue::from_secret(&credentials).map_err(|e| failed(instance_id, e))?;
    credhub.set(name, &value).await.map_err(|e| failed(instance_id, e))?;
    credhub.grant(name, actor, Permission::Read).await.map_err(|e| failed(instance_id, e))?;
    response["credentials"] = json!({ "credhub-ref": name });
    tracing::info!(instance = %instance_id, credential = %log_safe(name, 300), actor = %log_safe(actor, 200), "binding credentials stored in CredHub");
    Ok(())
}

/// Deletes a binding's credentials from CredHub; a failure is only logged (the binding is
/// gone either way).
pub async fn forget(credhub: &CredhubClient, name: &str) {
    if let Err(e) = credhub.delete(name).await {
        tracing::warn!(credential = %log_safe(name, 300), error = %log_safe(&e.to_string(), 1000), "could not delete the binding's credentials from CredHub");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(app: Option<&str>, resource: Value) -> BindRequest {
        BindRequest {
            service_id: crate::ids::parsed("s"),
            plan_id: crate::ids::parsed("p"),
            parameters: json!({}),
            bind_resource: Some(resource),
            context: None,
            app_guid: app.map(str::to_string),
            predecessor_binding_id: None,
        }
    }

    #[test]
    fn the_actor_is_the_app_then_the_credential_client() {
        assert_eq!(
            actor(&request(Some("a1"), json!({"app_guid": "a2"}))).as_deref(),
            Some("mtls-app:a1")
        );
        assert_eq!(
            actor(&request(None, json!({"app_guid": "a2", "credential_client_id": "c"})))
                .as_deref(),
            Some("mtls-app:a2")
        );
        assert_eq!(
            actor(&request(Some(""), json!({"credential_client_id": "c"}))).as_deref(),
            Some("uaa-client:c")
        );
        assert_eq!(actor(&request(None, json!({}))), None);
        let without_resource = BindRequest { bind_resource: None, ..request(None, json!({})) };
        assert_eq!(actor(&without_resource), None);
    }

    #[test]
    fn credential_names_keep_every_part_one_segment() {
        let i = InstanceId::parse("inst-1").unwrap();
        let b = BindingId::parse("bind.1").unwrap();
        assert_eq!(credential_name("svc", &i, &b).unwrap(), "/c/svc/inst-1/bind.1/credentials");
        assert_eq!(
            credential_name("a/../b", &i, &b).unwrap(),
            "/c/a%2F..%2Fb/inst-1/bind.1/credentials"
        );
        assert!(credential_name("..", &i, &b).is_err());
    }

    #[test]
    fn empty_credentials_are_not_stored() {
        for empty in [Value::Null, json!({}), json!([]), json!("")] {
            assert!(!has_content(&empty));
        }
        assert!(has_content(&json!({"p": 1})));
        assert!(has_content(&json!("x")));
    }
}

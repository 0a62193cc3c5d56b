//! create-binding and delete-binding: credentials for an application.
//!
//! Every binding gets the instance's admin password (Redis here has a single password,
//! no per-user ACLs), so there is nothing to create or revoke per binding. The adapter
//! never connects to Redis: credentials come from the deployed manifest, the VMs BOSH
//! reports and the DNS addresses the broker passes.

use serde_json::{json, Value};
use service_adapter::{Binding, CreateBindingParams, DeleteBindingParams};

use crate::manifest::redis_properties;
use crate::parameters::BindingParameters;
use crate::settings::{as_integer, DNS_ADDRESS_KEY, REDIS_PORT, REDIS_SERVER};
use service_adapter::AdapterError;

/// Creates bindings for the Redis service.
#[derive(Debug, Clone, Copy, Default)]
pub struct RedisBinder;

/// Builds the credentials `{host, hosts, port, password, uri[, dns_address][, app_guid]}`.
///
/// `hosts` are the IPs of every `redis-server` VM; `host` is the BOSH DNS address
/// `redis-address` when the broker sends one, else the first IP. With the bind parameter
/// `app_scoped: true` the request must carry an app GUID (else
/// [`AdapterError::AppGuidNotProvided`], exit 42) and it is added as `app_guid`.
pub fn create_binding(params: &CreateBindingParams) -> Result<Binding, AdapterError> {
    let binding_params = BindingParameters::parse(&params.request_params.arbitrary_params())?;
    let app_guid = params.request_params.app_guid();
    if binding_params.app_scoped && app_guid.is_none() {
        return Err(AdapterError::app_guid_not_provided(format!(
            "binding {} has app_scoped: true, which needs an application; bind the instance \
             to an app instead of creating a service key, or leave out app_scoped",
            params.binding_id
        )));
    }
    let hosts: Vec<String> =
        params.deployment_topology.get(REDIS_SERVER).cloned().unwrap_or_default();
    let Some(first_ip) = hosts.first() else {
        return Err(AdapterError::other(format!(
            "no {REDIS_SERVER} VMs found for this instance: it may still be deploying or its \
             VMs may have failed. Retry once the deployment's VMs are running."
        )));
    };
    let redis = redis_properties(&params.manifest);
    let password = redis
        .and_then(|r| r.get("password"))
        .and_then(Value::as_str)
        .filter(|p| !p.is_empty())
        .ok_or_else(|| {
            AdapterError::other(format!(
                "the deployed manifest has no redis.password for the {REDIS_SERVER} job; \
                 the instance's deployment is not one this adapter generated"
            ))
        })?;
    let password = resolved_password(password, params.secrets.as_ref())?;
    let port = redis.and_then(|r| r.get("port")).and_then(as_integer).unwrap_or(REDIS_PORT);
    let dns_address = params
        .dns_addresses
        .as_ref()
        .and_then(|d| d.get(DNS_ADDRESS_KEY))
        .filter(|a| !a.is_empty());
    let host = dns_address.unwrap_or(first_ip);

    let mut credentials = json!({
        "host": host,
        "hosts": hosts,
        "port": port,
        "password": password,
        "uri": format!("redis://:{}@{host}:{port}", encode_userinfo(password)),
    });
    if let Some(address) = dns_address {
        credentials["dns_address"] = json!(address);
    }
    if binding_params.app_scoped {
        credentials["app_guid"] = json!(app_guid);
    }
    Ok(Binding { credentials: Some(credentials), ..Binding::default() })
}

/// The password as the deployment runs with it: the manifest's text, or, when that is a
/// `((variable))` reference (`secure_password`), the value the broker resolved for it.
fn resolved_password<'a>(
    in_manifest: &'a str, secrets: Option<&'a service_adapter::ManifestSecrets>,
) -> Result<&'a str, AdapterError> {
    if !(in_manifest.starts_with("((") && in_manifest.ends_with("))")) {
        return Ok(in_manifest);
    }
    secrets
        .and_then(|s| s.get(in_manifest))
        .map(String::as_str)
        .filter(|p| !p.is_empty())
        .ok_or_else(|| {
            AdapterError::other(format!(
                "the broker sent no value for {in_manifest}, the admin password of this \
                 instance: the plan's secure_password needs the broker's \
                 enable_secure_manifests (and a config server)"
            ))
        })
}

/// Deletes a binding. Always succeeds: bindings share the admin password, so there is
/// nothing to revoke, and the adapter keeps no record of bindings, so it cannot tell an
/// unknown binding apart (the broker's own store answers that). A missing manifest or
/// no VMs (a deployment already gone) is therefore not an error either.
pub fn delete_binding(_params: &DeleteBindingParams) -> Result<(), AdapterError> {
    Ok(())
}

/// Percent-encodes everything but RFC 3986 unreserved characters, so any password is
/// safe inside the URI's user-info.
fn encode_userinfo(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use service_adapter::bosh::{self, BoshManifest};
    use service_adapter::{DnsAddresses, Properties, RequestParameters};

    fn manifest(password: &str) -> BoshManifest {
        let mut props = Properties::new();
        props.insert(
            "redis".into(),
            json!({"port": 6379, "password": password, "persistence": "no"}),
        );
        BoshManifest {
            name: "service-instance_abc".into(),
            instance_groups: vec![bosh::InstanceGroup {
                name: REDIS_SERVER.into(),
                instances: 2,
                jobs: vec![bosh::Job {
                    name: REDIS_SERVER.into(),
                    release: "redis".into(),
                    properties: props,
                    ..bosh::Job::default()
                }],
                ..bosh::InstanceGroup::default()
            }],
            ..BoshManifest::default()
        }
    }

    fn request(value: Value) -> RequestParameters {
        RequestParameters(value.as_object().unwrap().clone())
    }

    fn params(arbitrary: Value) -> CreateBindingParams {
        CreateBindingParams {
            binding_id: "binding-1".into(),
            deployment_topology: [(
                REDIS_SERVER.to_string(),
                vec!["10.0.8.5".to_string(), "10.0.8.6".to_string()],
            )]
            .into(),
            manifest: manifest("s3cret"),
            request_params: request(json!({
                "app_guid": "app-guid", "plan_id": "p", "service_id": "s",
                "bind_resource": {"app_guid": "app-guid"}, "parameters": arbitrary,
            })),
            secrets: None,
            dns_addresses: Some(DnsAddresses::new()),
        }
    }

    #[test]
    fn a_password_variable_is_read_from_the_resolved_secrets() {
        let mut p = params(json!({}));
        p.manifest = manifest("((admin_password))");
        let err = create_binding(&p).unwrap_err().to_string();
        assert!(err.contains("enable_secure_manifests"), "{err}");
        p.secrets = Some([("((admin_password))".to_string(), "from-credhub".to_string())].into());
        let credentials = create_binding(&p).unwrap().credentials.unwrap();
        assert_eq!(credentials["password"], "from-credhub");
        assert_eq!(credentials["uri"], "redis://:from-credhub@10.0.8.5:6379");
    }

    #[test]
    fn credentials_use_every_redis_server_ip() {
        let binding = create_binding(&params(json!({}))).unwrap();
        assert_eq!(
            binding.credentials.unwrap(),
            json!({
                "host": "10.0.8.5",
                "hosts": ["10.0.8.5", "10.0.8.6"],
                "port": 6379,
                "password": "s3cret",
                "uri": "redis://:s3cret@10.0.8.5:6379",
            })
        );
        assert!(binding.syslog_drain_url.is_empty());
    }

    #[test]
    fn dns_address_becomes_the_host() {
        let mut p = params(json!({}));
        p.dns_addresses = Some(
            [(DNS_ADDRESS_KEY.to_string(), "q-s0.redis-server.default.x.bosh".to_string())].into(),
        );
        let c = create_binding(&p).unwrap().credentials.unwrap();
        assert_eq!(c["host"], "q-s0.redis-server.default.x.bosh");
        assert_eq!(c["dns_address"], "q-s0.redis-server.default.x.bosh");
        assert_eq!(c["hosts"], json!(["10.0.8.5", "10.0.8.6"]));
        assert_eq!(c["uri"], "redis://:s3cret@q-s0.redis-server.default.x.bosh:6379");
    }

    #[test]
    fn password_is_escaped_in_the_uri() {
        let mut p = params(json!({}));
        p.manifest = manifest("a@b:c/d");
        let c = create_binding(&p).unwrap().credentials.unwrap();
        assert_eq!(c["password"], "a@b:c/d");
        assert_eq!(c["uri"], "redis://:a%40b%3Ac%2Fd@10.0.8.5:6379");
    }

    #[test]
    fn no_vms_is_a_clear_error() {
        let mut p = params(json!({}));
        p.deployment_topology.clear();
        let err = create_binding(&p).unwrap_err();
        assert!(matches!(err, AdapterError::Other(_)));
        assert!(err.to_string().starts_with("no redis-server VMs found"), "{err}");
    }

    #[test]
    fn manifest_without_password_is_an_error() {
        let mut p = params(json!({}));
        p.manifest = BoshManifest::default();
        let err = create_binding(&p).unwrap_err().to_string();
        assert!(err.contains("no redis.password"), "{err}");
    }

    #[test]
    fn app_scoped_needs_an_app_guid() {
        let c = create_binding(&params(json!({"app_scoped": true}))).unwrap().credentials.unwrap();
        assert_eq!(c["app_guid"], "app-guid");

        let mut p = params(json!({"app_scoped": true}));
        p.request_params =
            request(json!({"plan_id": "p", "service_id": "s", "parameters": {"app_scoped": true}}));
        let err = create_binding(&p).unwrap_err();
        assert!(matches!(err, AdapterError::AppGuidNotProvided(_)), "{err:?}");
        assert_eq!(err.exit_code(), 42);
        assert!(err.to_string().starts_with("app GUID not provided: binding binding-1"));

        // Without app_scoped a service key (no app GUID) is fine.
        p.request_params = request(json!({"plan_id": "p", "service_id": "s", "parameters": {}}));
        assert!(create_binding(&p).is_ok());
    }

    #[test]
    fn unknown_binding_parameters_are_refused() {
        let err = create_binding(&params(json!({"readonly": true}))).unwrap_err();
        assert_eq!(err.to_string(), "unsupported parameter(s) for this service plan: readonly");
        assert_eq!(err.exit_code(), 1);
    }

    #[test]
    fn delete_always_succeeds() {
        assert!(delete_binding(&DeleteBindingParams::default()).is_ok());
    }
}

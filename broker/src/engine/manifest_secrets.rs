//! Secure manifests against a config server: ODB-managed secrets written before a deploy,
//! the values of every `((…))` a deployed manifest references resolved for the adapter
//! (`previous_secrets`, binding `secrets`), and an instance's credentials deleted with it.
//!
//! Resolution follows the Go broker: absolute references (`((/path))`) match the
//! deployment's variable of that exact name, relative ones (`((name))`, `((name.subkey))`)
//! the first variable whose name ends with `/<name before the first dot>`; a matched variable
//! is read by its id (the version the deployment runs with), an unmatched reference by the
//! latest version of its name. `.subkey` selects a field of a JSON value; values that are not
//! strings are JSON-encoded. The result is keyed by the literal `((…))` text.
//!
//! A reference that cannot be resolved (not found, no such field) is logged, escaped and
//! without any value, and skipped. A config server that cannot be reached at all is an
//! error instead: the adapter would otherwise be handed a partial set of secrets, and an
//! update would deploy a manifest generated without them.

use crate::config_server::{ConfigServer, ConfigServerError, CredentialValue};
use crate::director::{DeploymentVariable, Director, DirectorError};
use crate::ids::log_safe;
use serde_json::Value;
use std::collections::BTreeMap;

/// Why resolving or writing secrets failed as a whole.
#[derive(Debug, thiserror::Error)]
pub enum SecretsError {
    /// The director could not list the deployment's variables.
    #[error("the director could not list the deployment's variables: {0}")]
    Director(#[from] DirectorError),
    /// The config server failed (its message names it).
    #[error("{0}")]
    ConfigServer(#[from] ConfigServerError),
}

/// How long a logged reference may be.
const LOG_LIMIT: usize = 200;

/// The text inside every `((…))` of `manifest`, in order, without repeats (the shortest match,
/// as the Go broker's non-greedy pattern).
pub fn references(manifest: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut rest = manifest;
    while let Some(start) = rest.find("((") {
        rest = &rest[start + 2..];
        let Some(end) = rest.find("))") else { break };
        let inner = rest[..end].to_string();
        rest = &rest[end + 2..];
        if !inner.is_empty() && !found.contains(&inner) {
            found.push(inner);
        }
    }
    found
}

/// A reference split into the credential name and the optional JSON field.
fn split_reference(reference: &str) -> (&str, Option<&str>) {
    let reference = reference.trim();
    // The subkey follows the first dot of the last path segment (`/a/b.c/cert.ca` → `cert`).
    let last = reference.rfind('/').map_or(0, |i| i + 1);
    match reference[last..].find('.') {
        Some(dot) => {
            (&reference[..last + dot], Some(&reference[last + dot + 1..]).filter(|s| !s.is_empty()))
        }
        None => (reference, None),
    }
}

/// The variable a reference means: by exact name when absolute, else by suffix.
fn matching<'a>(name: &str, variables: &'a [DeploymentVariable]) -> Option<&'a DeploymentVariable> {
    if name.starts_with('/') {
        variables.iter().find(|v| v.name == name)
    } else {
        let suffix = format!("/{name}");
        variables.iter().find(|v| v.name.ends_with(&suffix))
    }
}

/// A value as the adapter gets it: a string as it is, anything else JSON-encoded.
fn as_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Resolves every `((…))` of `manifest` (deployed as `deployment`) through the deployment's
/// variables and the config server. `None` when nothing resolved, which the adapter reads as
/// "no secrets".
pub async fn resolve(
    manifest: &str, deployment: &str, director: &dyn Director, server: &dyn ConfigServer,
) -> Result<Option<BTreeMap<String, String>>, SecretsError> {
    let refs = references(manifest);
    if refs.is_empty() {
        return Ok(None);
    }
    let variables = director.variables(deployment).await?;
    let mut resolved = BTreeMap::new();
    for reference in refs {
        let (name, subkey) = split_reference(&reference);
        let found = match matching(name, &variables) {
            Some(variable) => server.by_id(&variable.id).await,
            None => server.latest(name).await,
        };
        let credential = match found {
            Ok(Some(c)) => c,
            Ok(None) => {
                tracing::warn!(deployment = %log_safe(deployment, LOG_LIMIT), reference = %log_safe(&reference, LOG_LIMIT), "could not find the secret a manifest references; the adapter does not get it");
                continue;
            }
            Err(e) if e.is_transient() => return Err(e.into()),
            Err(e) => {
                tracing::warn!(deployment = %log_safe(deployment, LOG_LIMIT), reference = %log_safe(&reference, LOG_LIMIT), error = %log_safe(&e.to_string(), 1000), "could not read the secret a manifest references; the adapter does not get it");
                continue;
            }
        };
        let value = match subkey {
            None => &credential.value,
            Some(key) => match credential.value.get(key) {
                Some(v) => v,
                None => {
                    tracing::warn!(deployment = %log_safe(deployment, LOG_LIMIT), reference = %log_safe(&reference, LOG_LIMIT), "the secret a manifest references has no such field; the adapter does not get it");
                    continue;
                }
            },
        };
        resolved.insert(format!("(({reference}))"), as_text(value));
    }
    Ok(Some(resolved).filter(|m| !m.is_empty()))
}

/// Writes ODB-managed secrets (credential path → the adapter's value) to the config server.
pub async fn write(
    server: &dyn ConfigServer, secrets: &BTreeMap<String, Value>,
) -> Result<(), SecretsError> {
    for (path, value) in secrets {
        let value = CredentialValue::from_secret(value)?;
        server.set(path, &value).await?;
    }
    Ok(())
}

/// Deletes every credential whose name contains `instance_id`; returns how many.
pub async fn delete_for_instance(
    server: &dyn ConfigServer, instance_id: &str,
) -> Result<usize, SecretsError> {
    let names = server.find_by_partial_name(instance_id).await?;
    for name in &names {
        server.delete(name).await?;
    }
    Ok(names.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config_server::Credential;
    use crate::director::simulated::SimulatedDirector;
    use async_trait::async_trait;
    use std::sync::Mutex;

    /// A config server in memory: versions by id, each with a name.
    #[derive(Default)]
    struct Memory {
        versions: Mutex<Vec<Credential>>,
        down: bool,
        calls: Mutex<Vec<String>>,
    }

    impl Memory {
        fn add(&self, id: &str, name: &str, value: Value) {
            self.versions.lock().unwrap().push(Credential {
                id: id.into(),
                name: name.into(),
                value: value.into(),
            });
        }
        fn check(&self, call: String) -> Result<(), ConfigServerError> {
            self.calls.lock().unwrap().push(call);
            if self.down {
                return Err(ConfigServerError::Unreachable {
                    url: "https://credhub".into(),
                    reason: "down".into(),
                });
            }
            Ok(())
        }
    }

    #[async_trait]
    impl ConfigServer for Memory {
        async fn set(
            &self, name: &str, value: &CredentialValue,
        ) -> Result<Credential, ConfigServerError> {
            self.check(format!("set {name}"))?;
            let id = format!("v{}", self.versions.lock().unwrap().len() + 1);
            self.add(&id, name, value.to_json());
            Ok(self.versions.lock().unwrap().last().unwrap().clone())
        }
        async fn latest(&self, name: &str) -> Result<Option<Credential>, ConfigServerError> {
            self.check(format!("latest {name}"))?;
            let v = self.versions.lock().unwrap();
            Ok(v.iter().rev().find(|c| c.name == name).cloned())
        }
        async fn by_id(&self, id: &str) -> Result<Option<Credential>, ConfigServerError> {
            self.check(format!("id {id}"))?;
            let v = self.versions.lock().unwrap();
            Ok(v.iter().find(|c| c.id == id).cloned())
        }
        async fn find_by_partial_name(&self, part: &str) -> Result<Vec<String>, ConfigServerError> {
            self.check(format!("find {part}"))?;
            let v = self.versions.lock().unwrap();
            let mut names: Vec<String> = v
                .iter()
                .filter(|c| c.name.to_lowercase().contains(&part.to_lowercase()))
                .map(|c| c.name.clone())
                .collect();
            names.dedup();
            Ok(names)
        }
        async fn delete(&self, name: &str) -> Result<(), ConfigServerError> {
            self.check(format!("delete {name}"))?;
            self.versions.lock().unwrap().retain(|c| c.name != name);
            Ok(())
        }
    }

    /// A director whose only answer that matters is its variables list: the list, the
    /// simulated director that answers everything else, and the directory of its store
    /// (kept until the test ends).
    struct Variables {
        list: Vec<DeploymentVariable>,
        sim: SimulatedDirector,
        _dir: tempfile::TempDir,
    }

    impl Variables {
        fn new(list: &[(&str, &str)]) -> Self {
            let dir = tempfile::tempdir().unwrap();
            let store = crate::store::Store::open(&dir.path().join("b.db")).unwrap();
            let sim = SimulatedDirector::new(store, std::time::Duration::ZERO);
            let list = list
                .iter()
                .map(|(id, name)| DeploymentVariable { id: id.to_string(), name: name.to_string() })
                .collect();
            Self { list, sim, _dir: dir }
        }
    }

    #[async_trait]
    impl Director for Variables {
        async fn info(&self) -> Result<crate::director::DirectorInfo, DirectorError> {
            self.sim.info().await
        }
        async fn deploy(&self, m: &str, c: &str) -> Result<i64, DirectorError> {
            self.sim.deploy(m, c).await
        }
        async fn task(&self, id: i64) -> Result<crate::director::Task, DirectorError> {
            self.sim.task(id).await
        }
        async fn tasks_by_context(
            &self, c: &str,
        ) -> Result<Vec<crate::director::Task>, DirectorError> {
            self.sim.tasks_by_context(c).await
        }
        async fn tasks_in_progress(
            &self, d: &str,
        ) -> Result<Vec<crate::director::Task>, DirectorError> {
            self.sim.tasks_in_progress(d).await
        }
        async fn manifest(&self, d: &str) -> Result<Option<String>, DirectorError> {
            self.sim.manifest(d).await
        }
        async fn vms(&self, d: &str) -> Result<crate::director::Vms, DirectorError> {
            self.sim.vms(d).await
        }
        async fn delete_deployment(&self, d: &str, f: bool, c: &str) -> Result<i64, DirectorError> {
            self.sim.delete_deployment(d, f, c).await
        }
        async fn run_errand(
            &self, d: &str, e: &str, i: &[String], c: &str,
        ) -> Result<i64, DirectorError> {
            self.sim.run_errand(d, e, i, c).await
        }
        async fn deployments(&self) -> Result<Vec<String>, DirectorError> {
            self.sim.deployments().await
        }
        async fn update_configs(
            &self, d: &str, c: &BTreeMap<String, String>,
        ) -> Result<(), DirectorError> {
            self.sim.update_configs(d, c).await
        }
        async fn delete_configs(&self, d: &str) -> Result<(), DirectorError> {
            self.sim.delete_configs(d).await
        }
        async fn dns_addresses(
            &self, d: &str, dns: &[crate::config::BindingDnsConfig],
        ) -> Result<BTreeMap<String, String>, DirectorError> {
            self.sim.dns_addresses(d, dns).await
        }
        async fn recreate(&self, d: &str, c: &str) -> Result<i64, DirectorError> {
            self.sim.recreate(d, c).await
        }
        async fn variables(&self, _d: &str) -> Result<Vec<DeploymentVariable>, DirectorError> {
            Ok(self.list.clone())
        }
    }

    const MANIFEST: &str = "name: d\nproperties:\n  a: ((pass))\n  b: ((cert.ca))\n  c: ((/odb/s/d/k))\n  d: ((missing))\n  e: ((pass))\n  f: ((cert.nope))\n  g: ((user))\n";

    #[test]
    fn references_are_found_once_each_in_order() {
        assert_eq!(
            references(MANIFEST),
            ["pass", "cert.ca", "/odb/s/d/k", "missing", "cert.nope", "user"]
        );
        assert_eq!(references("a: ((x)"), Vec::<String>::new());
        assert_eq!(references("a: (((x)))"), ["(x"]);
    }

    #[test]
    fn subkeys_follow_the_first_dot_of_the_last_segment() {
        assert_eq!(split_reference("cert.ca"), ("cert", Some("ca")));
        assert_eq!(split_reference("/a/b.c/cert.ca"), ("/a/b.c/cert", Some("ca")));
        assert_eq!(split_reference("/odb/s/d/k"), ("/odb/s/d/k", None));
        assert_eq!(split_reference("a.b.c"), ("a", Some("b.c")));
    }

    #[tokio::test]
    async fn references_resolve_by_variable_id_name_and_subkey() {
        let server = Memory::default();
        server.add("p1", "/dir/d/pass", Value::String("old".into()));
        server.add("p2", "/dir/d/pass", Value::String("new".into()));
        server.add("c1", "/dir/d/cert", serde_json::json!({"ca": "CA-PEM", "certificate": "C"}));
        server.add("u1", "/dir/d/user", serde_json::json!({"username": "u", "password": "p"}));
        server.add("k1", "/odb/s/d/k", Value::String("odb".into()));
        let director =
            Variables::new(&[("p1", "/dir/d/pass"), ("c1", "/dir/d/cert"), ("u1", "/dir/d/user")]);
        let got = resolve(MANIFEST, "d", &director, &server).await.unwrap().unwrap();
        let want: BTreeMap<String, String> = [
            ("((pass))", "old"),
            ("((cert.ca))", "CA-PEM"),
            ("((/odb/s/d/k))", "odb"),
            ("((user))", r#"{"password":"p","username":"u"}"#),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        assert_eq!(got, want);
        let calls = server.calls.lock().unwrap().clone();
        assert!(calls.contains(&"id p1".to_string()), "{calls:?}");
        assert!(calls.contains(&"latest /odb/s/d/k".to_string()), "{calls:?}");
    }

    #[tokio::test]
    async fn an_unreachable_server_is_an_error_not_an_empty_map() {
        let server = Memory { down: true, ..Default::default() };
        let director = Variables::new(&[]);
        let err = resolve(MANIFEST, "d", &director, &server).await.unwrap_err();
        assert!(matches!(err, SecretsError::ConfigServer(ref e) if e.is_transient()), "{err}");
        assert!(resolve("name: d\n", "d", &director, &server).await.unwrap().is_none());
    }

    #[tokio::test]
    async fn secrets_are_written_by_type_and_deleted_by_instance() {
        let server = Memory::default();
        let secrets: BTreeMap<String, Value> = [
            ("/odb/s/service-instance_ab/k".to_string(), Value::String("v".into())),
            ("/odb/s/service-instance_ab/j".to_string(), serde_json::json!({"x": 1})),
        ]
        .into();
        write(&server, &secrets).await.unwrap();
        server.add("o", "/odb/s/service-instance_other/k", Value::Null);
        let bad: BTreeMap<String, Value> = [("/x".to_string(), serde_json::json!(1))].into();
        assert!(write(&server, &bad).await.is_err());
        assert_eq!(delete_for_instance(&server, "AB").await.unwrap(), 2);
        let left = server.versions.lock().unwrap().clone();
        assert_eq!(left.len(), 1);
        assert_eq!(left[0].name, "/odb/s/service-instance_other/k");
    }
}

//! The config server that goes with the simulated director: ODB-managed secrets kept in the
//! broker's store (the `secrets` table, one row per deployment and name).
//!
//! It is the stand-in until the simulated director has a config server of its own. Each
//! credential has one version; its id is its name. Values are kept as text (a JSON object as
//! its JSON text) and read back as strings, which is what the adapter gets for them anyway.

use crate::config_server::{ConfigServer, ConfigServerError, Credential, CredentialValue};
use crate::store::Store;
use async_trait::async_trait;
use serde_json::Value;

/// ODB-managed secrets in the broker's store.
#[derive(Clone)]
pub struct StoredSecrets {
    store: Store,
}

impl StoredSecrets {
    /// Secrets in `store`.
    pub fn new(store: Store) -> Self {
        Self { store }
    }
}

/// The deployment a credential path belongs to: `/odb/<service id>/<deployment>/<key>` →
/// `<deployment>`; any other name is kept under the name itself.
fn deployment_of(name: &str) -> String {
    let parts: Vec<&str> = name.trim_start_matches('/').splitn(4, '/').collect();
    match parts.as_slice() {
        ["odb", _, deployment, _] => deployment.to_string(),
        _ => name.to_string(),
    }
}

fn text_of(value: &CredentialValue) -> String {
    match value {
        CredentialValue::Value(s) => s.clone(),
        CredentialValue::Json(map) => Value::Object(map.clone()).to_string(),
    }
}

#[async_trait]
impl ConfigServer for StoredSecrets {
    async fn set(
        &self,
        name: &str,
        value: &CredentialValue,
    ) -> Result<Credential, ConfigServerError> {
        let (deployment, n, text) = (deployment_of(name), name.to_string(), text_of(value));
        let stored = [(n.clone(), text.clone())].into();
        self.store
            .run(move |s| s.put_secrets(&deployment, &stored))
            .await?;
        Ok(Credential {
            id: n.clone(),
            name: n,
            value: Value::String(text),
        })
    }

    async fn latest(&self, name: &str) -> Result<Option<Credential>, ConfigServerError> {
        let (deployment, n) = (deployment_of(name), name.to_string());
        let all = self.store.run(move |s| s.secrets(&deployment)).await?;
        Ok(all.get(name).map(|v| Credential {
            id: n.clone(),
            name: n,
            value: Value::String(v.clone()),
        }))
    }

    async fn by_id(&self, id: &str) -> Result<Option<Credential>, ConfigServerError> {
        self.latest(id).await
    }

    async fn find_by_partial_name(&self, part: &str) -> Result<Vec<String>, ConfigServerError> {
        let part = part.to_string();
        Ok(self.store.run(move |s| s.secret_names_like(&part)).await?)
    }

    async fn delete(&self, name: &str) -> Result<(), ConfigServerError> {
        let n = name.to_string();
        self.store.run(move |s| s.delete_secret(&n)).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn set_read_find_delete() {
        let dir = tempfile::tempdir().unwrap();
        let server = StoredSecrets::new(Store::open(&dir.path().join("b.db")).unwrap());
        let name = "/odb/svc/service-instance_ABC/admin";
        server
            .set(name, &CredentialValue::Value("pw".into()))
            .await
            .unwrap();
        let got = server.latest(name).await.unwrap().unwrap();
        assert_eq!(got.value, Value::String("pw".into()));
        assert_eq!(server.by_id(&got.id).await.unwrap().unwrap().name, name);
        assert_eq!(server.find_by_partial_name("abc").await.unwrap(), [name]);
        assert!(server
            .find_by_partial_name("other")
            .await
            .unwrap()
            .is_empty());
        server.delete(name).await.unwrap();
        server.delete(name).await.unwrap();
        assert!(server.latest(name).await.unwrap().is_none());
    }

    #[test]
    fn odb_paths_name_their_deployment() {
        assert_eq!(
            deployment_of("/odb/s/service-instance_1/k"),
            "service-instance_1"
        );
        assert_eq!(deployment_of("/odb/s/d/k/with/slashes"), "d");
        assert_eq!(deployment_of("/other"), "/other");
    }
}

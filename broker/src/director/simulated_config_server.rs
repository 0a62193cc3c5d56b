//! The config server that goes with the simulated director: credentials kept in the
//! broker's store (`config_values`, each value sealed), one row per version with its own id,
//! as CredHub keeps them. The simulated director generates the manifests' variables into it
//! (`director::variables`); the broker writes ODB-managed secrets into it before a deploy.

use crate::config_server::{ConfigServer, ConfigServerError, Credential, CredentialValue};
use crate::store::{ConfigValueRecord, Store};
use async_trait::async_trait;

/// Credentials in the broker's store.
#[derive(Clone)]
pub struct StoredSecrets {
    store: Store,
}

impl StoredSecrets {
    /// Credentials in `store`.
    pub fn new(store: Store) -> Self {
        Self { store }
    }
}

fn credential(record: ConfigValueRecord) -> Credential {
    Credential { id: record.id, name: record.name, value: record.value }
}

#[async_trait]
impl ConfigServer for StoredSecrets {
    async fn set(
        &self, name: &str, value: &CredentialValue,
    ) -> Result<Credential, ConfigServerError> {
        let (n, kind, v) = (name.to_string(), value.type_name(), value.to_json());
        let stored = self
            .store
            .run(move |s| s.config_value_put(&n, kind, &serde_json::Value::Null, &v))
            .await?;
        Ok(credential(stored))
    }

    async fn latest(&self, name: &str) -> Result<Option<Credential>, ConfigServerError> {
        let n = name.to_string();
        let found = self.store.run(move |s| s.config_value_latest(&n)).await?;
        Ok(found.map(credential))
    }

    async fn by_id(&self, id: &str) -> Result<Option<Credential>, ConfigServerError> {
        let id = id.to_string();
        let found = self.store.run(move |s| s.config_value_by_id(&id)).await?;
        Ok(found.map(credential))
    }

    async fn find_by_partial_name(&self, part: &str) -> Result<Vec<String>, ConfigServerError> {
        let part = part.to_string();
        Ok(self.store.run(move |s| s.config_value_names_like(&part)).await?)
    }

    async fn delete(&self, name: &str) -> Result<(), ConfigServerError> {
        let n = name.to_string();
        self.store.run(move |s| s.config_value_delete(&n)).await?;
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
        server.set(name, &CredentialValue::Value("pw".into())).await.unwrap();
        let got = server.latest(name).await.unwrap().unwrap();
        assert_eq!(*got.value, serde_json::json!("pw"));
        let newer = server.set(name, &CredentialValue::Value("pw2".into())).await.unwrap();
        assert_ne!(newer.id, got.id, "each version has its own id");
        assert_eq!(server.by_id(&got.id).await.unwrap().unwrap().value.0, "pw");
        assert_eq!(server.latest(name).await.unwrap().unwrap().value.0, "pw2");
        assert_eq!(server.by_id(&got.id).await.unwrap().unwrap().name, name);
        assert_eq!(server.find_by_partial_name("abc").await.unwrap(), [name]);
        assert!(server.find_by_partial_name("other").await.unwrap().is_empty());
        server.delete(name).await.unwrap();
        server.delete(name).await.unwrap();
        assert!(server.latest(name).await.unwrap().is_none());
    }
}

//! Checks on the adapter's manifest, and the ODB-managed secrets it returns.
//!
//! generate-manifest may return `secrets` whose keys appear in the manifest as
//! `((odb_secret:KEY))`. With secure manifests the broker stores each value under the path
//! `/odb/<service id>/<deployment>/KEY` and rewrites the placeholder to `((<that path>))`;
//! writing them to the config server and reading deployed values back for the adapter is
//! [`super::manifest_secrets`].

use super::EngineError;
use crate::ids::ServiceId;
use service_adapter::OdbManagedSecrets;
use std::collections::BTreeMap;

/// Validates the generated manifest: valid YAML, the right deployment name, exact versions.
/// Returns the manifest text unchanged.
pub fn check_manifest(manifest: &str, deployment: &str) -> Result<String, EngineError> {
    let doc: serde_yaml::Value = serde_yaml::from_str(manifest)
        .map_err(|e| EngineError::InvalidManifest(format!("manifest is not valid YAML: {e}")))?;
    let name = doc["name"].as_str().unwrap_or_default();
    if name != deployment {
        return Err(EngineError::InvalidManifest(format!(
            "incorrect deployment name '{name}', expected '{deployment}'"
        )));
    }
    for section in ["releases", "stemcells"] {
        for item in doc[section].as_sequence().into_iter().flatten() {
            let version = match &item["version"] {
                serde_yaml::Value::String(s) => s.clone(),
                other => serde_yaml::to_string(other).unwrap_or_default().trim().to_string(),
            };
            if version.ends_with("latest") {
                return Err(EngineError::InvalidManifest(format!(
                    "{section} must have exact versions, found '{version}'"
                )));
            }
        }
    }
    Ok(manifest.to_string())
}

/// The credential path of an ODB-managed secret.
pub fn secret_path(service_id: &ServiceId, deployment: &str, key: &str) -> String {
    format!("/odb/{service_id}/{deployment}/{key}")
}

/// Rewrites `((odb_secret:KEY))` placeholders to stored paths; returns the new manifest and
/// the path → value map to store.
pub fn replace_odb_secrets(
    manifest: &str, secrets: Option<&OdbManagedSecrets>, service_id: &ServiceId, deployment: &str,
) -> (String, BTreeMap<String, String>) {
    let mut out = manifest.to_string();
    let mut stored = BTreeMap::new();
    for (key, value) in secrets.into_iter().flatten() {
        let placeholder = format!("(({}:{key}))", service_adapter::ODB_SECRET_PREFIX);
        if !out.contains(&placeholder) {
            continue;
        }
        let path = secret_path(service_id, deployment, key);
        out = out.replace(&placeholder, &format!("(({path}))"));
        stored.insert(path, secret_text(value));
    }
    (out, stored)
}

/// The manifest the broker deploys. With secure manifests (`broker.enable_secure_manifests`)
/// ODB-managed secrets are stored and their placeholders rewritten to stored paths
/// ([`replace_odb_secrets`]); without, as in the Go broker, the manifest is deployed as the
/// adapter wrote it, `((odb_secret:K))` placeholders untouched, and nothing is stored.
pub fn deployable(
    manifest: &str, secrets: Option<&OdbManagedSecrets>, service_id: &ServiceId, deployment: &str,
    secure: bool,
) -> (String, BTreeMap<String, String>) {
    if secure {
        replace_odb_secrets(manifest, secrets, service_id, deployment)
    } else {
        (manifest.to_string(), BTreeMap::new())
    }
}

/// The stored text of a secret value: a string as it is, anything else as JSON.
pub fn secret_text(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Stored secrets (path → value) as the adapter gets them: `((path))` → value; `None` when
/// there are none, which the adapter reads as "no previous secrets".
pub fn as_adapter_secrets<'a>(
    stored: impl IntoIterator<Item = (&'a String, &'a String)>,
) -> Option<BTreeMap<String, String>> {
    Some(
        stored
            .into_iter()
            .map(|(path, v)| (format!("(({path}))"), v.clone()))
            .collect::<BTreeMap<_, _>>(),
    )
    .filter(|m| !m.is_empty())
}

/// Compares two manifests structurally, ignoring the top-level and instance-group `update`
/// blocks (which an adapter may legitimately change between deploys).
pub fn same_ignoring_update_blocks(a: &str, b: &str) -> bool {
    let normalise = |text: &str| {
        serde_yaml::from_str::<serde_yaml::Value>(text).ok().map(without_update_blocks)
    };
    match (normalise(a), normalise(b)) {
        (Some(x), Some(y)) => x == y,
        _ => false,
    }
}

/// A manifest without its top-level and instance-group `update` blocks.
pub fn without_update_blocks(mut doc: serde_yaml::Value) -> serde_yaml::Value {
    if let Some(map) = doc.as_mapping_mut() {
        map.remove("update");
        if let Some(groups) = map.get_mut("instance_groups").and_then(|g| g.as_sequence_mut()) {
            for group in groups {
                if let Some(g) = group.as_mapping_mut() {
                    g.remove("update");
                }
            }
        }
    }
    doc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn update_blocks_do_not_count_as_changes() {
        let a = "name: d\nupdate: {canaries: 1}\ninstance_groups:\n- name: g\n  update: {canaries: 2}\n  instances: 1\n";
        let b = "name: d\nupdate: {canaries: 4}\ninstance_groups:\n- name: g\n  instances: 1\n";
        assert!(same_ignoring_update_blocks(a, b));
        let c = "name: d\ninstance_groups:\n- name: g\n  instances: 2\n";
        assert!(!same_ignoring_update_blocks(a, c));
    }

    #[test]
    fn odb_secret_placeholders_become_paths() {
        let secrets: OdbManagedSecrets =
            serde_json::from_str(r#"{"admin":"pw","unused":"x"}"#).unwrap();
        let (manifest, stored) = replace_odb_secrets(
            "p: ((odb_secret:admin))\n",
            Some(&secrets),
            &crate::ids::parsed("svc"),
            "service-instance_1",
        );
        assert_eq!(manifest, "p: ((/odb/svc/service-instance_1/admin))\n");
        assert_eq!(stored.len(), 1);
        assert_eq!(stored["/odb/svc/service-instance_1/admin"], "pw");
    }

    #[test]
    fn manifests_must_name_the_deployment_and_pin_versions() {
        assert!(check_manifest("name: d\nreleases: [{name: r, version: 1.0}]\n", "d").is_ok());
        assert!(check_manifest("name: other\n", "d").is_err());
        assert!(check_manifest("name: d\nreleases: [{name: r, version: latest}]\n", "d").is_err());
        assert!(check_manifest("name: [d\n", "d").is_err());
    }
}

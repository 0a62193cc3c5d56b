//! What the kit needs to read manifests as the broker does. The broker's own steps
//! (`engine::secrets`: ODB-managed secret placeholders become stored credential paths, the
//! pending-changes comparison ignores `update` blocks) are re-exported from there, so the
//! kit and the broker cannot drift; this module adds what a report needs: the secrets a
//! manifest references, and where two manifests first differ.

use serde_yaml::Value;

pub use crate::engine::secrets::{
    as_adapter_secrets as as_previous_secrets, replace_odb_secrets as deployed_form,
    same_ignoring_update_blocks, secret_text, without_update_blocks,
};

/// The keys `K` of every `((odb_secret:K))` in the manifest text, in order, without repeats.
pub fn odb_references(manifest: &str) -> Vec<String> {
    let prefix = format!("(({}:", service_adapter::ODB_SECRET_PREFIX);
    let mut keys = Vec::new();
    let mut rest = manifest;
    while let Some(start) = rest.find(&prefix) {
        rest = &rest[start + prefix.len()..];
        let Some(end) = rest.find("))") else { break };
        let key = rest[..end].to_string();
        if !keys.contains(&key) {
            keys.push(key);
        }
        rest = &rest[end..];
    }
    keys
}

/// Where two manifests first differ, as a key path with both values described; with
/// `ignore_updates`, `update` blocks do not count.
pub fn first_difference(a: &str, b: &str, ignore_updates: bool) -> Option<String> {
    let (Ok(mut x), Ok(mut y)) =
        (serde_yaml::from_str::<Value>(a), serde_yaml::from_str::<Value>(b))
    else {
        return Some("(one of the manifests is not valid YAML)".to_string());
    };
    if ignore_updates {
        x = without_update_blocks(x);
        y = without_update_blocks(y);
    }
    diff(&x, &y, "")
}

fn child(path: &str, key: &Value) -> String {
    let key = match key {
        Value::String(s) => s.clone(),
        other => serde_yaml::to_string(other).unwrap_or_default().trim().to_string(),
    };
    if path.is_empty() {
        key
    } else {
        format!("{path}.{key}")
    }
}

/// A value described for a report without giving away a secret: numbers, booleans, null and
/// short strings as they are; anything else by its kind and size only.
pub fn describe(value: Option<&Value>) -> String {
    match value {
        None => "absent".to_string(),
        Some(Value::Null) => "null".to_string(),
        Some(Value::Bool(b)) => b.to_string(),
        Some(Value::Number(n)) => n.to_string(),
        Some(Value::String(s)) if s.chars().count() < 6 => format!("{s:?}"),
        Some(Value::String(s)) => format!("a {}-character string", s.chars().count()),
        Some(Value::Sequence(s)) => format!("a list of {}", s.len()),
        Some(Value::Mapping(m)) => format!("a mapping of {} key(s)", m.len()),
        Some(Value::Tagged(_)) => "a tagged value".to_string(),
    }
}

fn diff(a: &Value, b: &Value, path: &str) -> Option<String> {
    let at = |p: &str| {
        if p.is_empty() {
            "(top)".to_string()
        } else {
            p.to_string()
        }
    };
    match (a, b) {
        (Value::Mapping(x), Value::Mapping(y)) => {
            for (k, va) in x {
                let p = child(path, k);
                match y.get(k) {
                    Some(vb) => {
                        if let Some(d) = diff(va, vb, &p) {
                            return Some(d);
                        }
                    }
                    None => return Some(format!("{p}: {} vs absent", describe(Some(va)))),
                }
            }
            y.iter()
                .find(|(k, _)| !x.contains_key(*k))
                .map(|(k, v)| format!("{}: absent vs {}", child(path, k), describe(Some(v))))
        }
        (Value::Sequence(x), Value::Sequence(y)) => {
            for (i, (va, vb)) in x.iter().zip(y).enumerate() {
                if let Some(d) = diff(va, vb, &format!("{path}[{i}]")) {
                    return Some(d);
                }
            }
            (x.len() != y.len())
                .then(|| format!("{}: {} item(s) vs {}", at(path), x.len(), y.len()))
        }
        (x, y) if x == y => None,
        (x, y) => Some(format!("{}: {} vs {}", at(path), describe(Some(x)), describe(Some(y)))),
    }
}

/// Stand-in values for the BOSH variables a manifest declares, keyed by the references an
/// adapter reads back from `secrets` (`((name))`, and `((name.field))` for the fields of a
/// certificate, user, rsa or ssh value), as a config server would resolve them. The values
/// are fixed (`kit-variable-<name>[.<field>]`), so that a redeploy sees the same ones.
pub fn declared_variable_values(manifest: &str) -> std::collections::BTreeMap<String, String> {
    let doc: serde_yaml::Value = serde_yaml::from_str(manifest).unwrap_or_default();
    let mut out = std::collections::BTreeMap::new();
    for variable in doc.get("variables").and_then(|v| v.as_sequence()).into_iter().flatten() {
        let Some(name) = variable.get("name").and_then(|n| n.as_str()) else {
            continue;
        };
        let fields: &[&str] = match variable.get("type").and_then(|t| t.as_str()) {
            Some("certificate") => &["ca", "certificate", "private_key"],
            Some("user") => &["username", "password"],
            Some("rsa") => &["public_key", "private_key"],
            Some("ssh") => &["public_key", "private_key", "public_key_fingerprint"],
            _ => &[],
        };
        if fields.is_empty() {
            out.insert(format!("(({name}))"), format!("kit-variable-{name}"));
        }
        for field in fields {
            out.insert(format!("(({name}.{field}))"), format!("kit-variable-{name}.{field}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use service_adapter::OdbManagedSecrets;
    use std::collections::BTreeMap;

    #[test]
    fn odb_placeholders_become_paths_and_references_are_found() {
        let manifest =
            "a: ((odb_secret:admin))\nb: ((odb_secret:other))\nc: ((odb_secret:admin))\n";
        assert_eq!(odb_references(manifest), vec!["admin", "other"]);
        let secrets: OdbManagedSecrets =
            serde_json::from_str(r#"{"admin":"pw","unused":1}"#).unwrap();
        let (deployed, stored) = deployed_form(
            manifest,
            Some(&secrets),
            &crate::ids::parsed("svc"),
            "service-instance_1",
        );
        assert_eq!(
            deployed,
            "a: ((/odb/svc/service-instance_1/admin))\nb: ((odb_secret:other))\nc: ((/odb/svc/service-instance_1/admin))\n"
        );
        assert_eq!(stored.len(), 1);
        assert_eq!(
            as_previous_secrets(&stored).unwrap()["((/odb/svc/service-instance_1/admin))"],
            "pw"
        );
        assert!(as_previous_secrets(&BTreeMap::new()).is_none());
    }

    #[test]
    fn differences_name_the_path_but_not_long_strings() {
        let a = "name: d\nupdate: {canaries: 1}\ninstance_groups:\n- name: g\n  instances: 1\n  password: abcdefgh\n";
        let b = "name: d\nupdate: {canaries: 4}\ninstance_groups:\n- name: g\n  instances: 1\n  password: zyxwvuts\n";
        assert!(!same_ignoring_update_blocks(a, b));
        let d = first_difference(a, b, true).unwrap();
        assert_eq!(d, "instance_groups[0].password: a 8-character string vs a 8-character string");
        assert_eq!(first_difference(a, a, true), None);
        let c = "name: d\nupdate: {canaries: 4}\ninstance_groups:\n- name: g\n  instances: 1\n  password: abcdefgh\n";
        assert!(same_ignoring_update_blocks(a, c));
        assert_eq!(first_difference(a, c, false).unwrap(), "update.canaries: 1 vs 4");
        assert_eq!(first_difference("a: 1\n", "a: 1\nb: 2\n", false).unwrap(), "b: absent vs 2");
    }

    #[test]
    fn declared_variables_get_fixed_stand_ins_by_reference() {
        let values = declared_variable_values(
            "name: d\nvariables:\n- {name: pass, type: password}\n- {name: cert, type: certificate}\n",
        );
        assert_eq!(values["((pass))"], "kit-variable-pass");
        assert_eq!(values["((cert.ca))"], "kit-variable-cert.ca");
        assert!(values.contains_key("((cert.private_key))"));
        assert!(!values.contains_key("((cert))"));
        assert!(declared_variable_values("name: d\n").is_empty());
    }
}

//! The simulated director's variables: what BOSH does with a manifest's `variables:` on a
//! deploy, against the simulated config server in the broker's store.
//!
//! Each declared variable is generated under `/<director name>/<deployment>/<name>` (an
//! absolute name `/x` is kept as written) unless a version exists already; with
//! `update_mode: converge` a variable whose options changed gets a new version. Types:
//! `password` (20 letters and digits), `user` (`{username, password}`), `certificate`
//! (real X.509 from rcgen: `is_ca`, `ca` naming the certificate variable that signs it,
//! `common_name`, `alternative_names`, `extended_key_usage`; value `{ca, certificate,
//! private_key}` in PEM), and `ssh` (`{public_key, private_key, public_key_fingerprint}`, an
//! Ed25519 key: ring, in the tree, generates Ed25519 but not RSA, so `rsa` variables fail the
//! deploy with a message saying so). The OpenSSH public key line is encoded here from the
//! key bytes (a few lines of the format's length-prefixed strings; no crate needed).
//!
//! Then every `((reference))` of the manifest must resolve, as on a director with a config
//! server: declared variables, or a stored credential (`((/odb/...))` written by the broker
//! before the deploy). A missing one fails the deploy with BOSH's message. References that
//! are not variable names at all (`((odb_secret:K))`, which the broker leaves in place
//! without secure manifests) are left alone: the simulated director does not interpolate.
//! The result is the version id of every variable the deployment uses, which
//! `GET /deployments/<name>/variables` answers.

use crate::store::{ConfigValueRecord, Store, StoreError};
use base64::Engine as _;
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// The simulated director's name, the first segment of its variables' names.
pub const DIRECTOR_NAME: &str = "simulated-director";

/// Why a deploy's variables could not be materialised.
#[derive(Debug, thiserror::Error)]
pub enum VariableError {
    /// The manifest's `variables:` cannot be used (the task fails with this text).
    #[error("{0}")]
    Invalid(String),
    /// A reference resolves to nothing (BOSH's message).
    #[error("Failed to find variable '{0}' from config server")]
    Missing(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// One entry of a manifest's `variables:`.
#[derive(Debug, Clone, Deserialize)]
struct VariableSpec {
    name: String,
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    options: Value,
    #[serde(default)]
    update_mode: Option<String>,
}

/// The absolute name of `name` in `deployment`.
pub fn absolute_name(deployment: &str, name: &str) -> String {
    if name.starts_with('/') {
        name.to_string()
    } else {
        format!("/{DIRECTOR_NAME}/{deployment}/{name}")
    }
}

/// The prefix of every variable generated for `deployment`.
pub fn deployment_prefix(deployment: &str) -> String {
    format!("/{DIRECTOR_NAME}/{deployment}/")
}

fn is_name_segment(s: &str) -> bool {
    !s.is_empty()
        && s != "."
        && s != ".."
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
}

/// A relative name (one segment, no dot: a dot selects a field) or an absolute path of
/// segments.
fn valid_name(name: &str) -> bool {
    match name.strip_prefix('/') {
        Some(path) => path.split('/').all(is_name_segment),
        None => is_name_segment(name) && !name.contains('.'),
    }
}

/// What another deployment or the broker owns that an absolute variable name of
/// `deployment`'s manifest falls under (`None` when it may generate it): another
/// deployment's variables, and the broker's `/odb/` tree.
fn foreign_owner(deployment: &str, name: &str) -> Option<String> {
    let own = deployment_prefix(deployment);
    if name.starts_with(&own) {
        return None;
    }
    if name.starts_with(&format!("/{DIRECTOR_NAME}/")) {
        return Some("another deployment".to_string());
    }
    if name.starts_with("/odb/") {
        return Some("the broker (ODB-managed secrets)".to_string());
    }
    None
}

/// Generates what `manifest` declares, checks what it references, and returns every variable
/// the deployment uses as (absolute name, version id).
pub fn materialise(
    store: &Store, deployment: &str, manifest: &serde_yaml::Value,
) -> Result<Vec<(String, String)>, VariableError> {
    let specs: Vec<VariableSpec> = match manifest.get("variables") {
        None | Some(serde_yaml::Value::Null) => Vec::new(),
        Some(list) => serde_yaml::from_value(list.clone())
            .map_err(|e| VariableError::Invalid(format!("manifest variables are invalid: {e}")))?,
    };
    let mut by_name = BTreeMap::new();
    for spec in &specs {
        if !valid_name(&spec.name) {
            return Err(VariableError::Invalid(format!(
                "variable name '{}' is invalid: use letters, digits, '_' and '-' (or an absolute path of such segments)",
                crate::ids::log_safe(&spec.name, 120)
            )));
        }
        if let Some(owner) = foreign_owner(deployment, &spec.name) {
            return Err(VariableError::Invalid(format!(
                "variable '{}' would generate a credential of {owner}: declare variables of this deployment only (relative names)",
                spec.name
            )));
        }
        if by_name.insert(spec.name.clone(), spec.clone()).is_some() {
            return Err(VariableError::Invalid(format!(
                "variable '{}' is declared twice",
                spec.name
            )));
        }
    }
    let mut generator = Generator { store, deployment, specs: &by_name, done: BTreeMap::new() };
    for spec in &specs {
        generator.ensure(&spec.name, 0)?;
    }
    let mut used: BTreeMap<String, String> =
        generator.done.values().map(|r| (r.name.clone(), r.id.clone())).collect();
    let text = serde_yaml::to_string(manifest)
        .map_err(|e| VariableError::Invalid(format!("manifest cannot be read: {e}")))?;
    for reference in references(&text) {
        let base = reference.split('.').next().unwrap_or_default();
        if !valid_name(base) {
            continue;
        }
        let full = absolute_name(deployment, base);
        if used.contains_key(&full) {
            continue;
        }
        match store.config_value_latest(&full)? {
            Some(found) => {
                used.insert(found.name, found.id);
            }
            None => return Err(VariableError::Missing(full)),
        }
    }
    Ok(used.into_iter().collect())
}

/// The references `((…))` of a manifest text, without their optional `!`.
fn references(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("((") {
        let after = &rest[start + 2..];
        let Some(end) = after.find("))") else { break };
        let inner = after[..end].trim().trim_start_matches('!');
        out.push(inner.to_string());
        rest = &after[end + 2..];
    }
    out
}

struct Generator<'a> {
    store: &'a Store,
    deployment: &'a str,
    specs: &'a BTreeMap<String, VariableSpec>,
    done: BTreeMap<String, ConfigValueRecord>,
}

impl Generator<'_> {
    /// The current version of declared variable `name`, generated when needed.
    fn ensure(&mut self, name: &str, depth: usize) -> Result<ConfigValueRecord, VariableError> {
        if let Some(done) = self.done.get(name) {
            return Ok(done.clone());
        }
        if depth > 8 {
            return Err(VariableError::Invalid(format!(
                "certificate '{name}' is signed by a chain of certificates more than 8 deep, or by itself"
            )));
        }
        let spec = self.specs[name].clone();
        let full = absolute_name(self.deployment, &spec.name);
        let existing = self.store.config_value_latest(&full)?;
        let converge = spec.update_mode.as_deref() == Some("converge");
        let record = match existing {
            Some(found)
                if found.kind == spec.kind && !(converge && found.options != spec.options) =>
            {
                found
            }
            _ => {
                let value = self.generate(&spec, depth)?;
                self.store.config_value_put(&full, &spec.kind, &spec.options, &value)?
            }
        };
        self.done.insert(name.to_string(), record.clone());
        Ok(record)
    }

    fn generate(&mut self, spec: &VariableSpec, depth: usize) -> Result<Value, VariableError> {
        let options = &spec.options;
        match spec.kind.as_str() {
            "password" => Ok(Value::String(random_text(20))),
            "user" => Ok(json!({
                "username": options.get("username").and_then(Value::as_str).map_or_else(|| random_text(20), str::to_string),
                "password": random_text(20),
            })),
            "certificate" => self.certificate(spec, depth),
            "ssh" => ssh_key(),
            "rsa" => Err(VariableError::Invalid(format!(
                "variable '{}': the simulated director cannot generate rsa keys; use a BOSH director, or ssh or certificate variables",
                spec.name
            ))),
            other => Err(VariableError::Invalid(format!(
                "variable '{}' has type '{}', which is not one of password, user, certificate, ssh, rsa",
                spec.name,
                crate::ids::log_safe(other, 40)
            ))),
        }
    }

    fn certificate(&mut self, spec: &VariableSpec, depth: usize) -> Result<Value, VariableError> {
        let invalid =
            |what: String| VariableError::Invalid(format!("certificate '{}': {what}", spec.name));
        let params = certificate_params(&spec.options).map_err(|e| invalid(e.to_string()))?;
        let key = rcgen::KeyPair::generate().map_err(|e| invalid(e.to_string()))?;
        let signer = match spec.options.get("ca").and_then(Value::as_str) {
            Some(ca) => Some(self.signer(ca, depth).map_err(|e| match e {
                VariableError::Invalid(m) => invalid(m),
                other => other,
            })?),
            None => None,
        };
        let (cert, ca_pem) = match &signer {
            Some((ca_cert, ca_key, ca_pem)) => (
                params.signed_by(&key, ca_cert, ca_key).map_err(|e| invalid(e.to_string()))?,
                ca_pem.clone(),
            ),
            None => {
                let cert = params.self_signed(&key).map_err(|e| invalid(e.to_string()))?;
                let pem = cert.pem();
                (cert, pem)
            }
        };
        Ok(json!({
            "ca": ca_pem,
            "certificate": cert.pem(),
            "private_key": key.serialize_pem(),
        }))
    }

    /// The CA certificate variable `ca` as rcgen can sign with it: its parameters rebuilt from
    /// its options (the same subject), its stored key, and its stored PEM.
    fn signer(
        &mut self, ca: &str, depth: usize,
    ) -> Result<(rcgen::Certificate, rcgen::KeyPair, String), VariableError> {
        let record = if self.specs.contains_key(ca) {
            self.ensure(ca, depth + 1)?
        } else {
            let full = absolute_name(self.deployment, ca);
            self.store.config_value_latest(&full)?.ok_or(VariableError::Missing(full))?
        };
        if record.kind != "certificate" {
            return Err(VariableError::Invalid(format!("its ca '{ca}' is not a certificate")));
        }
        let field =
            |k: &str| record.value.get(k).and_then(Value::as_str).unwrap_or_default().to_string();
        let key = rcgen::KeyPair::from_pem(&field("private_key")).map_err(|e| {
            VariableError::Invalid(format!("the key of its ca '{ca}' cannot be read: {e}"))
        })?;
        let params = certificate_params(&record.options)
            .map_err(|e| VariableError::Invalid(format!("its ca '{ca}': {e}")))?;
        let rebuilt = params
            .self_signed(&key)
            .map_err(|e| VariableError::Invalid(format!("its ca '{ca}': {e}")))?;
        Ok((rebuilt, key, field("certificate")))
    }
}

/// Certificate parameters from a certificate variable's options.
fn certificate_params(options: &Value) -> Result<rcgen::CertificateParams, rcgen::Error> {
    let names: Vec<String> = options
        .get("alternative_names")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|n| n.as_str().map(str::to_string))
        .collect();
    let mut params = rcgen::CertificateParams::new(names)?;
    params.distinguished_name = rcgen::DistinguishedName::new();
    if let Some(cn) = options.get("common_name").and_then(Value::as_str) {
        params.distinguished_name.push(rcgen::DnType::CommonName, cn);
    }
    if options.get("is_ca").and_then(Value::as_bool) == Some(true) {
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params.key_usages = vec![
            rcgen::KeyUsagePurpose::KeyCertSign,
            rcgen::KeyUsagePurpose::CrlSign,
            rcgen::KeyUsagePurpose::DigitalSignature,
        ];
    }
    for usage in options
        .get("extended_key_usage")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
    {
        match usage {
            "server_auth" => {
                params.extended_key_usages.push(rcgen::ExtendedKeyUsagePurpose::ServerAuth)
            }
            "client_auth" => {
                params.extended_key_usages.push(rcgen::ExtendedKeyUsagePurpose::ClientAuth)
            }
            _ => {}
        }
    }
    Ok(params)
}

/// `len` random letters and digits (rejection sampling, so every character is equally likely).
fn random_text(len: usize) -> String {
    use rand::Rng;
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::rngs::OsRng;
    (0..len).map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char).collect()
}

/// An Ed25519 key as BOSH's ssh variables give it.
fn ssh_key() -> Result<Value, VariableError> {
    use ring::signature::KeyPair as _;
    let rng = ring::rand::SystemRandom::new();
    let failed = || VariableError::Invalid("an ssh key could not be generated".to_string());
    let pkcs8 = ring::signature::Ed25519KeyPair::generate_pkcs8(&rng).map_err(|_| failed())?;
    let pair = ring::signature::Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).map_err(|_| failed())?;
    let mut blob = Vec::new();
    for part in [b"ssh-ed25519".as_slice(), pair.public_key().as_ref()] {
        blob.extend_from_slice(&(part.len() as u32).to_be_bytes());
        blob.extend_from_slice(part);
    }
    let b64 = base64::engine::general_purpose::STANDARD;
    let public_key = format!("ssh-ed25519 {}", b64.encode(&blob));
    let fingerprint = {
        use sha2::Digest;
        let digest = sha2::Sha256::digest(&blob);
        format!("SHA256:{}", base64::engine::general_purpose::STANDARD_NO_PAD.encode(digest))
    };
    let body = b64.encode(pkcs8.as_ref());
    let mut private_key = String::from("-----BEGIN PRIVATE KEY-----\n");
    for line in body.as_bytes().chunks(64) {
        private_key.push_str(std::str::from_utf8(line).unwrap_or_default());
        private_key.push('\n');
    }
    private_key.push_str("-----END PRIVATE KEY-----\n");
    Ok(json!({
        "public_key": public_key,
        "private_key": private_key,
        "public_key_fingerprint": fingerprint,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use x509_parser::pem::parse_x509_pem;

    fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("b.db")).unwrap();
        (dir, store)
    }

    const MANIFEST: &str = r#"
name: d
variables:
- name: redis_cert
  type: certificate
  options: {ca: redis_ca, common_name: redis.example, alternative_names: [redis.example, 10.0.0.1]}
- name: redis_ca
  type: certificate
  options: {is_ca: true, common_name: redis-ca}
- name: secret_pass
  type: password
- name: admin
  type: user
  options: {username: admin}
- name: login
  type: ssh
properties:
  pass: ((secret_pass))
  ca: ((redis_cert.ca))
  user: ((admin.username))
  untouched: ((odb_secret:k))
"#;

    fn doc(text: &str) -> serde_yaml::Value {
        serde_yaml::from_str(text).unwrap()
    }

    fn value(store: &Store, deployment: &str, name: &str) -> ConfigValueRecord {
        store.config_value_latest(&absolute_name(deployment, name)).unwrap().unwrap()
    }

    #[test]
    fn every_type_is_generated_and_certificates_are_signed_by_their_ca() {
        let (_dir, store) = store();
        let used = materialise(&store, "d", &doc(MANIFEST)).unwrap();
        assert_eq!(used.len(), 5, "{used:?}");
        let pass = value(&store, "d", "secret_pass").value;
        assert_eq!(pass.as_str().unwrap().len(), 20);
        assert_eq!(value(&store, "d", "admin").value["username"], "admin");
        let ssh = value(&store, "d", "login").value;
        assert!(ssh["public_key"].as_str().unwrap().starts_with("ssh-ed25519 "));

        let ca = value(&store, "d", "redis_ca").value;
        let cert = value(&store, "d", "redis_cert").value;
        assert_eq!(cert["ca"], ca["certificate"]);
        let (_, ca_pem) = parse_x509_pem(ca["certificate"].as_str().unwrap().as_bytes()).unwrap();
        let ca_x509 = ca_pem.parse_x509().unwrap();
        assert!(ca_x509.is_ca());
        let (_, leaf_pem) =
            parse_x509_pem(cert["certificate"].as_str().unwrap().as_bytes()).unwrap();
        let leaf = leaf_pem.parse_x509().unwrap();
        assert!(!leaf.is_ca());
        assert_eq!(leaf.issuer(), ca_x509.subject());
        assert!(leaf.subject().to_string().contains("redis.example"));
        let sans = leaf.subject_alternative_name().unwrap().unwrap();
        assert_eq!(sans.value.general_names.len(), 2);
        // The ids listed are the stored versions.
        for (name, id) in &used {
            assert_eq!(&store.config_value_by_id(id).unwrap().unwrap().name, name);
        }
    }

    #[test]
    fn values_stay_across_deploys_unless_converge_sees_new_options() {
        let (_dir, store) = store();
        materialise(&store, "d", &doc(MANIFEST)).unwrap();
        let first = value(&store, "d", "secret_pass");
        materialise(&store, "d", &doc(MANIFEST)).unwrap();
        assert_eq!(value(&store, "d", "secret_pass").id, first.id);

        let changed = "name: d\nvariables:\n- {name: secret_pass, type: password, options: {length: 30}, update_mode: converge}\n";
        materialise(&store, "d", &doc(changed)).unwrap();
        let second = value(&store, "d", "secret_pass");
        assert_ne!(second.id, first.id);
        materialise(&store, "d", &doc(changed)).unwrap();
        assert_eq!(value(&store, "d", "secret_pass").id, second.id);
    }

    #[test]
    fn a_reference_to_nothing_fails_with_the_directors_message() {
        let (_dir, store) = store();
        let err = materialise(&store, "d", &doc("name: d\np: ((/odb/s/d/admin))\n")).unwrap_err();
        assert_eq!(err.to_string(), "Failed to find variable '/odb/s/d/admin' from config server");
        let err = materialise(&store, "d", &doc("name: d\np: ((nothing.x))\n")).unwrap_err();
        assert!(err.to_string().contains("/simulated-director/d/nothing"), "{err}");
        store.config_value_put("/odb/s/d/admin", "value", &Value::Null, &json!("pw")).unwrap();
        let used = materialise(&store, "d", &doc("name: d\np: ((/odb/s/d/admin))\n")).unwrap();
        assert_eq!(used[0].0, "/odb/s/d/admin");
    }

    #[test]
    fn hostile_names_and_unknown_types_are_refused() {
        let (_dir, store) = store();
        for name in ["../x", "/a/../b", "a/b", "a.b", "", "a\nb", "//x"] {
            let manifest = json!({"name": "d", "variables": [{"name": name, "type": "password"}]});
            let manifest: serde_yaml::Value = serde_yaml::to_value(&manifest).unwrap();
            let err = materialise(&store, "d", &manifest).unwrap_err();
            assert!(matches!(err, VariableError::Invalid(_)), "{name:?}: {err}");
        }
        let err = materialise(&store, "d", &doc("name: d\nvariables:\n- {name: k, type: rsa}\n"))
            .unwrap_err();
        assert!(err.to_string().contains("cannot generate rsa"), "{err}");
        assert!(store.config_value_names_like("").unwrap().is_empty());
    }
}

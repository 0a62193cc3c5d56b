//! The OSB catalog, built once from the configuration.

use crate::config::{Config, MaintenanceInfoConfig, PlanConfig, ServiceMetadata};
use crate::ids::PlanId;
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

/// The hash published for `maintenance_info.private`: hex(sha256 of the concatenation, over
/// keys in sorted order, of sha256(key) ‖ sha256(value)). Empty when there are no entries.
pub fn private_hash(private: &std::collections::BTreeMap<String, String>) -> String {
    if private.is_empty() {
        return String::new();
    }
    let mut outer = Sha256::new();
    for (k, v) in private {
        outer.update(Sha256::digest(k.as_bytes()));
        outer.update(Sha256::digest(v.as_bytes()));
    }
    hex::encode(outer.finalize())
}

/// The maintenance version a plan is at (the plan's, else the service's); `None` when
/// neither sets one. The one rule for "which version does an instance of this plan move to".
pub fn plan_maintenance_version(config: &Config, plan: &PlanConfig) -> Option<String> {
    effective_maintenance_info(config, plan).map(|mi| mi.version).filter(|v| !v.is_empty())
}

/// The effective maintenance info of a plan: the plan's overlaid on the service's. `None`
/// when neither sets a version, public or private entries.
pub fn effective_maintenance_info(
    config: &Config, plan: &PlanConfig,
) -> Option<MaintenanceInfoConfig> {
    let global = config.catalog.maintenance_info.clone().unwrap_or_default();
    let own = plan.maintenance_info.clone().unwrap_or_default();
    let mut public = global.public.clone();
    public.extend(own.public.clone());
    let mut private = global.private.clone();
    private.extend(own.private.clone());
    let version = if own.version.is_empty() { global.version } else { own.version };
    let description = if own.description.is_empty() { global.description } else { own.description };
    if public.is_empty() && private.is_empty() && version.is_empty() {
        return None;
    }
    Some(MaintenanceInfoConfig { public, private, version, description })
}

/// The maintenance info of a plan as published in the catalog.
pub fn published_maintenance_info(config: &Config, plan: &PlanConfig) -> Option<Value> {
    let mi = effective_maintenance_info(config, plan)?;
    let mut out = Map::new();
    if !mi.public.is_empty() {
        out.insert("public".into(), json!(mi.public));
    }
    let hash = private_hash(&mi.private);
    if !hash.is_empty() {
        out.insert("private".into(), json!(hash));
    }
    if !mi.version.is_empty() {
        out.insert("version".into(), json!(mi.version));
    }
    if !mi.description.is_empty() {
        out.insert("description".into(), json!(mi.description));
    }
    Some(Value::Object(out))
}

fn service_metadata(m: &ServiceMetadata) -> Value {
    let mut out = Map::new();
    for (key, value) in [
        ("displayName", &m.display_name),
        ("imageUrl", &m.image_url),
        ("longDescription", &m.long_description),
        ("providerDisplayName", &m.provider_display_name),
        ("documentationUrl", &m.documentation_url),
        ("supportUrl", &m.support_url),
    ] {
        if !value.is_empty() {
            out.insert(key.into(), json!(value));
        }
    }
    out.insert("shareable".into(), json!(m.shareable));
    for (k, v) in &m.extra {
        out.insert(k.clone(), v.clone());
    }
    Value::Object(out)
}

/// Builds the catalog body. `schemas` gives each plan's published schemas, by plan id.
pub fn build(config: &Config, schemas: &std::collections::BTreeMap<PlanId, Value>) -> Value {
    let c = &config.catalog;
    let plans: Vec<Value> = c
        .plans
        .iter()
        .map(|p| {
            let mut plan = Map::new();
            plan.insert("id".into(), json!(p.plan_id));
            plan.insert("name".into(), json!(p.name));
            plan.insert("description".into(), json!(p.description));
            if let Some(free) = p.free {
                plan.insert("free".into(), json!(free));
            }
            if let Some(b) = p.bindable {
                plan.insert("bindable".into(), json!(b));
            }
            if let Some(u) = p.plan_updatable {
                plan.insert("plan_updateable".into(), json!(u));
            }
            if let Some(r) = p.binding_rotatable {
                plan.insert("binding_rotatable".into(), json!(r));
            }
            if let Some(d) = p.maximum_polling_duration {
                plan.insert("maximum_polling_duration".into(), json!(d));
            }
            if let Some(m) = &p.metadata {
                let mut meta = Map::new();
                if !m.display_name.is_empty() {
                    meta.insert("displayName".into(), json!(m.display_name));
                }
                if !m.bullets.is_empty() {
                    meta.insert("bullets".into(), json!(m.bullets));
                }
                if !m.costs.is_empty() {
                    meta.insert("costs".into(), json!(m.costs));
                }
                for (k, v) in &m.extra {
                    meta.insert(k.clone(), v.clone());
                }
                plan.insert("metadata".into(), Value::Object(meta));
            }
            if let Some(mi) = published_maintenance_info(config, p) {
                plan.insert("maintenance_info".into(), mi);
            }
            if let Some(s) = schemas.get(&p.plan_id) {
                plan.insert("schemas".into(), s.clone());
            }
            Value::Object(plan)
        })
        .collect();
    let mut service = Map::new();
    service.insert("id".into(), json!(c.id));
    service.insert("name".into(), json!(c.service_name));
    service.insert("description".into(), json!(c.service_description));
    service.insert("bindable".into(), json!(c.bindable));
    service.insert("plan_updateable".into(), json!(c.plan_updatable));
    service.insert("instances_retrievable".into(), json!(true));
    service.insert("bindings_retrievable".into(), json!(true));
    service.insert("allow_context_updates".into(), json!(c.allow_context_updates));
    if !c.tags.is_empty() {
        service.insert("tags".into(), json!(c.tags));
    }
    if !c.requires.is_empty() {
        service.insert("requires".into(), json!(c.requires));
    }
    if let Some(m) = &c.metadata {
        service.insert("metadata".into(), service_metadata(m));
    }
    if let Some(d) = &c.dashboard_client {
        service.insert(
            "dashboard_client".into(),
            json!({"id": d.id, "secret": d.secret, "redirect_uri": d.redirect_uri}),
        );
    }
    service.insert("plans".into(), Value::Array(plans));
    json!({ "services": [Value::Object(service)] })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_hash_matches_the_go_broker() {
        let mut m = std::collections::BTreeMap::new();
        m.insert("key".to_string(), "value".to_string());
        assert_eq!(
            private_hash(&m),
            "81dc6f83e3da3843e6d79fc3cf866ed57e2a50fc89e1879053bef112dc889512"
        );
        assert_eq!(private_hash(&Default::default()), "");
    }
}

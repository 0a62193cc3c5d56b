//! The arbitrary parameters users may pass (`cf create-service -c`, `cf bind-service -c`),
//! checked against the plan: unknown names and bad values are refused with a message that
//! names the parameter, the value and what is allowed.

use serde_json::Value;
use service_adapter::Properties;

use crate::settings::{as_integer, PlanProperties, MAXMEMORY_POLICIES};
use service_adapter::AdapterError;

/// Parameter names accepted on provision and update.
pub const INSTANCE_PARAMETERS: &[&str] = &["maxclients", "maxmemory_policy", "persistence"];
/// Parameter names accepted on bind.
pub const BINDING_PARAMETERS: &[&str] = &["app_scoped"];

/// Provision/update parameters after validation; `None` means "not given".
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InstanceParameters {
    /// Redis `maxclients`, from 1 to the plan's `max_clients`.
    pub maxclients: Option<i64>,
    /// Redis `maxmemory-policy`, one of [`MAXMEMORY_POLICIES`].
    pub maxmemory_policy: Option<String>,
    /// Append-only-file persistence on or off.
    pub persistence: Option<bool>,
}

impl InstanceParameters {
    /// Validates the user's parameters against the plan's properties.
    ///
    /// `persistence: true` is refused on a plan whose `persistence` property is false:
    /// such plans have no persistent disk, so the data would not survive a VM recreate.
    pub fn parse(
        params: &Properties, plan: &PlanProperties,
    ) -> Result<InstanceParameters, AdapterError> {
        reject_unsupported(params, INSTANCE_PARAMETERS)?;
        let mut parsed = InstanceParameters::default();
        if let Some(value) = params.get("maxclients") {
            let allowed =
                format!("an integer from 1 to {}, the maximum of this plan", plan.max_clients);
            match as_integer(value) {
                Some(n) if (1..=plan.max_clients).contains(&n) => parsed.maxclients = Some(n),
                _ => return Err(invalid_value("maxclients", value, &allowed)),
            }
        }
        if let Some(value) = params.get("maxmemory_policy") {
            match value.as_str() {
                Some(policy) if MAXMEMORY_POLICIES.contains(&policy) => {
                    parsed.maxmemory_policy = Some(policy.to_string())
                }
                _ => {
                    let allowed = format!("one of {}", MAXMEMORY_POLICIES.join(", "));
                    return Err(invalid_value("maxmemory_policy", value, &allowed));
                }
            }
        }
        if let Some(value) = params.get("persistence") {
            match value {
                Value::Bool(true) if !plan.persistence => {
                    return Err(AdapterError::other(
                        "invalid value for parameter persistence: true (this plan has no \
                         persistent disk, so only false is allowed); choose a plan with \
                         persistence to keep data across restarts",
                    ))
                }
                Value::Bool(b) => parsed.persistence = Some(*b),
                _ => return Err(invalid_value("persistence", value, "true or false")),
            }
        }
        Ok(parsed)
    }
}

/// Bind parameters after validation.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BindingParameters {
    /// The binding must be for an application (not a service key); its GUID is added to
    /// the credentials.
    pub app_scoped: bool,
}

impl BindingParameters {
    /// Validates the user's bind parameters.
    pub fn parse(params: &Properties) -> Result<BindingParameters, AdapterError> {
        reject_unsupported(params, BINDING_PARAMETERS)?;
        let mut parsed = BindingParameters::default();
        if let Some(value) = params.get("app_scoped") {
            match value {
                Value::Bool(b) => parsed.app_scoped = *b,
                _ => return Err(invalid_value("app_scoped", value, "true or false")),
            }
        }
        Ok(parsed)
    }
}

/// Refuses any parameter not in `supported`, naming them all, sorted.
fn reject_unsupported(params: &Properties, supported: &[&str]) -> Result<(), AdapterError> {
    let mut unknown: Vec<&str> =
        params.keys().map(String::as_str).filter(|name| !supported.contains(name)).collect();
    if unknown.is_empty() {
        return Ok(());
    }
    unknown.sort_unstable();
    Err(AdapterError::other(format!(
        "unsupported parameter(s) for this service plan: {}",
        unknown.join(", ")
    )))
}

fn invalid_value(name: &str, value: &Value, allowed: &str) -> AdapterError {
    AdapterError::other(format!("invalid value for parameter {name}: {value} (must be {allowed})"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn props(value: Value) -> Properties {
        value.as_object().unwrap().clone()
    }

    fn plan(persistence: bool, max_clients: i64) -> PlanProperties {
        PlanProperties { persistence, maxmemory_mb: 256, max_clients, secure_password: false }
    }

    #[test]
    fn accepts_every_supported_parameter() {
        let parsed = InstanceParameters::parse(
            &props(
                json!({"maxclients": 500, "maxmemory_policy": "volatile-ttl", "persistence": true}),
            ),
            &plan(true, 1000),
        )
        .unwrap();
        assert_eq!(
            parsed,
            InstanceParameters {
                maxclients: Some(500),
                maxmemory_policy: Some("volatile-ttl".into()),
                persistence: Some(true),
            }
        );
    }

    #[test]
    fn unknown_parameters_are_listed_sorted() {
        let err = InstanceParameters::parse(
            &props(json!({"zeta": 1, "maxclients": 5, "alpha": true})),
            &plan(false, 1000),
        )
        .unwrap_err();
        assert_eq!(err.to_string(), "unsupported parameter(s) for this service plan: alpha, zeta");
    }

    #[test]
    fn maxclients_is_bounded_by_the_plan() {
        let p = plan(false, 1000);
        assert!(InstanceParameters::parse(&props(json!({"maxclients": 1000})), &p).is_ok());
        for bad in [json!(0), json!(1001), json!("500"), json!(1.5), json!(null)] {
            let err = InstanceParameters::parse(&props(json!({ "maxclients": bad })), &p)
                .unwrap_err()
                .to_string();
            assert!(
                err.starts_with(&format!("invalid value for parameter maxclients: {bad} ")),
                "{err}"
            );
            assert!(err.contains("from 1 to 1000"), "{err}");
        }
    }

    #[test]
    fn maxmemory_policy_must_be_known() {
        let err =
            InstanceParameters::parse(&props(json!({"maxmemory_policy": "lru"})), &plan(false, 10))
                .unwrap_err()
                .to_string();
        assert_eq!(
            err,
            "invalid value for parameter maxmemory_policy: \"lru\" (must be one of noeviction, \
             allkeys-lru, volatile-lru, allkeys-random, volatile-random, volatile-ttl, \
             allkeys-lfu, volatile-lfu)"
        );
    }

    #[test]
    fn persistence_must_be_a_bool_and_needs_a_persistent_plan() {
        let err = InstanceParameters::parse(&props(json!({"persistence": "yes"})), &plan(true, 10))
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("invalid value for parameter persistence: \"yes\""), "{err}");
        let err = InstanceParameters::parse(&props(json!({"persistence": true})), &plan(false, 10))
            .unwrap_err()
            .to_string();
        assert!(err.contains("no persistent disk"), "{err}");
        let off =
            InstanceParameters::parse(&props(json!({"persistence": false})), &plan(false, 10))
                .unwrap();
        assert_eq!(off.persistence, Some(false));
    }

    #[test]
    fn binding_parameters() {
        assert!(BindingParameters::parse(&props(json!({"app_scoped": true}))).unwrap().app_scoped);
        assert!(!BindingParameters::parse(&Properties::new()).unwrap().app_scoped);
        assert_eq!(
            BindingParameters::parse(&props(json!({"readonly": true}))).unwrap_err().to_string(),
            "unsupported parameter(s) for this service plan: readonly"
        );
        assert!(BindingParameters::parse(&props(json!({"app_scoped": "yes"}))).is_err());
    }
}

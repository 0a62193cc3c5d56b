//! The service's fixed names and defaults, and the plan properties an operator sets in
//! the broker's catalog (`persistence`, `maxmemory_mb`, `max_clients`).

use serde_json::Value;
use service_adapter::{Plan, Properties};

use service_adapter::AdapterError;

/// The instance group (and job) that runs Redis.
pub const REDIS_SERVER: &str = "redis-server";
/// The optional errand instance group (and job) that smoke-tests a deployment.
pub const SMOKE_TESTS: &str = "redis-smoke-tests";
/// The stemcell alias every instance group uses.
pub const STEMCELL_ALIAS: &str = "default";
/// The TCP port Redis listens on.
pub const REDIS_PORT: i64 = 6379;
/// The key of the BOSH DNS address used for bindings (the plan's `binding_with_dns` name).
pub const DNS_ADDRESS_KEY: &str = "redis-address";
/// Length of the generated admin password.
pub const PASSWORD_LENGTH: usize = 32;
/// The `maxmemory-policy` values Redis accepts.
pub const MAXMEMORY_POLICIES: &[&str] = &[
    "noeviction",
    "allkeys-lru",
    "volatile-lru",
    "allkeys-random",
    "volatile-random",
    "volatile-ttl",
    "allkeys-lfu",
    "volatile-lfu",
];
/// Default `persistence` plan property.
pub const DEFAULT_PERSISTENCE: bool = false;
/// Default `maxmemory_mb` plan property.
pub const DEFAULT_MAXMEMORY_MB: i64 = 256;
/// Default `max_clients` plan property.
pub const DEFAULT_MAX_CLIENTS: i64 = 1000;

/// The eviction policy used when nobody chose one: a persistent store must not drop keys
/// silently, a cache should evict the least recently used ones.
pub fn default_maxmemory_policy(persistence: bool) -> &'static str {
    if persistence {
        "noeviction"
    } else {
        "allkeys-lru"
    }
}

/// The plan properties this adapter reads, with defaults filled in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlanProperties {
    /// Whether the plan supports (and by default enables) append-only-file persistence.
    /// Only plans with a persistent disk should set it.
    pub persistence: bool,
    /// Memory limit of each Redis server, in MiB (Redis `maxmemory`).
    pub maxmemory_mb: i64,
    /// The largest `maxclients` a user may ask for on this plan; also the default.
    pub max_clients: i64,
}

impl Default for PlanProperties {
    fn default() -> Self {
        PlanProperties {
            persistence: DEFAULT_PERSISTENCE,
            maxmemory_mb: DEFAULT_MAXMEMORY_MB,
            max_clients: DEFAULT_MAX_CLIENTS,
        }
    }
}

impl PlanProperties {
    /// Reads the properties of `plan`; absent (or `null`) ones take their defaults. A
    /// property of the wrong type is an operator error and names the property to fix.
    pub fn from_plan(plan: &Plan) -> Result<PlanProperties, AdapterError> {
        Self::from_properties(&plan.properties)
    }

    /// Reads the properties from a plan's `properties` object.
    pub fn from_properties(properties: &Properties) -> Result<PlanProperties, AdapterError> {
        let defaults = PlanProperties::default();
        let persistence = match properties.get("persistence") {
            None | Some(Value::Null) => defaults.persistence,
            Some(Value::Bool(b)) => *b,
            Some(other) => return Err(bad_plan_property("persistence", other, "true or false")),
        };
        let positive = |name: &str, default: i64| match properties.get(name) {
            None | Some(Value::Null) => Ok(default),
            Some(value) => match as_integer(value) {
                Some(n) if n >= 1 => Ok(n),
                _ => Err(bad_plan_property(name, value, "a positive integer")),
            },
        };
        Ok(PlanProperties {
            persistence,
            maxmemory_mb: positive("maxmemory_mb", defaults.maxmemory_mb)?,
            max_clients: positive("max_clients", defaults.max_clients)?,
        })
    }
}

fn bad_plan_property(name: &str, value: &Value, allowed: &str) -> AdapterError {
    AdapterError::other(format!(
        "invalid plan property {name}: {value} (must be {allowed}); \
         ask the operator to fix this plan in the broker configuration"
    ))
}

/// A JSON number that is a whole number (`500` or `500.0`), as an `i64`.
pub fn as_integer(value: &Value) -> Option<i64> {
    match value {
        Value::Number(n) => n.as_i64().or_else(|| {
            n.as_f64()
                .filter(|f| f.fract() == 0.0 && f.abs() < 9.0e15)
                .map(|f| f as i64)
        }),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn props(value: Value) -> Properties {
        value.as_object().unwrap().clone()
    }

    #[test]
    fn absent_properties_take_defaults() {
        assert_eq!(
            PlanProperties::from_properties(&Properties::new()).unwrap(),
            PlanProperties::default()
        );
    }

    #[test]
    fn reads_the_sample_catalog_properties() {
        let p = PlanProperties::from_properties(&props(
            json!({"persistence": true, "maxmemory_mb": 1024, "max_clients": 10000}),
        ))
        .unwrap();
        assert_eq!(
            p,
            PlanProperties {
                persistence: true,
                maxmemory_mb: 1024,
                max_clients: 10000
            }
        );
    }

    #[test]
    fn wrong_types_name_the_property() {
        let err = PlanProperties::from_properties(&props(json!({"max_clients": "many"})))
            .unwrap_err()
            .to_string();
        assert!(err.contains("max_clients"), "{err}");
        assert!(err.contains("\"many\""), "{err}");
        let err = PlanProperties::from_properties(&props(json!({"persistence": "yes"})))
            .unwrap_err()
            .to_string();
        assert!(err.contains("persistence"), "{err}");
        assert!(PlanProperties::from_properties(&props(json!({"maxmemory_mb": 0}))).is_err());
    }
}

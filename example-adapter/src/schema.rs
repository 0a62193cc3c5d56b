//! generate-plan-schemas: draft-04 JSON schemas of the parameters this adapter accepts,
//! so the broker (and the platform) can check them before calling the adapter.

use serde_json::{json, Value};
use service_adapter::{
    GeneratePlanSchemasParams, JsonSchemas, PlanSchema, Properties, ServiceBindingSchema,
    ServiceInstanceSchema,
};

use crate::settings::{PlanProperties, MAXMEMORY_POLICIES};
use service_adapter::AdapterError;

/// The JSON Schema dialect of every schema.
pub const SCHEMA_DRAFT_04: &str = "http://json-schema.org/draft-04/schema#";

/// Describes the Redis service's parameters.
#[derive(Debug, Clone, Copy, Default)]
pub struct RedisSchemas;

/// Schemas for provision and update (`maxclients`, `maxmemory_policy`, `persistence`)
/// and for bind (`app_scoped`); unknown parameters are not allowed.
pub fn generate_plan_schemas(
    params: &GeneratePlanSchemasParams,
) -> Result<PlanSchema, AdapterError> {
    let plan = PlanProperties::from_plan(&params.plan)?;
    let mut persistence = json!({
        "type": "boolean",
        "description": "Append-only-file persistence. Cannot be turned off once on.",
    });
    if !plan.persistence {
        persistence["enum"] = json!([false]);
        persistence["description"] = json!("This plan has no persistent disk: only false.");
    }
    let instance = object_schema(json!({
        "maxclients": {
            "type": "integer",
            "minimum": 1,
            "maximum": plan.max_clients,
            "description": "Maximum number of connected clients.",
        },
        "maxmemory_policy": {
            "type": "string",
            "enum": MAXMEMORY_POLICIES,
            "description": "What Redis evicts when it reaches maxmemory.",
        },
        "persistence": persistence,
    }));
    let binding = object_schema(json!({
        "app_scoped": {
            "type": "boolean",
            "description": "Refuse the binding unless it is for an application (not a service key).",
        },
    }));
    Ok(PlanSchema {
        service_instance: ServiceInstanceSchema {
            create: JsonSchemas { parameters: Some(instance.clone()) },
            update: JsonSchemas { parameters: Some(instance) },
        },
        service_binding: ServiceBindingSchema { create: JsonSchemas { parameters: Some(binding) } },
    })
}

fn object_schema(properties: Value) -> Properties {
    let schema = json!({
        "$schema": SCHEMA_DRAFT_04,
        "type": "object",
        "properties": properties,
        "additionalProperties": false,
    });
    match schema {
        Value::Object(map) => map,
        _ => unreachable!("a JSON object literal"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use service_adapter::Plan;

    fn schemas(properties: Value) -> PlanSchema {
        let plan = Plan { properties: properties.as_object().unwrap().clone(), ..Plan::default() };
        generate_plan_schemas(&GeneratePlanSchemasParams { plan }).unwrap()
    }

    #[test]
    fn instance_schema_follows_the_plan() {
        let s = schemas(json!({"persistence": true, "max_clients": 10000}));
        let create = Value::Object(s.service_instance.create.parameters.clone().unwrap());
        assert_eq!(create["$schema"], SCHEMA_DRAFT_04);
        assert_eq!(create["type"], "object");
        assert_eq!(create["additionalProperties"], false);
        assert_eq!(create["properties"]["maxclients"]["maximum"], 10000);
        assert_eq!(create["properties"]["maxmemory_policy"]["enum"].as_array().unwrap().len(), 8);
        assert_eq!(create["properties"]["persistence"]["type"], "boolean");
        assert!(create["properties"]["persistence"].get("enum").is_none());
        assert_eq!(s.service_instance.update, s.service_instance.create);
    }

    #[test]
    fn non_persistent_plan_only_allows_persistence_false() {
        let s = schemas(json!({}));
        let create = Value::Object(s.service_instance.create.parameters.unwrap());
        assert_eq!(create["properties"]["maxclients"]["maximum"], 1000);
        assert_eq!(create["properties"]["persistence"]["enum"], json!([false]));
    }

    #[test]
    fn binding_schema_allows_only_app_scoped() {
        let s = schemas(json!({}));
        let bind = Value::Object(s.service_binding.create.parameters.unwrap());
        assert_eq!(bind["$schema"], SCHEMA_DRAFT_04);
        assert_eq!(bind["additionalProperties"], false);
        assert_eq!(bind["properties"]["app_scoped"]["type"], "boolean");
    }
}

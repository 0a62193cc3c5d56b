//! Plan parameter schemas (`broker.enable_plan_schemas`): fetched from the adapter's
//! `generate-plan-schemas` at start-up, checked to be draft-04 JSON Schemas, published in the
//! catalog, and used to validate `parameters` on provision, update and bind.

use serde_json::{json, Map, Value};
use service_adapter::PlanSchema;

const DRAFT_04: &str = "http://json-schema.org/draft-04/schema#";

/// Which request a schema applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SchemaKind {
    /// Provision parameters.
    InstanceCreate,
    /// Update parameters.
    InstanceUpdate,
    /// Bind parameters.
    BindingCreate,
}

impl SchemaKind {
    fn describe(self) -> &'static str {
        match self {
            Self::InstanceCreate => "instance create",
            Self::InstanceUpdate => "instance update",
            Self::BindingCreate => "binding create",
        }
    }
}

/// The compiled schemas of one plan.
pub struct PlanSchemas {
    published: Value,
    instance_create: Option<jsonschema::Validator>,
    instance_update: Option<jsonschema::Validator>,
    binding_create: Option<jsonschema::Validator>,
}

impl std::fmt::Debug for PlanSchemas {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PlanSchemas").field("published", &self.published).finish()
    }
}

fn compile(
    plan_name: &str, kind: SchemaKind, schema: Option<&Map<String, Value>>,
) -> Result<Option<jsonschema::Validator>, String> {
    let Some(schema) = schema else {
        return Ok(None);
    };
    let prefix = format!(
        "Invalid JSON Schema for plan {plan_name}: Error validating plan schemas for {} - failed validating schema",
        kind.describe()
    );
    match schema.get("$schema").and_then(Value::as_str) {
        Some(s) if s.trim_end_matches('#') == DRAFT_04.trim_end_matches('#') => {}
        Some(other) => {
            return Err(format!(
                "{prefix} - only JSON Schema version draft-04 is supported (got $schema '{other}'): set \"$schema\": \"{DRAFT_04}\""
            ))
        }
        None => return Err(format!("{prefix} - the schema has no $schema: set \"$schema\": \"{DRAFT_04}\"")),
    }
    let value = Value::Object(schema.clone());
    jsonschema::draft4::new(&value)
        .map(Some)
        .map_err(|e| format!("{prefix} - schema does not conform to JSON Schema spec: {e}"))
}

impl PlanSchemas {
    /// Checks and compiles a plan's schemas; the error names the plan and the schema.
    pub fn new(plan_name: &str, schema: &PlanSchema) -> Result<Self, String> {
        let ic = schema.service_instance.create.parameters.as_ref();
        let iu = schema.service_instance.update.parameters.as_ref();
        let bc = schema.service_binding.create.parameters.as_ref();
        let published = json!({
            "service_instance": {
                "create": {"parameters": ic},
                "update": {"parameters": iu},
            },
            "service_binding": {"create": {"parameters": bc}},
        });
        Ok(Self {
            published: strip_nulls(published),
            instance_create: compile(plan_name, SchemaKind::InstanceCreate, ic)?,
            instance_update: compile(plan_name, SchemaKind::InstanceUpdate, iu)?,
            binding_create: compile(plan_name, SchemaKind::BindingCreate, bc)?,
        })
    }

    /// The `schemas` object for the catalog.
    pub fn published(&self) -> &Value {
        &self.published
    }

    /// Validates parameters; on failure returns every violation as `path: reason`.
    pub fn validate(&self, kind: SchemaKind, parameters: &Value) -> Result<(), Vec<String>> {
        let validator = match kind {
            SchemaKind::InstanceCreate => &self.instance_create,
            SchemaKind::InstanceUpdate => &self.instance_update,
            SchemaKind::BindingCreate => &self.binding_create,
        };
        let Some(validator) = validator else {
            return Ok(());
        };
        let errors: Vec<String> = validator
            .iter_errors(parameters)
            .map(|e| {
                let path = e.instance_path().to_string();
                let path = if path.is_empty() {
                    "parameters".to_string()
                } else {
                    format!("parameters{path}")
                };
                format!("{path}: {e}")
            })
            .collect();
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }
}

/// The 400 description for failed validation, listing every violation.
pub fn violation_message(errors: &[String]) -> String {
    format!("validation against JSON schema failed:\n{}", errors.join("; "))
}

fn strip_nulls(v: Value) -> Value {
    match v {
        Value::Object(map) => {
            let cleaned: Map<String, Value> = map
                .into_iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k, strip_nulls(v)))
                .filter(|(_, v)| !matches!(v, Value::Object(m) if m.is_empty()))
                .collect();
            Value::Object(cleaned)
        }
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schema(create: Value) -> PlanSchema {
        serde_json::from_value(json!({
            "service_instance": {"create": {"parameters": create}, "update": {"parameters": null}},
            "service_binding": {"create": {"parameters": null}}
        }))
        .unwrap()
    }

    #[test]
    fn validates_and_lists_every_violation() {
        let s = PlanSchemas::new(
            "small",
            &schema(json!({
                "$schema": DRAFT_04,
                "type": "object",
                "properties": {"maxclients": {"type": "integer", "maximum": 100}, "policy": {"enum": ["a", "b"]}},
                "additionalProperties": false
            })),
        )
        .unwrap();
        assert!(s.validate(SchemaKind::InstanceCreate, &json!({"maxclients": 5})).is_ok());
        let errs = s
            .validate(
                SchemaKind::InstanceCreate,
                &json!({"maxclients": 500, "policy": "c", "x": 1}),
            )
            .unwrap_err();
        assert_eq!(errs.len(), 3, "{errs:?}");
        assert!(errs.iter().any(|e| e.starts_with("parameters/maxclients")), "{errs:?}");
        assert!(
            s.validate(SchemaKind::InstanceUpdate, &json!({"anything": 1})).is_ok(),
            "no update schema"
        );
        assert_eq!(s.published()["service_instance"]["create"]["parameters"]["type"], "object");
        assert!(s.published()["service_binding"].is_null(), "null schemas are not published");
    }

    #[test]
    fn only_draft_04_is_accepted() {
        let err = PlanSchemas::new("small", &schema(json!({"type": "object"}))).unwrap_err();
        assert!(err.contains("plan small") && err.contains("instance create"), "{err}");
        let err = PlanSchemas::new(
            "small",
            &schema(
                json!({"$schema": "http://json-schema.org/draft-07/schema#", "type": "object"}),
            ),
        )
        .unwrap_err();
        assert!(err.contains("draft-04"), "{err}");
        let err = PlanSchemas::new("small", &schema(json!({"$schema": DRAFT_04, "type": 12})))
            .unwrap_err();
        assert!(err.contains("does not conform"), "{err}");
    }
}

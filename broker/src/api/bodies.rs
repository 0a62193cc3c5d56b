//! The OSB request bodies as types, decoded with serde through one extractor, [`OsbBody`].
//!
//! The field types carry the rules every body shares, so that the 400 answers say what to
//! fix: a required text is a non-empty string ([`RequiredText`]), a required id is one under
//! its rule ([`RequiredId`]), an optional text treats `""` as absent ([`optional_text`]),
//! objects must be objects ([`JsonObject`]). Decoding goes
//! through `serde_path_to_error`, so a message names the field (`context.x must be …`).
//! Unknown fields are ignored, as the OSB specification asks of brokers.

use super::error::ApiError;
use super::extract::JsonBody;
use crate::ids::{BindingId, Id, IdError, PlanId, ServiceId};
use crate::service::{BindRequest, ProvisionRequest, UpdateRequest};
use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest};
use serde::de::{DeserializeOwned, Error as _};
use serde::{Deserialize, Deserializer};
use serde_json::{Map, Value};
use std::future::Future;
use std::pin::Pin;

/// The message of a required field that is absent, `null` or `""`.
const REQUIRED: &str = "is missing or empty: it is required";

/// A request body decoded into `T` (after the size and depth limits of [`JsonBody`]).
#[derive(Debug, Clone)]
pub struct OsbBody<T>(pub T);

impl<T: DeserializeOwned + 'static> FromRequest for OsbBody<T> {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let body = JsonBody::from_request(req, payload);
        Box::pin(async move {
            let JsonBody(map) = body.await?;
            decode(map).map(Self)
        })
    }
}

/// Decodes a body object into `T`, with a message naming the field at fault.
pub fn decode<T: DeserializeOwned>(map: Map<String, Value>) -> Result<T, ApiError> {
    serde_path_to_error::deserialize(Value::Object(map)).map_err(|e| {
        let message = e.inner().to_string();
        let path = e.path().to_string();
        // serde's own words for an absent field: "missing field `name`".
        if let Some(field) =
            message.strip_prefix("missing field `").and_then(|rest| rest.strip_suffix('`'))
        {
            let at = if path == "." { field.to_string() } else { format!("{path}.{field}") };
            return ApiError::bad_request(format!("{at} {REQUIRED}"));
        }
        if path == "." {
            ApiError::bad_request(format!("the request body {message}"))
        } else {
            ApiError::bad_request(format!("{path} {message}"))
        }
    })
}

/// A required, non-empty string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequiredText(pub String);

impl<'de> Deserialize<'de> for RequiredText {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match Value::deserialize(d)? {
            Value::String(s) if !s.is_empty() => Ok(Self(s)),
            Value::String(_) | Value::Null => Err(D::Error::custom(REQUIRED)),
            _ => Err(D::Error::custom("must be a string")),
        }
    }
}

/// What a body says of an id that breaks its rule.
pub fn id_message<T: Id>(e: &IdError) -> String {
    format!("{e}: use {}", T::RULE)
}

/// A required id: a non-empty string (as [`RequiredText`]) under the id's rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequiredId<T>(pub T);

impl<'de, T: Id> Deserialize<'de> for RequiredId<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let RequiredText(text) = RequiredText::deserialize(d)?;
        T::parse(&text).map(Self).map_err(|e| D::Error::custom(id_message::<T>(&e)))
    }
}

/// A JSON object (a field sent as anything else is refused).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct JsonObject(pub Map<String, Value>);

impl JsonObject {
    /// The object as a JSON value.
    pub fn into_value(self) -> Value {
        Value::Object(self.0)
    }
}

impl<'de> Deserialize<'de> for JsonObject {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match Value::deserialize(d)? {
            Value::Object(map) => Ok(Self(map)),
            _ => Err(D::Error::custom("must be a JSON object")),
        }
    }
}

/// An optional string: absent, `null` and `""` are all `None`.
pub fn optional_text<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    match Value::deserialize(d)? {
        Value::Null => Ok(None),
        Value::String(s) if s.is_empty() => Ok(None),
        Value::String(s) => Ok(Some(s)),
        _ => Err(D::Error::custom("must be a string")),
    }
}

/// An optional id under its rule (`""` counts as absent).
fn optional_id<'de, D: Deserializer<'de>, T: Id>(d: D) -> Result<Option<T>, D::Error> {
    optional_text(d)?
        .map(|raw| T::parse(&raw).map_err(|e| D::Error::custom(id_message::<T>(&e))))
        .transpose()
}

fn object_value(object: Option<JsonObject>) -> Option<Value> {
    object.map(JsonObject::into_value)
}

/// `PUT /v2/service_instances/{id}`.
#[derive(Debug, Deserialize)]
pub struct ProvisionBody {
    service_id: RequiredId<ServiceId>,
    plan_id: RequiredId<PlanId>,
    organization_guid: RequiredText,
    space_guid: RequiredText,
    #[serde(default)]
    context: Option<JsonObject>,
    #[serde(default)]
    parameters: Option<JsonObject>,
    #[serde(default)]
    maintenance_info: Option<JsonObject>,
}

impl ProvisionBody {
    /// The provision request, with the query's `accepts_incomplete`.
    pub fn into_request(self, accepts_incomplete: bool) -> ProvisionRequest {
        ProvisionRequest {
            service_id: self.service_id.0,
            plan_id: self.plan_id.0,
            organization_guid: self.organization_guid.0,
            space_guid: self.space_guid.0,
            context: object_value(self.context),
            parameters: self.parameters.unwrap_or_default().into_value(),
            maintenance_info: object_value(self.maintenance_info),
            accepts_incomplete,
        }
    }
}

/// `PATCH /v2/service_instances/{id}`.
#[derive(Debug, Deserialize)]
pub struct UpdateBody {
    service_id: RequiredId<ServiceId>,
    #[serde(default, deserialize_with = "optional_id")]
    plan_id: Option<PlanId>,
    #[serde(default)]
    parameters: Option<JsonObject>,
    #[serde(default)]
    context: Option<JsonObject>,
    #[serde(default)]
    previous_values: Option<JsonObject>,
    #[serde(default)]
    maintenance_info: Option<JsonObject>,
}

impl UpdateBody {
    /// The update request, with the query's `accepts_incomplete`. Absent or `null`
    /// parameters stay `None`: "no change", unlike `{}`.
    pub fn into_request(self, accepts_incomplete: bool) -> UpdateRequest {
        UpdateRequest {
            service_id: self.service_id.0,
            plan_id: self.plan_id,
            parameters: object_value(self.parameters),
            context: object_value(self.context),
            previous_values: object_value(self.previous_values),
            maintenance_info: object_value(self.maintenance_info),
            accepts_incomplete,
        }
    }
}

/// `PUT /v2/service_instances/{id}/service_bindings/{binding_id}`.
#[derive(Debug, Deserialize)]
pub struct BindBody {
    service_id: RequiredId<ServiceId>,
    plan_id: RequiredId<PlanId>,
    #[serde(default)]
    parameters: Option<JsonObject>,
    #[serde(default)]
    bind_resource: Option<JsonObject>,
    #[serde(default)]
    context: Option<JsonObject>,
    #[serde(default, deserialize_with = "optional_text")]
    app_guid: Option<String>,
    #[serde(default, deserialize_with = "optional_id")]
    predecessor_binding_id: Option<BindingId>,
}

impl BindBody {
    /// The bind request.
    pub fn into_request(self) -> BindRequest {
        BindRequest {
            service_id: self.service_id.0,
            plan_id: self.plan_id.0,
            parameters: self.parameters.unwrap_or_default().into_value(),
            bind_resource: object_value(self.bind_resource),
            context: object_value(self.context),
            app_guid: self.app_guid,
            predecessor_binding_id: self.predecessor_binding_id,
        }
    }
}

/// The optional body of a management PATCH: only its `context` is read.
#[derive(Debug, Deserialize)]
pub struct ManagementBody {
    #[serde(default)]
    context: Option<JsonObject>,
}

impl ManagementBody {
    /// The context that replaces the stored one, when sent.
    pub fn into_context(self) -> Option<Value> {
        object_value(self.context)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn message<T: DeserializeOwned + std::fmt::Debug>(body: Value) -> String {
        let Value::Object(map) = body else { panic!("not an object") };
        decode::<T>(map).unwrap_err().description.unwrap_or_default()
    }

    fn ok<T: DeserializeOwned>(body: Value) -> T {
        let Value::Object(map) = body else { panic!("not an object") };
        decode(map).unwrap()
    }

    #[test]
    fn required_fields_say_what_is_missing() {
        let full =
            json!({"service_id": "s", "plan_id": "p", "organization_guid": "o", "space_guid": "x"});
        for field in ["service_id", "plan_id", "organization_guid", "space_guid"] {
            for bad in [None, Some(json!("")), Some(Value::Null)] {
                let mut body = full.clone();
                match bad {
                    None => {
                        body.as_object_mut().unwrap().remove(field);
                    }
                    Some(v) => body[field] = v,
                }
                assert_eq!(
                    message::<ProvisionBody>(body),
                    format!("{field} is missing or empty: it is required")
                );
            }
            let mut body = full.clone();
            body[field] = json!(7);
            assert_eq!(message::<ProvisionBody>(body), format!("{field} must be a string"));
        }
    }

    #[test]
    fn objects_must_be_objects() {
        let base = json!({"service_id": "s", "plan_id": "p"});
        for field in ["parameters", "bind_resource", "context"] {
            let mut body = base.clone();
            body[field] = json!([1]);
            assert_eq!(message::<BindBody>(body), format!("{field} must be a JSON object"));
        }
    }

    #[test]
    fn absent_parameters_differ_from_empty_ones_on_update() {
        let none: UpdateBody = ok(json!({"service_id": "s", "parameters": null}));
        assert_eq!(none.into_request(true).parameters, None);
        let empty: UpdateBody = ok(json!({"service_id": "s", "parameters": {}}));
        assert_eq!(empty.into_request(true).parameters, Some(json!({})));
        let provision: ProvisionBody = ok(
            json!({"service_id": "s", "plan_id": "p", "organization_guid": "o", "space_guid": "x"}),
        );
        assert_eq!(provision.into_request(false).parameters, json!({}));
    }

    #[test]
    fn optional_texts_treat_empty_as_absent_and_ids_follow_the_rule() {
        let bind: BindBody = ok(
            json!({"service_id": "s", "plan_id": "p", "app_guid": "", "predecessor_binding_id": ""}),
        );
        let request = bind.into_request();
        assert_eq!(request.app_guid, None);
        assert_eq!(request.predecessor_binding_id, None);
        let bad = message::<BindBody>(
            json!({"service_id": "s", "plan_id": "p", "predecessor_binding_id": "../x"}),
        );
        assert!(bad.starts_with("predecessor_binding_id "), "{bad}");
        assert!(bad.contains(crate::ids::ID_RULE), "{bad}");
        assert_eq!(
            message::<BindBody>(json!({"service_id": "s", "plan_id": "p", "app_guid": 1})),
            "app_guid must be a string"
        );
    }

    #[test]
    fn catalog_ids_follow_the_catalog_rule() {
        let body = |service: Value, plan: Value| json!({"service_id": service, "plan_id": plan, "organization_guid": "o", "space_guid": "x"});
        let rule = crate::ids::CATALOG_ID_RULE;
        for (service, plan, expected) in [
            (
                json!("s\r\nX-Injected: 1"),
                json!("p"),
                format!("service_id holds the character '\\r' at position 1: use {rule}"),
            ),
            (
                json!("s"),
                json!("p\u{0}"),
                format!("plan_id holds the character '\\0' at position 1: use {rule}"),
            ),
            (
                json!("s"),
                json!("p".repeat(100_000)),
                format!("plan_id is 100000 characters long: use {rule}"),
            ),
        ] {
            assert_eq!(message::<ProvisionBody>(body(service, plan)), expected);
        }
        // Any other text is an id: whether the catalog has it is the use case's question.
        let odd: ProvisionBody = ok(body(json!("a service/with spaces"), json!("plän?#")));
        let request = odd.into_request(true);
        assert_eq!(request.service_id, "a service/with spaces");
        assert_eq!(request.plan_id, "plän?#");
        let update: UpdateBody = ok(json!({"service_id": "s", "plan_id": ""}));
        assert_eq!(update.into_request(true).plan_id, None);
        assert_eq!(
            message::<UpdateBody>(json!({"service_id": "s", "plan_id": "\u{1b}[31m"})),
            format!("plan_id holds the character '\\u{{1b}}' at position 0: use {rule}")
        );
    }

    #[test]
    fn unknown_fields_are_ignored() {
        let body: BindBody = ok(json!({"service_id": "s", "plan_id": "p", "extra": {"x": 1}}));
        assert_eq!(body.into_request().service_id, "s");
    }
}

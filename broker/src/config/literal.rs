//! Keys the Go broker reads as strings keep the text the operator wrote.
//!
//! The Go broker decodes its config with gopkg.in/yaml.v2, which stores the *literal text* of
//! any scalar in a string field: `version: 621.10` is the string `621.10`, `version: 1234` is
//! `1234`, `id: 0x1F` is `0x1F`. The broker loads the file into a [`serde_yaml::Value`] first
//! (for `${NAME}` references and environment overrides), and a `Value` keeps only the parsed
//! number, so `621.10` would come back as `621.1` — a different BOSH stemcell.
//!
//! This module reads the same text a second time with serde_yaml's own deserializer, which
//! hands the literal text of a plain scalar to `deserialize_str`. The walk is guided by
//! [`GO_STRINGS`], the keys the Go broker's config model declares as strings, and collects
//! the literal text found at each of them. [`keep_literal_text`] then replaces every number
//! or boolean at those keys in the `Value` with its literal text, before the typed parse.
//! Using the same parser for both reads means the two can never disagree on the document's
//! structure. Values of free-form maps (plan `properties`, `global_properties`, extra
//! metadata keys) keep their YAML types, as they do in the Go broker.

use serde::de::Visitor;
use serde::de::{DeserializeSeed, Deserializer, EnumAccess, IgnoredAny, MapAccess, SeqAccess};
use serde_yaml::Value;
use std::collections::HashMap;
use std::fmt;

/// The shape of the part of the config that holds Go strings.
#[derive(Debug, Clone, Copy)]
enum Shape {
    /// A Go `string`: the scalar keeps its literal text.
    Text,
    /// A mapping; only these keys are looked at.
    Fields(&'static [(&'static str, Shape)]),
    /// A sequence whose items all have this shape (a Go slice).
    Items(&'static Shape),
    /// A mapping whose values all have this shape (a Go `map[string]string`).
    Values(&'static Shape),
}

const TEXT: Shape = Shape::Text;
const TEXT_LIST: Shape = Shape::Items(&TEXT);
const TEXT_MAP: Shape = Shape::Values(&TEXT);

const MAINTENANCE_INFO: Shape = Shape::Fields(&[
    ("public", TEXT_MAP),
    ("private", TEXT_MAP),
    ("version", TEXT),
    ("description", TEXT),
]);

const RELEASE: Shape = Shape::Fields(&[("name", TEXT), ("version", TEXT), ("jobs", TEXT_LIST)]);

const STEMCELL: Shape = Shape::Fields(&[("os", TEXT), ("version", TEXT), ("name", TEXT)]);

const INSTANCE_GROUP: Shape = Shape::Fields(&[
    ("name", TEXT),
    ("vm_type", TEXT),
    ("vm_extensions", TEXT_LIST),
    ("persistent_disk_type", TEXT),
    ("networks", TEXT_LIST),
    ("azs", TEXT_LIST),
    ("lifecycle", TEXT),
    ("migrated_from", Shape::Items(&Shape::Fields(&[("name", TEXT)]))),
]);

const ERRANDS: Shape = Shape::Items(&Shape::Fields(&[("name", TEXT), ("instances", TEXT_LIST)]));

const PLAN: Shape = Shape::Fields(&[
    ("plan_id", TEXT),
    ("name", TEXT),
    ("description", TEXT),
    (
        "metadata",
        Shape::Fields(&[
            ("display_name", TEXT),
            ("bullets", TEXT_LIST),
            ("costs", Shape::Items(&Shape::Fields(&[("unit", TEXT)]))),
        ]),
    ),
    ("instance_groups", Shape::Items(&INSTANCE_GROUP)),
    (
        "update",
        Shape::Fields(&[
            ("canary_watch_time", TEXT),
            ("update_watch_time", TEXT),
            ("vm_strategy", TEXT),
            ("initial_deploy_az_update_strategy", TEXT),
        ]),
    ),
    ("lifecycle_errands", Shape::Fields(&[("post_deploy", ERRANDS), ("pre_delete", ERRANDS)])),
    ("maintenance_info", MAINTENANCE_INFO),
    (
        "binding_with_dns",
        Shape::Items(&Shape::Fields(&[
            ("name", TEXT),
            ("link_provider", TEXT),
            ("instance_group", TEXT),
        ])),
    ),
]);

const SERVICE_CATALOG: Shape = Shape::Fields(&[
    ("id", TEXT),
    ("service_name", TEXT),
    ("service_description", TEXT),
    ("requires", TEXT_LIST),
    ("tags", TEXT_LIST),
    (
        "metadata",
        Shape::Fields(&[
            ("display_name", TEXT),
            ("image_url", TEXT),
            ("long_description", TEXT),
            ("provider_display_name", TEXT),
            ("documentation_url", TEXT),
            ("support_url", TEXT),
        ]),
    ),
    ("dashboard_client", Shape::Fields(&[("id", TEXT), ("secret", TEXT), ("redirect_uri", TEXT)])),
    ("maintenance_info", MAINTENANCE_INFO),
    ("plans", Shape::Items(&PLAN)),
]);

const BOSH: Shape = Shape::Fields(&[
    ("url", TEXT),
    ("root_ca_cert", TEXT),
    (
        "authentication",
        Shape::Fields(&[
            ("basic", Shape::Fields(&[("username", TEXT), ("password", TEXT)])),
            (
                "uaa",
                Shape::Fields(&[
                    ("url", TEXT),
                    (
                        "client_credentials",
                        Shape::Fields(&[("client_id", TEXT), ("client_secret", TEXT)]),
                    ),
                ]),
            ),
        ]),
    ),
]);

/// Every key of the broker's config that the Go broker declares as a string.
const GO_STRINGS: Shape = Shape::Fields(&[
    (
        "broker",
        Shape::Fields(&[
            ("username", TEXT),
            ("password", TEXT),
            ("tls", Shape::Fields(&[("cert_file", TEXT), ("key_file", TEXT)])),
        ]),
    ),
    ("bosh", BOSH),
    ("service_adapter", Shape::Fields(&[("path", TEXT)])),
    (
        "service_deployment",
        Shape::Fields(&[
            ("releases", Shape::Items(&RELEASE)),
            ("stemcells", Shape::Items(&STEMCELL)),
            ("stemcell", STEMCELL),
        ]),
    ),
    ("service_catalog", SERVICE_CATALOG),
]);

/// One step of a key path.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Step {
    Key(String),
    Index(usize),
}

/// Renders a key path as the config's error messages write it: `a.b[0].c`.
fn display(path: &[Step]) -> String {
    let mut out = String::new();
    for step in path {
        match step {
            Step::Key(k) if out.is_empty() => out.push_str(k),
            Step::Key(k) => {
                out.push('.');
                out.push_str(k);
            }
            Step::Index(i) => out.push_str(&format!("[{i}]")),
        }
    }
    out
}

/// Replaces each number or boolean at a key the Go broker reads as a string with the text the
/// file wrote there. `text` is the document `value` was parsed from. Returns warnings for the
/// values whose literal text could not be recovered (they are then rendered from the parsed
/// value); that only happens for a document that also fails the typed parse.
pub(super) fn keep_literal_text(text: &str, value: &mut Value) -> Vec<String> {
    let literals = collect(text).ok();
    let mut warnings = Vec::new();
    let mut path = Vec::new();
    rewrite(value, &GO_STRINGS, &mut path, literals.as_ref(), &mut warnings);
    warnings
}

/// Reads `text` and returns the literal text of every scalar at a [`GO_STRINGS`] key.
fn collect(text: &str) -> Result<HashMap<Vec<Step>, String>, serde_yaml::Error> {
    let mut found = HashMap::new();
    Walk { shape: &GO_STRINGS, path: Vec::new(), found: &mut found }
        .deserialize(serde_yaml::Deserializer::from_str(text))?;
    Ok(found)
}

fn rewrite(
    value: &mut Value, shape: &Shape, path: &mut Vec<Step>,
    literals: Option<&HashMap<Vec<Step>, String>>, warnings: &mut Vec<String>,
) {
    match (shape, value) {
        (Shape::Text, value @ (Value::Number(_) | Value::Bool(_))) => {
            let text = match literals.and_then(|l| l.get(path.as_slice())) {
                Some(literal) => literal.clone(),
                None => {
                    let rendered = match &*value {
                        Value::Number(n) => n.to_string(),
                        Value::Bool(b) => b.to_string(),
                        _ => unreachable!("matched a number or a boolean"),
                    };
                    warnings.push(format!(
                        "config key {} holds the unquoted value {rendered}, read as the text \"{rendered}\": write it in quotes if the file means other text",
                        display(path)
                    ));
                    rendered
                }
            };
            *value = Value::String(text);
        }
        (Shape::Fields(fields), Value::Mapping(map)) => {
            for (name, child) in fields.iter() {
                if let Some(v) = map.get_mut(*name) {
                    path.push(Step::Key((*name).to_string()));
                    rewrite(v, child, path, literals, warnings);
                    path.pop();
                }
            }
        }
        (Shape::Values(child), Value::Mapping(map)) => {
            for (k, v) in map.iter_mut() {
                if let Value::String(k) = k {
                    path.push(Step::Key(k.clone()));
                    rewrite(v, child, path, literals, warnings);
                    path.pop();
                }
            }
        }
        (Shape::Items(child), Value::Sequence(items)) => {
            for (i, v) in items.iter_mut().enumerate() {
                path.push(Step::Index(i));
                rewrite(v, child, path, literals, warnings);
                path.pop();
            }
        }
        // Anything else is left to the typed parse, which reports what is wrong.
        _ => {}
    }
}

/// Visitor methods for scalars that all answer `$value`, whatever the scalar: each
/// `name(type)` (or `name` alone, for the scalars without a value) is one method.
macro_rules! scalars_answer {
    ($value:expr; $($method:ident $(($ty:ty))?),* $(,)?) => {
        $(
            fn $method<E: serde::de::Error>(self $(, _: $ty)?) -> Result<Self::Value, E> {
                Ok($value)
            }
        )*
    };
}

/// Walks the document along a [`Shape`], recording the literal text at each `Text` key.
struct Walk<'a> {
    shape: &'static Shape,
    path: Vec<Step>,
    found: &'a mut HashMap<Vec<Step>, String>,
}

impl<'de> DeserializeSeed<'de> for Walk<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        match self.shape {
            Shape::Text => {
                let text = deserializer.deserialize_str(LiteralText)?;
                self.found.insert(self.path, text);
                Ok(())
            }
            _ => deserializer.deserialize_any(self),
        }
    }
}

impl<'de> Visitor<'de> for Walk<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any YAML value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key_seed(KeyName)? {
            let child = match (self.shape, key.as_deref()) {
                (Shape::Fields(fields), Some(name)) => {
                    fields.iter().find(|(field, _)| *field == name).map(|(_, shape)| shape)
                }
                (Shape::Values(shape), Some(_)) => Some(*shape),
                _ => None,
            };
            match (child, key) {
                (Some(shape), Some(name)) => {
                    let mut path = self.path.clone();
                    path.push(Step::Key(name));
                    map.next_value_seed(Walk { shape, path, found: &mut *self.found })?;
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let Shape::Items(shape) = self.shape else {
            return IgnoredAny.visit_seq(seq).map(drop);
        };
        let mut index = 0;
        loop {
            let mut path = self.path.clone();
            path.push(Step::Index(index));
            let walk = Walk { shape, path, found: &mut *self.found };
            if seq.next_element_seed(walk)?.is_none() {
                return Ok(());
            }
            index += 1;
        }
    }

    fn visit_enum<A: EnumAccess<'de>>(self, data: A) -> Result<(), A::Error> {
        IgnoredAny.visit_enum(data).map(drop)
    }

    // Scalars where a mapping or sequence was expected: the typed parse reports them.
    scalars_answer!(();
        visit_bool(bool), visit_i64(i64), visit_i128(i128), visit_u64(u64), visit_u128(u128),
        visit_f64(f64), visit_str(&str), visit_unit, visit_none
    );
    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

/// The literal text of a scalar, as serde_yaml's `deserialize_str` hands it over.
struct LiteralText;

impl Visitor<'_> for LiteralText {
    type Value = String;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a scalar")
    }

    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<String, E> {
        Ok(v.to_string())
    }
}

/// A mapping key: its text when it is a string, `None` for any other key.
struct KeyName;

impl<'de> DeserializeSeed<'de> for KeyName {
    type Value = Option<String>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for KeyName {
    type Value = Option<String>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a mapping key")
    }

    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Some(v.to_string()))
    }
    // Any other scalar key has no name.
    scalars_answer!(None;
        visit_bool(bool), visit_i64(i64), visit_i128(i128), visit_u64(u64), visit_u128(u128),
        visit_f64(f64), visit_unit
    );
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        IgnoredAny.visit_map(map).map(|_| None)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        IgnoredAny.visit_seq(seq).map(|_| None)
    }
    fn visit_enum<A: EnumAccess<'de>>(self, data: A) -> Result<Self::Value, A::Error> {
        IgnoredAny.visit_enum(data).map(|_| None)
    }
}
